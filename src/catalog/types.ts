/**
 * The catalog: the source of truth for gems, versions, yank state, the /versions log and API keys.
 * A narrow, domain-level interface; drivers (SQLite, PostgreSQL) live beside it and only
 * compose.ts picks one.
 */
import type { GemSpec } from '../gem/spec.ts';

export interface VersionRecord {
  id: number;
  name: string;
  number: string;
  /** Original platform string. */
  platform: string;
  /** Normalized platform (Gem::Platform#to_s), used in the .gem file name clients request. */
  gemPlatform: string;
  canonical: string;
  prerelease: boolean;
  sha256: string;
  size: number;
  spec: GemSpec;
  /** Push time, ISO 8601 UTC with seconds. */
  createdAt: string;
  yankedAt: string | null;
}

/** A version about to be inserted: a record without its id and yank state, plus who pushed it. */
export type NewVersion = Omit<VersionRecord, 'id' | 'yankedAt'> & { pushedBy: number | null };

export interface VersionsLogRow {
  seq: number;
  name: string;
  tokens: string;
  infoMd5: string;
}

export interface VersionsBase {
  /** created_at of the base, ISO 8601. */
  createdAt: string;
  /** The base body (header and one line per gem). */
  body: string;
  /** Log rows with seq > baseSeq are appended after the base. */
  baseSeq: number;
}

export type Scope = 'push' | 'yank' | 'read';

export interface ApiKeyRecord {
  id: number;
  name: string;
  /** The first characters of the key, shown in listings. */
  prefix: string;
  scopes: Scope[];
  /** Glob over gem names (`*` wildcard), or null for every gem. */
  gemPattern: string | null;
  expiresAt: string | null;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface NewApiKey {
  name: string;
  prefix: string;
  hash: string;
  scopes: Scope[];
  gemPattern: string | null;
  expiresAt: string | null;
  createdAt: string;
}

/** Reads and writes inside one transaction. */
export interface CatalogTx {
  /** Case-insensitive lookup of the gem's canonical name. */
  gemNameLike(name: string): Promise<string | null>;
  findVersion(name: string, number: string, platform: string): Promise<VersionRecord | null>;
  /** Versions (live or yanked) whose canonical number and platform match. */
  findCanonical(name: string, canonical: string, platform: string): Promise<VersionRecord[]>;
  /** Live (not yanked) versions of one gem in publication order. */
  liveVersions(name: string): Promise<VersionRecord[]>;
  insertVersion(v: NewVersion): Promise<VersionRecord>;
  setYanked(id: number, yankedAt: string | null): Promise<void>;
  appendVersionsLog(name: string, tokens: string, infoMd5: string): Promise<number>;
  setVersionsBase(base: VersionsBase): Promise<void>;
  allLiveVersions(): Promise<VersionRecord[]>;
  maxLogSeq(): Promise<number>;
}

export interface Catalog {
  transaction<T>(fn: (tx: CatalogTx) => Promise<T>): Promise<T>;
  /** Changes whenever anything an index is derived from changes. */
  generation(): Promise<number>;
  liveVersions(name: string): Promise<VersionRecord[]>;
  /** Every live version, by name then publication order: for the legacy indexes. */
  allLiveVersions(): Promise<VersionRecord[]>;
  findVersion(name: string, number: string, platform: string): Promise<VersionRecord | null>;
  /** Looks a .gem file name up: name-number[-gemPlatform].gem, live or yanked. */
  findByFullName(fullName: string): Promise<VersionRecord | null>;
  /** Every version (live and yanked) of one gem, newest push first. */
  allVersions(name: string): Promise<VersionRecord[]>;
  versionsBase(): Promise<VersionsBase | null>;
  versionsLogSince(seq: number): Promise<VersionsLogRow[]>;
  /** Names with at least one live version, byte order. */
  liveNames(): Promise<string[]>;

  createKey(k: NewApiKey): Promise<ApiKeyRecord>;
  listKeys(): Promise<ApiKeyRecord[]>;
  findKeyByHash(hash: string): Promise<(ApiKeyRecord & { hash: string }) | null>;
  revokeKey(id: number, at: string): Promise<boolean>;
  touchKey(id: number, at: string): Promise<void>;

  close(): Promise<void>;
}
