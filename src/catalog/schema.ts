/** Table types for the typed query layer (kysely), shared by the SQLite and PostgreSQL drivers. */
import type { Generated } from 'kysely';

export interface GemsTable {
  id: Generated<number>;
  name: string;
  name_lower: string;
  created_at: string;
  /** MD5 of the gem's /info body as of its last change (migration 2; null until computed). */
  info_md5: string | null;
  /** The summary of the newest push (migration 6), for search. */
  summary: Generated<string>;
}

export interface VersionsTable {
  id: Generated<number>;
  gem_id: number;
  number: string;
  platform: string;
  gem_platform: string;
  canonical: string;
  full_name: string;
  original_full_name: string;
  prerelease: number;
  sha256: string;
  size: number;
  spec: string;
  created_at: string;
  yanked_at: string | null;
  pushed_by: number | null;
  /** Where the version came from: null (pushed here), `mirror:UPSTREAM` or `import` (migration 5). */
  origin: string | null;
  /** Downloads of this version's .gem (migration 6), written in batches. */
  downloads: Generated<number>;
  /** The version's /info line without created_at (derive.ts storedInfoLine; migration 8). */
  info_line: string | null;
}

export interface DependenciesTable {
  version_id: number;
  gem_id: number;
  name: string;
  type: string;
}

export interface VersionsLogTable {
  seq: Generated<number>;
  gem_name: string;
  tokens: string;
  info_md5: string;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface ApiKeysTable {
  id: Generated<number>;
  name: string;
  prefix: string;
  hash: string;
  scopes: string;
  gem_pattern: string | null;
  expires_at: string | null;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface CachedGemsTable {
  upstream: string;
  file: string;
  name: string;
  sha256: string;
  size: number;
  fetched_at: string;
}

/** The last complete `quarry mirror --all` of an upstream with one plan (migration 9). */
export interface MirrorMarksTable {
  upstream: string;
  plan: string;
  versions_size: number;
  versions_sha256: string;
  local_seq: number;
  recorded_at: string;
}

export interface Database {
  gems: GemsTable;
  versions: VersionsTable;
  versions_log: VersionsLogTable;
  meta: MetaTable;
  api_keys: ApiKeysTable;
  cached_gems: CachedGemsTable;
  mirror_marks: MirrorMarksTable;
  dependencies: DependenciesTable;
  schema_migrations: SchemaMigrationsTable;
}
