/**
 * The catalog over kysely: one query code path for SQLite (better-sqlite3) and PostgreSQL (pg).
 * What differs between the two, how a write transaction takes its locks, is a WriteDialect.
 *
 * Every write is one transaction that:
 *   1. takes the lock of the gem (its lower-cased name), so two writers never interleave on a gem;
 *   2. checks and changes the gem's rows, then computes the gem's /info MD5 from what it now sees
 *      (nobody else can change that gem before commit);
 *   3. takes the log lock, appends the /versions log row, bumps the generation, and commits while
 *      still holding it, so log rows become visible in sequence order: a reader that has seen row
 *      N has seen every row below N.
 */
import type { Selectable } from 'kysely';
import { sql } from 'kysely';
import { asStorageFull, QuarryError } from '../errors.ts';
import type { GemSpec } from '../gem/spec.ts';
import type { InfoOptions } from '../index/compact.ts';
import { isoSeconds, md5Hex } from '../index/compact.ts';
import { versionToken } from '../index/entry.ts';
import type { BaseLine, InfoLineRow } from './derive.ts';
import { baseBody, infoFromLines, infoMd5For, storedInfoLine } from './derive.ts';
import { KyselyReadModel } from './read-model.ts';
import type { Db } from './rows.ts';
import { findVersion, toRecord, versionsQuery } from './rows.ts';
import type { Database } from './schema.ts';
import type {
  ApiKeyRecord,
  BlobRef,
  CachedGem,
  Catalog,
  CatalogReadModel,
  CatalogState,
  GemCounts,
  InfoLines,
  LiveTuple,
  LiveTuplesText,
  LiveVersionsPage,
  NewApiKey,
  NewVersion,
  Paged,
  PushOutcome,
  Scope,
  SearchPage,
  VersionRecord,
  VersionsBase,
  VersionsLogRow,
  YankOutcome,
} from './types.ts';

/** How one database takes the write locks. */
export interface WriteDialect {
  readonly name: 'sqlite' | 'postgres';
  /**
   * Runs fn in a write transaction holding the lock of `key` (a lower-cased gem name), or the
   * global write lock when key is null. Commits when fn resolves, rolls back when it throws.
   */
  write<T>(db: Db, key: string | null, fn: (trx: Db) => Promise<T>): Promise<T>;
  /**
   * Runs fn in a write transaction holding the locks of every key, taken in one order that every
   * caller uses (so two batches never wait on each other in a cycle), before any other lock.
   * Optional: SQLite's write() already excludes every other writer.
   */
  writeMany?<T>(db: Db, keys: readonly string[], fn: (trx: Db) => Promise<T>): Promise<T>;
  /** Takes the lock that orders the /versions log; held until commit. */
  lockLog(trx: Db): Promise<void>;
  /** A unique or primary key violation. */
  isUniqueViolation(e: unknown): boolean;
  /** An ORDER BY expression that sorts a text column by bytes. */
  byteOrder(column: string): ReturnType<typeof sql.raw>;
}

export const fullNameOf = (name: string, number: string, platform: string): string =>
  platform === 'ruby' ? `${name}-${number}` : `${name}-${number}-${platform}`;

const token = (number: string, platform: string): string => versionToken({ version: number, platform });

async function liveVersions(db: Db, name: string): Promise<VersionRecord[]> {
  const rows = await versionsQuery(db)
    .where('gems.name', '=', name)
    .where('versions.yanked_at', 'is', null)
    .orderBy('versions.id')
    .execute();
  return rows.map(toRecord);
}

/**
 * A gem's live versions as stored /info lines, in publication order: a short string each instead of
 * every spec parsed (a gem with thousands of versions). A version without a stored line (one a
 * migration has not reached) gets it from its spec.
 */
async function liveInfoLines(db: Db, name: string): Promise<InfoLineRow[]> {
  const rows = await infoLineRows(db, name).where('versions.yanked_at', 'is', null).execute();
  return rows.map(lineOf);
}

/** A gem's versions with their stored /info lines (or, lacking one, the spec), publication order. */
function infoLineRows(db: Db, name: string) {
  return db
    .selectFrom('versions')
    .innerJoin('gems', 'gems.id', 'versions.gem_id')
    .select([
      'versions.info_line as line',
      'versions.created_at as createdAt',
      'versions.yanked_at as yankedAt',
      'versions.sha256 as sha256',
    ])
    .select(sql<string | null>`case when versions.info_line is null then versions.spec end`.as('spec'))
    .where('gems.name', '=', name)
    .orderBy('versions.id');
}

const lineOf = (r: { line: string | null; spec: string | null; sha256: string; createdAt: string }) => ({
  line: r.line ?? storedInfoLine(JSON.parse(r.spec!) as GemSpec, r.sha256),
  createdAt: r.createdAt,
});

async function setMeta(db: Db, key: string, value: string): Promise<void> {
  await db
    .insertInto('meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}

const cachedRecord = (r: Selectable<Database['cached_gems']>): CachedGem => ({
  upstream: r.upstream,
  file: r.file,
  name: r.name,
  sha256: r.sha256,
  size: Number(r.size),
  fetchedAt: r.fetched_at,
});

/** A page cursor `GEM_ID:VERSION_ID` (liveTuplesText, liveVersionsPage). */
function pageCursor(after: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(after);
  if (!m) throw new Error(`not a page cursor: ${after}`);
  return [Number(m[1]), Number(m[2])];
}

const keyRecord = (r: Selectable<Database['api_keys']>): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  scopes: r.scopes.split(',').filter(Boolean) as Scope[],
  gemPattern: r.gem_pattern,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

export interface KyselyCatalogOptions {
  /** How /info bodies are written: their MD5 goes into the /versions log. */
  info: InfoOptions;
  now: () => Date;
}

export class KyselyCatalog implements Catalog, CatalogReadModel {
  /** gems.info_md5 of a gem with no live version (the MD5 of an empty /info). */
  private readonly noLiveMd5: string;
  /** The web UI's queries (CatalogReadModel), in a module of their own. */
  private readonly reads: KyselyReadModel;

  constructor(
    readonly db: Db,
    readonly dialect: WriteDialect,
    private readonly options: KyselyCatalogOptions,
  ) {
    this.noLiveMd5 = infoMd5For([], options.info);
    this.reads = new KyselyReadModel(db, dialect, this.noLiveMd5);
  }

  /** A write transaction on one gem (or every gem, for null); unique violations become 409. */
  private write<T>(key: string | null, fn: (trx: Db) => Promise<T>): Promise<T> {
    return this.mapConflict(() => this.dialect.write(this.db, key, fn));
  }

  /** Runs a write; a unique violation becomes a QuarryError 'conflict', not a driver error. */
  private async mapConflict<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (this.dialect.isUniqueViolation(e)) {
        throw new QuarryError('conflict', 'a concurrent write created the same entry; retry', {
          cause: e,
        });
      }
      throw asStorageFull(e, 'the catalog');
    }
  }

  /** The MD5 of a gem's /info body as the catalog holds it now. */
  private async infoMd5(trx: Db, name: string): Promise<string> {
    return md5Hex(infoFromLines(await liveInfoLines(trx, name), this.options.info));
  }

  /** The tail of every write: store the gem's new /info MD5, log the change, bump the generation. */
  private async logChange(trx: Db, gemId: number, name: string, tokens: string): Promise<void> {
    const md5 = await this.infoMd5(trx, name);
    await trx.updateTable('gems').set({ info_md5: md5 }).where('id', '=', gemId).execute();
    await this.dialect.lockLog(trx);
    await trx.insertInto('versions_log').values({ gem_name: name, tokens, info_md5: md5 }).execute();
    await this.bump(trx);
  }

  private async bump(trx: Db): Promise<void> {
    await trx
      .insertInto('meta')
      .values({ key: 'generation', value: '1' })
      .onConflict((oc) =>
        oc
          .column('key')
          // A literal 1: better-sqlite3 binds a JS number as REAL, and "4.0" is no integer to PostgreSQL.
          .doUpdateSet({
            value: (eb) => eb.cast(eb(eb.cast('meta.value', 'integer'), '+', sql.lit(1)), 'text'),
          }),
      )
      .execute();
    await setMeta(trx, 'modified_at', isoSeconds(this.options.now()));
  }

  /**
   * The checks of a push, without the write: null when it would be created. Two reads at most: the
   * gem by its lower-cased name (none: the version is new), then the versions of that gem that are
   * this version, equal to it but for trailing zeros on its platform, or served under its file name,
   * answered in that order.
   */
  private async pushChecks(
    db: Db,
    v: NewVersion,
  ): Promise<Exclude<PushOutcome, { kind: 'created' }> | { kind: 'new'; gemId: number | null }> {
    const gem = await db
      .selectFrom('gems')
      .select(['id', 'name'])
      .where('name_lower', '=', v.name.toLowerCase())
      .executeTakeFirst();
    if (!gem) return { kind: 'new', gemId: null };
    if (gem.name !== v.name) {
      const live = (await liveVersions(db, gem.name)).length > 0;
      return { kind: 'case_conflict', owner: gem.name, live };
    }
    // (number, platform) equal is also (canonical, platform) equal: the first branch finds it.
    const rows = await versionsQuery(db)
      .where('versions.gem_id', '=', gem.id)
      .where((eb) =>
        eb.or([
          eb.and([eb('versions.canonical', '=', v.canonical), eb('versions.platform', '=', v.platform)]),
          eb.and([eb('versions.number', '=', v.number), eb('versions.gem_platform', '=', v.gemPlatform)]),
        ]),
      )
      .orderBy('versions.id')
      .execute();
    const same = rows.find((r) => r.number === v.number && r.platform === v.platform);
    if (same) return { kind: 'exists', record: toRecord(same) };
    const dupe = rows.find((r) => r.canonical === v.canonical && r.platform === v.platform);
    if (dupe) return { kind: 'canonical_conflict', record: toRecord(dupe) };
    const sameFile = rows.find((r) => r.number === v.number && r.gem_platform === v.gemPlatform);
    if (sameFile) return { kind: 'file_conflict', record: toRecord(sameFile) };
    return { kind: 'new', gemId: gem.id };
  }

  async previewPush(v: NewVersion): Promise<PushOutcome | null> {
    const r = await this.pushChecks(this.db, v);
    return r.kind === 'new' ? null : r;
  }

  /**
   * Checks a push and, when it is new, inserts its rows (gem, version, summary, dependencies);
   * the caller holds the gem's lock and logs the change. `gemId`: the gem written, for `created`.
   */
  private async insertVersion(trx: Db, v: NewVersion): Promise<{ outcome: PushOutcome; gemId: number }> {
    const check = await this.pushChecks(trx, v);
    if (check.kind !== 'new') return { outcome: check, gemId: 0 };
    const gem =
      check.gemId !== null
        ? { id: check.gemId, name: v.name }
        : await trx
            .insertInto('gems')
            .values({
              name: v.name,
              name_lower: v.name.toLowerCase(),
              created_at: v.createdAt,
              info_md5: null,
            })
            .returning(['id', 'name'])
            .executeTakeFirstOrThrow();
    const row = await trx
      .insertInto('versions')
      .values({
        gem_id: gem.id,
        number: v.number,
        platform: v.platform,
        gem_platform: v.gemPlatform,
        canonical: v.canonical,
        full_name: fullNameOf(v.name, v.number, v.gemPlatform),
        original_full_name: fullNameOf(v.name, v.number, v.platform),
        prerelease: v.prerelease ? 1 : 0,
        sha256: v.sha256,
        size: v.size,
        spec: JSON.stringify(v.spec),
        info_line: storedInfoLine(v.spec, v.sha256),
        created_at: v.createdAt,
        yanked_at: null,
        pushed_by: v.pushedBy,
        origin: v.origin ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    // The read model (migration 6): the newest push's summary, and one row per dependency.
    await trx
      .updateTable('gems')
      .set({ summary: v.spec.summary ?? '' })
      .where('id', '=', gem.id)
      .execute();
    if (v.spec.dependencies.length > 0)
      await trx
        .insertInto('dependencies')
        .values(
          v.spec.dependencies.map((dep) => ({
            version_id: row.id,
            gem_id: gem.id,
            name: dep.name,
            type: dep.type,
          })),
        )
        .execute();
    return { outcome: { kind: 'created', record: toRecord({ ...row, name: gem.name }) }, gemId: gem.id };
  }

  recordPush(v: NewVersion): Promise<PushOutcome> {
    return this.write(v.name.toLowerCase(), async (trx) => {
      const { outcome, gemId } = await this.insertVersion(trx, v);
      if (outcome.kind === 'created')
        await this.logChange(trx, gemId, outcome.record.name, token(v.number, v.platform));
      return outcome;
    });
  }

  /**
   * recordPush for many versions in one transaction (quarry mirror). Every gem's lock is taken
   * first, in the one order every batch uses (SQLite: its write lock is all of them); each version
   * is checked and inserted as recordPush does, seeing the ones before it; then, still under the
   * gem locks, each changed gem's /info MD5; the log lock last, one log row per changed gem (its
   * new tokens, comma-separated, as /versions lines allow, with the MD5 after all of them), one
   * generation bump, and the commit.
   */
  recordPushes(vs: readonly NewVersion[]): Promise<PushOutcome[]> {
    if (vs.length === 0) return Promise.resolve([]);
    const keys = [...new Set(vs.map((v) => v.name.toLowerCase()))];
    const body = async (trx: Db): Promise<PushOutcome[]> => {
      const out: PushOutcome[] = [];
      const changed = new Map<number, { name: string; tokens: string[] }>();
      for (const v of vs) {
        const { outcome, gemId } = await this.insertVersion(trx, v);
        out.push(outcome);
        if (outcome.kind !== 'created') continue;
        const t = token(v.number, v.platform);
        const c = changed.get(gemId);
        if (c) c.tokens.push(t);
        else changed.set(gemId, { name: outcome.record.name, tokens: [t] });
      }
      if (changed.size === 0) return out;
      const rows: { gem_name: string; tokens: string; info_md5: string }[] = [];
      for (const [gemId, c] of changed) {
        const md5 = await this.infoMd5(trx, c.name);
        await trx.updateTable('gems').set({ info_md5: md5 }).where('id', '=', gemId).execute();
        rows.push({ gem_name: c.name, tokens: c.tokens.join(','), info_md5: md5 });
      }
      await this.dialect.lockLog(trx);
      for (let i = 0; i < rows.length; i += 500)
        await trx
          .insertInto('versions_log')
          .values(rows.slice(i, i + 500))
          .execute();
      await this.bump(trx);
      return out;
    };
    return this.mapConflict(() => {
      if (this.dialect.writeMany) return this.dialect.writeMany(this.db, keys, body);
      // SQLite's one write lock (BEGIN IMMEDIATE) stands for every gem's lock and the log's.
      if (this.dialect.name === 'sqlite') return this.dialect.write(this.db, null, body);
      throw new Error(`the ${this.dialect.name} catalog cannot lock several gems at once`);
    });
  }

  private setYank(
    name: string,
    number: string,
    platform: string,
    yankedAt: string | null,
  ): Promise<YankOutcome> {
    return this.write(name.toLowerCase(), async (trx) => {
      const v = await findVersion(trx, name, number, platform);
      if (!v) {
        const gem = await trx.selectFrom('gems').select('id').where('name', '=', name).executeTakeFirst();
        return { kind: gem ? 'no_version' : 'no_gem' };
      }
      if ((v.yankedAt === null) === (yankedAt === null)) return { kind: 'unchanged', record: v };
      await trx.updateTable('versions').set({ yanked_at: yankedAt }).where('id', '=', v.id).execute();
      const gem = await trx
        .selectFrom('gems')
        .select('id')
        .where('name', '=', name)
        .executeTakeFirstOrThrow();
      const t = token(number, platform);
      await this.logChange(trx, gem.id, name, yankedAt === null ? t : `-${t}`);
      return { kind: 'done', record: { ...v, yankedAt } };
    });
  }

  recordYank(name: string, number: string, platform: string, at: string): Promise<YankOutcome> {
    return this.setYank(name, number, platform, at);
  }

  recordUnyank(name: string, number: string, platform: string): Promise<YankOutcome> {
    return this.setYank(name, number, platform, null);
  }

  rebuildVersionsList(createdAt: Date): Promise<void> {
    return this.write(null, (trx) => this.writeBase(trx, createdAt));
  }

  ensureVersionsBase(createdAt: Date): Promise<void> {
    return this.write(null, async (trx) => {
      const has = await trx
        .selectFrom('meta')
        .select('key')
        .where('key', '=', 'versions_base')
        .executeTakeFirst();
      if (!has) await this.writeBase(trx, createdAt);
    });
  }

  /** Writes a base from every live version; the caller holds the global write lock. */
  private async writeBase(trx: Db, createdAt: Date): Promise<void> {
    await this.backfillInfoMd5(trx);
    const rows = await trx
      .selectFrom('versions')
      .innerJoin('gems', 'gems.id', 'versions.gem_id')
      .select(['gems.name as name', 'gems.info_md5 as md5', 'versions.number', 'versions.platform'])
      .where('versions.yanked_at', 'is', null)
      .orderBy('versions.gem_id')
      .orderBy('versions.id')
      .execute();
    const lines: BaseLine[] = [];
    let cur: BaseLine | undefined;
    for (const r of rows) {
      if (cur?.name !== r.name) {
        cur = { name: r.name, tokens: [], infoMd5: r.md5 ?? '' };
        lines.push(cur);
      }
      cur.tokens.push(token(r.number, r.platform));
    }
    const seq = await trx
      .selectFrom('versions_log')
      .select((eb) => eb.fn.max('seq').as('m'))
      .executeTakeFirst();
    await setMeta(trx, 'versions_created_at', isoSeconds(createdAt));
    await setMeta(trx, 'versions_base', baseBody(createdAt, lines));
    await setMeta(trx, 'versions_base_seq', String(Number(seq?.m ?? 0)));
    await this.bump(trx);
  }

  /** Catalogs from before the info_md5 column: compute it once for each gem that lacks it. */
  private async backfillInfoMd5(trx: Db): Promise<void> {
    const missing = await trx
      .selectFrom('gems')
      .select(['id', 'name'])
      .where('info_md5', 'is', null)
      .execute();
    for (const g of missing) {
      const md5 = await this.infoMd5(trx, g.name);
      await trx.updateTable('gems').set({ info_md5: md5 }).where('id', '=', g.id).execute();
    }
  }

  async state(): Promise<CatalogState> {
    const rows = await this.db
      .selectFrom('meta')
      .select(['key', 'value'])
      .where('key', 'in', ['generation', 'modified_at'])
      .execute();
    const m = new Map(rows.map((r) => [r.key, r.value]));
    return {
      generation: Number(m.get('generation') ?? 0),
      modifiedAt: m.get('modified_at') ?? '1970-01-01T00:00:00Z',
    };
  }

  liveVersions(name: string): Promise<VersionRecord[]> {
    return liveVersions(this.db, name);
  }

  async allLiveVersions(): Promise<VersionRecord[]> {
    const rows = await versionsQuery(this.db)
      .where('versions.yanked_at', 'is', null)
      .orderBy(this.dialect.byteOrder('gems.name'))
      .orderBy('versions.id')
      .execute();
    return rows.map(toRecord);
  }

  async liveTuples(): Promise<LiveTuple[]> {
    const rows = await this.db
      .selectFrom('versions')
      .innerJoin('gems', 'gems.id', 'versions.gem_id')
      .select(['gems.name as name', 'versions.number as number', 'versions.platform as platform'])
      .where('versions.yanked_at', 'is', null)
      .orderBy(this.dialect.byteOrder('gems.name'))
      .orderBy('versions.id')
      .execute();
    return rows;
  }

  async liveVersionsPage(after: string | null, limit: number): Promise<LiveVersionsPage> {
    let q = versionsQuery(this.db).where('versions.yanked_at', 'is', null);
    if (after !== null) {
      const [g, v] = pageCursor(after);
      q = q
        .where((eb) => eb(eb.refTuple('versions.gem_id', 'versions.id'), '>', eb.tuple(g, v)))
        // Implied, but without it PostgreSQL's merge join reads gems from the first id every page.
        .where('gems.id', '>=', g);
    }
    const rows = await q.orderBy('versions.gem_id').orderBy('versions.id').limit(limit).execute();
    const last = rows.at(-1);
    return {
      versions: rows.map(toRecord),
      next: last && rows.length >= limit ? `${last.gem_id}:${last.id}` : null,
    };
  }

  async liveTuplesText(after: string | null, limit: number): Promise<LiveTuplesText> {
    const [g, v] = after === null ? [0, 0] : pageCursor(after);
    // The database joins the page into one string: one row to hand over instead of `limit` row
    // objects (a legacy rebuild reads 1.3 million tuples on the server's event loop). The last
    // (gem_id, id) comes back as one number, gem_id * 2^32 + id. `(gem_id, id) > (g, v)` is a
    // range over the versions_live index (migration 3); the gems bound is implied, but without it
    // PostgreSQL's merge join reads gems from the first id on every page.
    const { rows } = await sql<{ text: string | null; n: number | string; last: number | string | null }>`
      select string_agg(t.line, ${'\n'} order by t.gem_id, t.id) as text, count(*) as n,
             max(t.gem_id * ${sql.lit(2 ** 32)} + t.id) as last
      from (select gems.name || ${'\t'} || versions.number || ${'\t'} || versions.platform as line,
                   versions.gem_id as gem_id, versions.id as id
            from versions inner join gems on gems.id = versions.gem_id
            where versions.yanked_at is null and (versions.gem_id, versions.id) > (${g}, ${v})
              and gems.id >= ${g}
            order by versions.gem_id, versions.id
            limit ${limit}) t`.execute(this.db);
    const r = rows[0];
    const n = Number(r?.n ?? 0);
    if (!r || n === 0 || r.text === null) return { text: '', count: 0, next: null };
    const last = Number(r.last);
    const next = n >= limit ? `${Math.floor(last / 2 ** 32)}:${last % 2 ** 32}` : null;
    return { text: `${r.text}\n`, count: n, next };
  }

  findVersion(name: string, number: string, platform: string): Promise<VersionRecord | null> {
    return findVersion(this.db, name, number, platform);
  }

  async findByFullName(fullName: string): Promise<VersionRecord | null> {
    const r =
      (await versionsQuery(this.db)
        .where('versions.full_name', '=', fullName)
        .orderBy('versions.id', 'desc')
        .executeTakeFirst()) ??
      (await versionsQuery(this.db)
        .where('versions.original_full_name', '=', fullName)
        .orderBy('versions.id', 'desc')
        .executeTakeFirst());
    return r ? toRecord(r) : null;
  }

  async infoLines(name: string): Promise<InfoLines | null> {
    const rows = await infoLineRows(this.db, name).execute();
    if (rows.length === 0) return null;
    let changedAt = 0;
    for (const r of rows)
      changedAt = Math.max(changedAt, Date.parse(r.createdAt), r.yankedAt ? Date.parse(r.yankedAt) : 0);
    return { live: rows.filter((r) => r.yankedAt === null).map(lineOf), changedAt };
  }

  async allVersions(name: string): Promise<VersionRecord[]> {
    const rows = await versionsQuery(this.db)
      .where('gems.name', '=', name)
      .orderBy('versions.id', 'desc')
      .execute();
    return rows.map(toRecord);
  }

  async versionsBase(): Promise<VersionsBase | null> {
    const rows = await this.db
      .selectFrom('meta')
      .select(['key', 'value'])
      .where('key', 'in', ['versions_created_at', 'versions_base', 'versions_base_seq'])
      .execute();
    const m = new Map(rows.map((r) => [r.key, r.value]));
    const createdAt = m.get('versions_created_at');
    const body = m.get('versions_base');
    const seq = m.get('versions_base_seq');
    if (createdAt === undefined || body === undefined || seq === undefined) return null;
    return { createdAt, body, baseSeq: Number(seq) };
  }

  async versionsBaseStamp(): Promise<Omit<VersionsBase, 'body'> | null> {
    const rows = await this.db
      .selectFrom('meta')
      .select(['key', 'value'])
      .where('key', 'in', ['versions_created_at', 'versions_base_seq'])
      .execute();
    const m = new Map(rows.map((r) => [r.key, r.value]));
    const createdAt = m.get('versions_created_at');
    const seq = m.get('versions_base_seq');
    if (createdAt === undefined || seq === undefined) return null;
    return { createdAt, baseSeq: Number(seq) };
  }

  async versionsLogSince(seq: number): Promise<VersionsLogRow[]> {
    const rows = await this.db
      .selectFrom('versions_log')
      .selectAll()
      .where('seq', '>', seq)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      name: r.gem_name,
      tokens: r.tokens,
      infoMd5: r.info_md5,
    }));
  }

  async liveNames(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('gems')
      .select('name')
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('versions')
            .select('versions.id')
            .whereRef('versions.gem_id', '=', 'gems.id')
            .where('versions.yanked_at', 'is', null),
        ),
      )
      .execute();
    return rows.map((r) => r.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async gemNames(): Promise<string[]> {
    return (await this.db.selectFrom('gems').select('name').execute()).map((r) => r.name);
  }

  async blobRefs(): Promise<BlobRef[]> {
    const rows = await this.db
      .selectFrom('versions')
      .innerJoin('gems', 'gems.id', 'versions.gem_id')
      .select(['versions.sha256', 'versions.size', 'gems.name', 'versions.number', 'versions.platform'])
      .orderBy('versions.id')
      .execute();
    const seen = new Map<string, BlobRef>();
    for (const r of rows) {
      if (!seen.has(r.sha256))
        seen.set(r.sha256, {
          sha256: r.sha256,
          size: Number(r.size),
          fullName: fullNameOf(r.name, r.number, r.platform),
        });
    }
    return [...seen.values()];
  }

  async createKey(k: NewApiKey): Promise<ApiKeyRecord> {
    const r = await this.mapConflict(() =>
      this.db
        .insertInto('api_keys')
        .values({
          name: k.name,
          prefix: k.prefix,
          hash: k.hash,
          scopes: k.scopes.join(','),
          gem_pattern: k.gemPattern,
          expires_at: k.expiresAt,
          created_at: k.createdAt,
          revoked_at: null,
          last_used_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return keyRecord(r);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.selectFrom('api_keys').selectAll().orderBy('id').execute()).map(keyRecord);
  }

  async findKeyByHash(hash: string): Promise<(ApiKeyRecord & { hash: string }) | null> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return r ? { ...keyRecord(r), hash: r.hash } : null;
  }

  async revokeKey(id: number, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async touchKey(id: number, at: string): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async recordCachedGem(g: CachedGem): Promise<void> {
    await this.db
      .insertInto('cached_gems')
      .values({
        upstream: g.upstream,
        file: g.file,
        name: g.name,
        sha256: g.sha256,
        size: g.size,
        fetched_at: g.fetchedAt,
      })
      .onConflict((oc) => oc.columns(['upstream', 'file']).doNothing())
      .execute();
  }

  async cachedGem(upstream: string, file: string): Promise<CachedGem | null> {
    const r = await this.db
      .selectFrom('cached_gems')
      .selectAll()
      .where('upstream', '=', upstream)
      .where('file', '=', file)
      .executeTakeFirst();
    return r ? cachedRecord(r) : null;
  }

  async listCachedGems(): Promise<CachedGem[]> {
    const rows = await this.db.selectFrom('cached_gems').selectAll().orderBy('fetched_at').execute();
    return rows.map(cachedRecord);
  }

  async deleteCachedGem(upstream: string, file: string): Promise<void> {
    await this.db
      .deleteFrom('cached_gems')
      .where('upstream', '=', upstream)
      .where('file', '=', file)
      .execute();
  }

  // ---- read model (CatalogReadModel): src/catalog/read-model.ts -------------------------------

  searchGems(query: string, offset: number, limit: number, countLimit?: number): Promise<SearchPage> {
    return this.reads.searchGems(query, offset, limit, countLimit);
  }

  recentVersions(limit: number): Promise<VersionRecord[]> {
    return this.reads.recentVersions(limit);
  }

  newestGems(limit: number): Promise<VersionRecord[]> {
    return this.reads.newestGems(limit);
  }

  reverseDependencies(
    name: string,
    offset: number,
    limit: number,
  ): Promise<Paged<{ name: string; type: string }>> {
    return this.reads.reverseDependencies(name, offset, limit);
  }

  gemCounts(): Promise<GemCounts> {
    return this.reads.gemCounts();
  }

  addDownloads(counts: ReadonlyMap<number, number>): Promise<void> {
    return this.reads.addDownloads(counts);
  }

  downloads(name: string): Promise<Map<number, number>> {
    return this.reads.downloads(name);
  }

  downloadsOf(names: readonly string[]): Promise<Map<string, Map<number, number>>> {
    return this.reads.downloadsOf(names);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
