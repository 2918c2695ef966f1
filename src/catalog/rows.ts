/** Version rows as the catalog's queries read them, and the records they become. */
import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import type { GemSpec } from '../gem/spec.ts';
import type { Database, VersionsTable } from './schema.ts';
import type { VersionRecord } from './types.ts';

export type Db = Kysely<Database>;
export type Row = Selectable<VersionsTable> & { name: string };

export const toRecord = (r: Row): VersionRecord => ({
  id: r.id,
  name: r.name,
  number: r.number,
  platform: r.platform,
  gemPlatform: r.gem_platform,
  canonical: r.canonical,
  prerelease: Number(r.prerelease) === 1,
  sha256: r.sha256,
  size: Number(r.size),
  spec: reviveSpec(JSON.parse(r.spec) as GemSpec),
  createdAt: r.created_at,
  yankedAt: r.yanked_at,
  origin: r.origin ?? null,
});

export const reviveSpec = (s: GemSpec): GemSpec => ({ ...s, date: new Date(s.date) });

/** Every column of versions, with the gem's name. */
export function versionsQuery(db: Db) {
  return db
    .selectFrom('versions')
    .innerJoin('gems', 'gems.id', 'versions.gem_id')
    .selectAll('versions')
    .select('gems.name as name');
}

/** One version by name, number and platform, live or yanked. */
export async function findVersion(db: Db, name: string, number: string, platform: string) {
  const r = await versionsQuery(db)
    .where('gems.name', '=', name)
    .where('versions.number', '=', number)
    .where('versions.platform', '=', platform)
    .executeTakeFirst();
  return r ? toRecord(r) : null;
}

/** `WHERE` a gem (the `gems` row of the query) has a live version: it is listed, searched, counted. */
export const hasLiveVersion = (eb: ExpressionBuilder<Database, 'gems'>) =>
  eb.exists(
    eb
      .selectFrom('versions')
      .select('versions.id')
      .whereRef('versions.gem_id', '=', 'gems.id')
      .where('versions.yanked_at', 'is', null),
  );
