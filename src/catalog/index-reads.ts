/**
 * The catalog's reads of the index (what the compact index, the legacy indexes and the checks
 * need), over kysely for both drivers. KyselyCatalog adds the writes on top of these.
 */
import { sql } from 'kysely';
import type { GemSpec } from '../gem/spec.ts';
import { byteCompare } from '../index/order.ts';
import type { InfoLineRow } from './derive.ts';
import { storedInfoLine } from './derive.ts';
import type { Db } from './rows.ts';
import { findVersion, hasLiveVersion, toRecord, versionsQuery } from './rows.ts';
import type {
  BlobRef,
  CatalogState,
  InfoLines,
  LiveTuple,
  LiveTuplesText,
  LiveVersionsPage,
  VersionRecord,
  VersionsBase,
  VersionsLogRow,
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

export async function liveVersions(db: Db, name: string): Promise<VersionRecord[]> {
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
export async function liveInfoLines(db: Db, name: string): Promise<InfoLineRow[]> {
  const rows = await infoLineRows(db, name).where('versions.yanked_at', 'is', null).execute();
  return rows.map(lineOf);
}

/** A gem's versions with their stored /info lines (or, lacking one, the spec), publication order. */
export function infoLineRows(db: Db, name: string) {
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

export const lineOf = (r: {
  line: string | null;
  spec: string | null;
  sha256: string;
  createdAt: string;
}) => ({
  line: r.line ?? storedInfoLine(JSON.parse(r.spec!) as GemSpec, r.sha256),
  createdAt: r.createdAt,
});

/** A page cursor `GEM_ID:VERSION_ID` (liveTuplesText, liveVersionsPage). */
function pageCursor(after: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(after);
  if (!m) throw new Error(`not a page cursor: ${after}`);
  return [Number(m[1]), Number(m[2])];
}

/** The index reads of the catalog, on one database. */
export class KyselyIndexReads {
  constructor(
    readonly db: Db,
    readonly dialect: WriteDialect,
  ) {}

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

  async versionsLogSeq(): Promise<number> {
    const r = await this.db
      .selectFrom('versions_log')
      .select((eb) => eb.fn.max('seq').as('m'))
      .executeTakeFirst();
    return Number(r?.m ?? 0);
  }

  async versionsLogNamesSince(seq: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('versions_log')
      .select('gem_name')
      .distinct()
      .where('seq', '>', seq)
      .execute();
    return rows.map((r) => r.gem_name).sort(byteCompare);
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
    const rows = await this.db.selectFrom('gems').select('name').where(hasLiveVersion).execute();
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
}
