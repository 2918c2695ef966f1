/**
 * The catalog's side tables, beside the index: API keys (hashes only), the .gem files cached
 * from upstreams, and the marks of complete mirrors. KyselyCatalog delegates to these; they take no gem lock and write no log row.
 */
import type { Selectable } from 'kysely';
import type { Db } from './rows.ts';
import type { Database } from './schema.ts';
import type { ApiKeyRecord, CachedGem, MirrorMark, NewApiKey, Scope } from './types.ts';

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

const cachedRecord = (r: Selectable<Database['cached_gems']>): CachedGem => ({
  upstream: r.upstream,
  file: r.file,
  name: r.name,
  sha256: r.sha256,
  size: Number(r.size),
  fetchedAt: r.fetched_at,
});

export async function createKey(db: Db, k: NewApiKey): Promise<ApiKeyRecord> {
  const r = await db
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
    .executeTakeFirstOrThrow();
  return keyRecord(r);
}

export async function listKeys(db: Db): Promise<ApiKeyRecord[]> {
  return (await db.selectFrom('api_keys').selectAll().orderBy('id').execute()).map(keyRecord);
}

export async function findKeyByHash(db: Db, hash: string): Promise<(ApiKeyRecord & { hash: string }) | null> {
  const r = await db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
  return r ? { ...keyRecord(r), hash: r.hash } : null;
}

export async function revokeKey(db: Db, id: number, at: string): Promise<boolean> {
  const r = await db
    .updateTable('api_keys')
    .set({ revoked_at: at })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function touchKey(db: Db, id: number, at: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
}

export async function recordCachedGem(db: Db, g: CachedGem): Promise<void> {
  await db
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

export async function cachedGem(db: Db, upstream: string, file: string): Promise<CachedGem | null> {
  const r = await db
    .selectFrom('cached_gems')
    .selectAll()
    .where('upstream', '=', upstream)
    .where('file', '=', file)
    .executeTakeFirst();
  return r ? cachedRecord(r) : null;
}

export async function listCachedGems(db: Db): Promise<CachedGem[]> {
  const rows = await db.selectFrom('cached_gems').selectAll().orderBy('fetched_at').execute();
  return rows.map(cachedRecord);
}

export async function deleteCachedGem(db: Db, upstream: string, file: string): Promise<void> {
  await db.deleteFrom('cached_gems').where('upstream', '=', upstream).where('file', '=', file).execute();
}

export async function mirrorMark(db: Db, upstream: string, plan: string): Promise<MirrorMark | null> {
  const r = await db
    .selectFrom('mirror_marks')
    .selectAll()
    .where('upstream', '=', upstream)
    .where('plan', '=', plan)
    .executeTakeFirst();
  return r
    ? {
        upstream: r.upstream,
        plan: r.plan,
        versionsSize: Number(r.versions_size),
        versionsSha256: r.versions_sha256,
        localSeq: Number(r.local_seq),
        recordedAt: r.recorded_at,
      }
    : null;
}

export async function recordMirrorMark(db: Db, m: MirrorMark): Promise<void> {
  const row = {
    versions_size: m.versionsSize,
    versions_sha256: m.versionsSha256,
    local_seq: m.localSeq,
    recorded_at: m.recordedAt,
  };
  await db
    .insertInto('mirror_marks')
    .values({ upstream: m.upstream, plan: m.plan, ...row })
    .onConflict((oc) => oc.columns(['upstream', 'plan']).doUpdateSet(row))
    .execute();
}
