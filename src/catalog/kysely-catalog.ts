import { sql } from 'kysely';

export type { WriteDialect } from './index-reads.ts';

import { asStorageFull, QuarryError } from '../errors.ts';
import type { InfoOptions } from '../index/compact.ts';
import { isoSeconds, md5Hex } from '../index/compact.ts';
import { versionToken } from '../index/entry.ts';
import { infoFromLines, infoMd5For, storedInfoLine } from './derive.ts';
import type { WriteDialect } from './index-reads.ts';
import { fullNameOf, KyselyIndexReads, lineOf, liveVersions } from './index-reads.ts';
import { pushQueries } from './push-queries.ts';
import { KyselyReadModel } from './read-model.ts';
import type { Db } from './rows.ts';
import { findVersion, toRecord } from './rows.ts';
import * as side from './side-tables.ts';
import type {
  ApiKeyRecord,
  CachedGem,
  Catalog,
  CatalogReadModel,
  GemCounts,
  MirrorMark,
  NewApiKey,
  NewVersion,
  Paged,
  PushOutcome,
  SearchPage,
  VersionRecord,
  YankOutcome,
} from './types.ts';
import { setMeta, writeVersionsBase } from './versions-base.ts';

const token = (number: string, platform: string): string => versionToken({ version: number, platform });

export interface KyselyCatalogOptions {
  /** How /info bodies are written: their MD5 goes into the /versions log. */
  info: InfoOptions;
  now: () => Date;
}

export class KyselyCatalog extends KyselyIndexReads implements Catalog, CatalogReadModel {
  /** gems.info_md5 of a gem with no live version (the MD5 of an empty /info). */
  private readonly noLiveMd5: string;
  /** The queries every push runs, compiled once (push-queries.ts). */
  private readonly q = pushQueries();
  /** The web UI's queries (CatalogReadModel), in a module of their own. */
  private readonly reads: KyselyReadModel;

  constructor(
    db: Db,
    dialect: WriteDialect,
    private readonly options: KyselyCatalogOptions,
  ) {
    super(db, dialect);
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
    const lines = (await this.q.liveLines.execute(trx, name)).map(lineOf);
    return md5Hex(infoFromLines(lines, this.options.info));
  }

  /** The tail of every write: store the gem's new /info MD5, log the change, bump the generation. */
  private async logChange(
    trx: Db,
    gemId: number,
    name: string,
    tokens: string,
    /** A push's summary, for the read model (the newest push's), set in the same update. */
    summary?: string,
  ): Promise<void> {
    const md5 = await this.infoMd5(trx, name);
    await trx
      .updateTable('gems')
      .set(summary === undefined ? { info_md5: md5 } : { info_md5: md5, summary })
      .where('id', '=', gemId)
      .execute();
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
    const gem = await this.q.gemByLower.first(db, v.name.toLowerCase());
    if (!gem) return { kind: 'new', gemId: null };
    if (gem.name !== v.name) {
      const live = (await liveVersions(db, gem.name)).length > 0;
      return { kind: 'case_conflict', owner: gem.name, live };
    }
    const rows = await this.q.candidates.execute(
      db,
      gem.id,
      v.canonical,
      v.platform,
      v.number,
      v.gemPlatform,
    );
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
    const row = (await this.q.insertVersion.first(
      trx,
      gem.id,
      v.number,
      v.platform,
      v.gemPlatform,
      v.canonical,
      fullNameOf(v.name, v.number, v.gemPlatform),
      fullNameOf(v.name, v.number, v.platform),
      v.prerelease ? 1 : 0,
      v.sha256,
      v.size,
      JSON.stringify(v.spec),
      storedInfoLine(v.spec, v.sha256),
      v.createdAt,
      v.pushedBy,
      v.origin ?? null,
    ))!;
    // The read model (migration 6): one row per dependency. The newest push's summary is set by the
    // caller, with the gem's /info MD5.
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
        await this.logChange(
          trx,
          gemId,
          outcome.record.name,
          token(v.number, v.platform),
          v.spec.summary ?? '',
        );
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
      const changed = new Map<number, { name: string; tokens: string[]; summary: string }>();
      for (const v of vs) {
        const { outcome, gemId } = await this.insertVersion(trx, v);
        out.push(outcome);
        if (outcome.kind !== 'created') continue;
        const t = token(v.number, v.platform);
        const summary = v.spec.summary ?? '';
        const c = changed.get(gemId);
        if (c) {
          c.tokens.push(t);
          c.summary = summary;
        } else changed.set(gemId, { name: outcome.record.name, tokens: [t], summary });
      }
      if (changed.size === 0) return out;
      const rows: { gem_name: string; tokens: string; info_md5: string }[] = [];
      for (const [gemId, c] of changed) {
        const md5 = await this.infoMd5(trx, c.name);
        // The newest push's summary (the batch's last for this gem), for the read model.
        await this.q.gemInfo.execute(trx, md5, c.summary, gemId);
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
    await writeVersionsBase(trx, createdAt, (name) => this.infoMd5(trx, name));
    await this.bump(trx);
  }

  // ---- API keys and cached gems: src/catalog/side-tables.ts ----------------------------------

  createKey(k: NewApiKey): Promise<ApiKeyRecord> {
    return this.mapConflict(() => side.createKey(this.db, k));
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return side.listKeys(this.db);
  }

  findKeyByHash(hash: string): Promise<(ApiKeyRecord & { hash: string }) | null> {
    return side.findKeyByHash(this.db, hash);
  }

  revokeKey(id: number, at: string): Promise<boolean> {
    return side.revokeKey(this.db, id, at);
  }

  touchKey(id: number, at: string): Promise<void> {
    return side.touchKey(this.db, id, at);
  }

  recordCachedGem(g: CachedGem): Promise<void> {
    return side.recordCachedGem(this.db, g);
  }

  cachedGem(upstream: string, file: string): Promise<CachedGem | null> {
    return side.cachedGem(this.db, upstream, file);
  }

  listCachedGems(): Promise<CachedGem[]> {
    return side.listCachedGems(this.db);
  }

  deleteCachedGem(upstream: string, file: string): Promise<void> {
    return side.deleteCachedGem(this.db, upstream, file);
  }

  mirrorMark(upstream: string, plan: string): Promise<MirrorMark | null> {
    return side.mirrorMark(this.db, upstream, plan);
  }

  recordMirrorMark(m: MirrorMark): Promise<void> {
    return side.recordMirrorMark(this.db, m);
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
