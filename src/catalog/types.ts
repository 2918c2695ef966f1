/**
 * The catalog: the source of truth for gems, versions, yank state, the /versions log and API keys.
 * A narrow, domain-level interface; drivers (SQLite, PostgreSQL) live beside it and only
 * compose.ts picks one.
 */

import type { GemSpec } from '../gem/spec.ts';
import type { InfoLineRow } from './derive.ts';

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
  /** null: pushed here; `mirror:UPSTREAM` or `import`. */
  origin?: string | null;
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

/** What a catalog's state is, for caches: the generation, and when it last changed. */
export interface CatalogState {
  /** Changes whenever anything an index is derived from changes. */
  generation: number;
  /** When the last change committed (ISO 8601): the Last-Modified of derived files on every node. */
  modifiedAt: string;
}

/** The result of recording a push. Only `created` changed anything. */
export type PushOutcome =
  | { kind: 'created'; record: VersionRecord }
  /** The same (name, number, platform) exists, live or yanked: compare its sha256. */
  | { kind: 'exists'; record: VersionRecord }
  /** The name exists with other letter case. */
  | { kind: 'case_conflict'; owner: string; live: boolean }
  /** A version equal but for trailing zeros exists (1.0 vs 1.0.0). */
  | { kind: 'canonical_conflict'; record: VersionRecord }
  /** Another platform of this version has the same download file name (i686-linux and x86-linux). */
  | { kind: 'file_conflict'; record: VersionRecord };

/** The result of recording a yank or an unyank. Only `done` changed anything. */
export type YankOutcome =
  | { kind: 'done'; record: VersionRecord }
  | { kind: 'no_gem' }
  | { kind: 'no_version' }
  /** Already yanked (for a yank), or not yanked (for an unyank). */
  | { kind: 'unchanged'; record: VersionRecord };

/** A live version as the legacy lists need it: no spec. */
export interface LiveTuple {
  name: string;
  number: string;
  platform: string;
}

/**
 * One page of live tuples as text, a `name\tnumber\tplatform\n` line each in (gem id, version id)
 * order, and the cursor of the next page (null: this was the last).
 */
export interface LiveTuplesText {
  text: string;
  /** Lines in `text`. */
  count: number;
  next: string | null;
}

/** A gem's /info as stored: live lines (derive.ts infoFromLines puts them together) and its date. */
export interface InfoLines {
  live: InfoLineRow[];
  /** The latest push or yank of any of its versions, ms since the epoch. */
  changedAt: number;
}

/** A .gem fetched from an upstream, cached forever (until pruned). */
export interface CachedGem {
  upstream: string;
  /** The file name without .gem: name-version[-platform]. */
  file: string;
  name: string;
  sha256: string;
  size: number;
  /** ISO 8601. */
  fetchedAt: string;
}

/**
 * Where the last complete `quarry mirror --all` of an upstream, with one plan, stood: every version
 * that the upstream's /versions listed in its first `versionsSize` bytes, as the plan chooses them,
 * is in the catalog (and, with --sync-yanks, none it yanked there is live here from it, as of this
 * catalog's /versions log at `localSeq`). A later run resolves only the names on lines after that.
 */
export interface MirrorMark {
  upstream: string;
  /** A hash of the plan's choices (platforms, prereleases, --latest, --exclude, --sync-yanks). */
  plan: string;
  versionsSize: number;
  /** Hex SHA-256 of those bytes: a /versions that does not start with them is another file. */
  versionsSha256: string;
  /** This catalog's /versions log sequence number when the run checked yanks. */
  localSeq: number;
  /** ISO 8601. */
  recordedAt: string;
}

/** One page of live versions, and the cursor of the next page (null: this was the last). */
export interface LiveVersionsPage {
  versions: VersionRecord[];
  next: string | null;
}

/** A blob the catalog refers to, for `quarry verify`. */
export interface BlobRef {
  sha256: string;
  size: number;
  /** One file name that refers to it (name-number[-platform]). */
  fullName: string;
}

/** A gem as lists show it: its newest live version (mostRecent's choice) and its summary. */
export interface GemListing {
  name: string;
  summary: string;
  /** The version lists show: latest release on ruby, then any latest. */
  number: string;
  platform: string;
  /** When that version was pushed. */
  createdAt: string;
  /** Where that version came from (VersionRecord.origin). */
  origin: string | null;
  /** Downloads of every version of the gem. */
  downloads: number;
}

export interface GemCounts {
  /** Gems with a live version pushed or imported here. */
  hosted: number;
  /** Gems with a live version copied by `quarry mirror` (versions.origin `mirror:UPSTREAM`). */
  mirrored: number;
  /** Distinct gem names with a .gem cached from an upstream by the proxy. */
  cached: number;
}

export interface Paged<T> {
  items: T[];
  /** How many there are in all. */
  total: number;
}

/** How many matches a search counts at most (SearchPage.more past it). */
export const SEARCH_COUNT_LIMIT = 1000;

/** A page of search results. */
export interface SearchPage extends Paged<GemListing> {
  /**
   * More gems match than `total` says: counting stops at the count limit (SEARCH_COUNT_LIMIT), so
   * a query that matches most of a large catalog costs one pass, not two.
   */
  more: boolean;
}

/**
 * What the web UI and the JSON API's search and activity read (additive to Catalog): bounded
 * queries over indexes, never every version in memory.
 */
export interface CatalogReadModel {
  /**
   * Gems with a live version whose name contains the query or whose summary holds every word of it:
   * exact name first, then names starting with it, then other names containing it, then summaries;
   * by name within each. Case-insensitive.
   */
  searchGems(query: string, offset: number, limit: number, countLimit?: number): Promise<SearchPage>;
  /** The newest live versions, newest first (one row per version). */
  recentVersions(limit: number): Promise<VersionRecord[]>;
  /** The gems first published most recently, newest first, with their newest live version. */
  newestGems(limit: number): Promise<VersionRecord[]>;
  /** Names of gems with a live version that depends on `name` (runtime or development), by name. */
  reverseDependencies(
    name: string,
    offset: number,
    limit: number,
  ): Promise<Paged<{ name: string; type: string }>>;
  gemCounts(): Promise<GemCounts>;
  /**
   * Adds downloads per version id in one write that applies whole or not at all (`downloads + n`:
   * additive, so several processes may add at once). Unknown ids are ignored.
   */
  addDownloads(counts: ReadonlyMap<number, number>): Promise<void>;
  /** Downloads per version id of one gem (every version, yanked ones too). */
  downloads(name: string): Promise<Map<number, number>>;
  /** downloads() of several gems in one query, by name (an unknown name: an empty map). */
  downloadsOf(names: readonly string[]): Promise<Map<string, Map<number, number>>>;
}

/**
 * The source of truth. Writes are domain-level: each is one call, and the driver owns what makes it
 * safe under many writers in many processes and nodes: the lock per gem, the /versions log in
 * commit order, the /info MD5 computed under that lock, and the generation bump.
 */
export interface Catalog {
  /**
   * What recordPush would answer, read without a lock: null when it would create the version.
   * Lets a push refuse before storing a blob; recordPush checks again under the lock.
   */
  previewPush(v: NewVersion): Promise<PushOutcome | null>;
  /** Records a pushed version (the blob is already stored). */
  recordPush(v: NewVersion): Promise<PushOutcome>;
  /**
   * Records several pushed versions (their blobs are stored) in one transaction, for `quarry
   * mirror`: the outcome of each, in order, as recordPush would answer them one after another. The
   * same rules as recordPush: each gem's lock (all taken first, in one order) and the log lock last;
   * one log row per gem changed, with its new tokens and its /info MD5 after them.
   */
  recordPushes(vs: readonly NewVersion[]): Promise<PushOutcome[]>;
  recordYank(name: string, number: string, platform: string, at: string): Promise<YankOutcome>;
  recordUnyank(name: string, number: string, platform: string): Promise<YankOutcome>;
  /** A new /versions base (one line per live gem) with this created_at. */
  rebuildVersionsList(createdAt: Date): Promise<void>;
  /** Creates the /versions base when there is none (nodes starting together create one). */
  ensureVersionsBase(createdAt: Date): Promise<void>;

  state(): Promise<CatalogState>;
  liveVersions(name: string): Promise<VersionRecord[]>;
  /** Every live version, by name (byte order) then publication order. */
  allLiveVersions(): Promise<VersionRecord[]>;
  /** Every live (name, number, platform), by name (byte order) then publication order: light. */
  liveTuples(): Promise<LiveTuple[]>;
  /**
   * The live tuples a page at a time, by gem then publication order (not by name): at most `limit`
   * after the cursor `after` (null: from the start). Many short queries instead of one long one, so
   * a 1.3-million-entry scan never holds the connection (or, with SQLite, the event loop) for long.
   */
  liveTuplesText(after: string | null, limit: number): Promise<LiveTuplesText>;
  /**
   * allLiveVersions() a page at a time, by gem then publication order (a gem's versions are
   * consecutive, not sorted by name): at most `limit` after the cursor `after` (null: from the
   * start). For whole-catalog jobs (every /info body) in bounded memory.
   */
  liveVersionsPage(after: string | null, limit: number): Promise<LiveVersionsPage>;
  findVersion(name: string, number: string, platform: string): Promise<VersionRecord | null>;
  /** Looks a .gem file name up: name-number[-gemPlatform].gem, live or yanked. */
  findByFullName(fullName: string): Promise<VersionRecord | null>;
  /** Every version (live and yanked) of one gem, newest push first. */
  allVersions(name: string): Promise<VersionRecord[]>;
  /**
   * What a gem's /info is made of: its live versions' stored lines in publication order, and when
   * it last changed (its latest push or yank, ms); null for a name never published.
   */
  infoLines(name: string): Promise<InfoLines | null>;
  versionsBase(): Promise<VersionsBase | null>;
  /** Which base is current, without its body (tens of MB at scale): changes only with a rebuild. */
  versionsBaseStamp(): Promise<Omit<VersionsBase, 'body'> | null>;
  versionsLogSince(seq: number): Promise<VersionsLogRow[]>;
  /** The sequence number of the newest /versions log row (0: none). */
  versionsLogSeq(): Promise<number>;
  /** The names on /versions log rows after `seq`, each once, in byte order. */
  versionsLogNamesSince(seq: number): Promise<string[]>;
  /** Names with at least one live version, byte order. */
  liveNames(): Promise<string[]>;
  /** Every gem name ever published here (live or fully yanked): the names that are private. */
  gemNames(): Promise<string[]>;
  /** Every distinct blob any version (live or yanked) refers to. */
  blobRefs(): Promise<BlobRef[]>;

  createKey(k: NewApiKey): Promise<ApiKeyRecord>;
  listKeys(): Promise<ApiKeyRecord[]>;
  findKeyByHash(hash: string): Promise<(ApiKeyRecord & { hash: string }) | null>;
  revokeKey(id: number, at: string): Promise<boolean>;
  touchKey(id: number, at: string): Promise<void>;

  /** Records a .gem fetched from an upstream and verified (its blob is stored); a second record is a no-op. */
  recordCachedGem(g: CachedGem): Promise<void>;
  cachedGem(upstream: string, file: string): Promise<CachedGem | null>;
  /** Every cached upstream .gem, oldest fetch first. */
  listCachedGems(): Promise<CachedGem[]>;
  deleteCachedGem(upstream: string, file: string): Promise<void>;

  /** The mark of the last complete mirror of `upstream` with `plan`, or null. */
  mirrorMark(upstream: string, plan: string): Promise<MirrorMark | null>;
  /** Records a mirror's mark, replacing the plan's earlier one. */
  recordMirrorMark(m: MirrorMark): Promise<void>;

  /**
   * Optional: calls onChange soon after another process commits a write (PostgreSQL LISTEN/NOTIFY),
   * so a node's caches need not wait for their next poll (index.refresh_ms). Best effort: a lost
   * notification only means the poll finds the change. Returns a function that unsubscribes.
   */
  subscribe?(onChange: () => void): () => void;

  close(): Promise<void>;
}
