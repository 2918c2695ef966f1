/**
 * The server's derived indexes, built by the same pure code as `quarry index` from the catalog,
 * cached per catalog generation. Many stateless nodes can share one catalog: each node notices a
 * new generation on its next request and rebuilds only what is asked for. While the view is known to
 * be current (within refreshMs of the last check), cache hits are returned synchronously.
 *
 * A new generation drops only what it changed: the /versions log rows since the last catch-up name
 * the gems that changed (their /info, dependency records, quick specs and .gem lookups are dropped;
 * everything else stays), and /versions grows by those rows. Only a new /versions base (a rebuild)
 * drops everything. The legacy lists (1.3 million entries at rubygems.org's size) are built off
 * the event loop: pages of tuples from the catalog, then sorting, Marshal and gzip on a worker thread.
 */
import type { Hash } from 'node:crypto';
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { infoFromLines, recordEntry } from '../catalog/derive.ts';
import type { Catalog, VersionRecord, VersionsLogRow } from '../catalog/types.ts';
import type { InfoOptions } from '../index/compact.ts';
import { md5Hex, namesBody } from '../index/compact.ts';
import type { DependencyRecord } from '../index/dependencies.ts';
import { dependenciesMarshal, dependencyRecords } from '../index/dependencies.ts';
import { byteCompare } from '../index/order.ts';
import { dumpQuickSpec } from '../marshal/rubygems.ts';
import type { Maybe } from '../util/maybe.ts';
import { buildLegacyFiles } from './legacy-build.ts';

/** A body with the digests HTTP needs, computed once. */
export interface Representation {
  body: Buffer;
  /** Hex MD5: the compact index ETag. */
  md5: string;
  /** Base64 SHA-256: Repr-Digest and Digest. */
  sha256: string;
  /** When the underlying data last changed (for Last-Modified / If-Modified-Since). */
  modified: Date;
}

export function represent(body: Buffer | string, modified: Date): Representation {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return {
    body: buf,
    md5: md5Hex(buf),
    sha256: createHash('sha256').update(buf).digest('base64'),
    modified,
  };
}

export { baseFor, infoFor, recordEntry } from '../catalog/derive.ts';

/** Memory for cached dependency API bodies (clients ask for many different name lists). */
const DEP_BODY_BYTES = 16 * 1024 * 1024;
/**
 * /info representations kept as objects (the hot set). Each costs about 3 KiB of JS heap with the
 * headers the HTTP layer prepares for it: at 190,000 gems that was 575 MB of heap and garbage
 * collections pausing the server for up to 0.8 s. Bodies beyond the hot set stay in an InfoStore.
 */
const INFO_HOT = 20_000;
/**
 * Bytes of /info bodies kept outside the JS heap (InfoStore): every gem of a catalog as large as
 * rubygems.org's (190,000 names, 173 MB of bodies) fits.
 */
const INFO_STORE_BYTES = 256 * 1024 * 1024;

/**
 * The /versions body: the base plus the log rows appended since, in a buffer with room to grow, so
 * an append copies only the new rows; the MD5 and SHA-256 are carried forward the same way. Earlier
 * representations stay valid: they view bytes that never change.
 */
class VersionsBody {
  private buf: Buffer;
  private length: number;
  private readonly md5: Hash;
  private readonly sha256: Hash;
  rep: Representation;

  constructor(
    /** Which base this body grew from: `createdAt baseSeq`. */
    readonly baseId: string,
    base: string,
    /** The last log row in the body. */
    public seq: number,
    modified: Date,
  ) {
    const bytes = Buffer.from(base, 'utf8');
    this.buf = Buffer.allocUnsafe(bytes.length + Math.max(64 * 1024, bytes.length >> 4));
    bytes.copy(this.buf);
    this.length = bytes.length;
    this.md5 = createHash('md5').update(bytes);
    this.sha256 = createHash('sha256').update(bytes);
    this.rep = this.represent(modified);
  }

  private represent(modified: Date): Representation {
    return {
      body: this.buf.subarray(0, this.length),
      md5: this.md5.copy().digest('hex'),
      sha256: this.sha256.copy().digest('base64'),
      modified,
    };
  }

  append(rows: readonly VersionsLogRow[], modified: Date): void {
    if (rows.length === 0) return;
    let text = '';
    for (const r of rows) text += `${r.name} ${r.tokens} ${r.infoMd5}\n`;
    const tail = Buffer.from(text, 'utf8');
    if (this.length + tail.length > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.ceil((this.length + tail.length) * 1.25));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    tail.copy(this.buf, this.length);
    this.length += tail.length;
    this.md5.update(tail);
    this.sha256.update(tail);
    this.seq = rows.at(-1)!.seq;
    this.rep = this.represent(modified);
  }
}

/** The /info MD5 of a gem with no live version ("---\n"): its log row takes it out of /names. */
const NO_LIVE_VERSION_MD5 = md5Hex('---\n');

interface StoredInfo {
  chunk: Buffer;
  offset: number;
  length: number;
  md5: string;
  sha256: string;
  /** The representation's date, ms (kept, so a body served again keeps its Last-Modified). */
  modified: number;
}

/**
 * /info bodies in large shared buffers: outside the JS heap, which the garbage collector does not
 * walk, so holding every body of a large catalog costs little heap and no pauses (the digests and
 * the index stay on the heap, about 200 bytes a gem). A hit becomes a Representation again (a view
 * of the bytes, the stored digests). When full, the oldest buffer goes, with the bodies in it.
 */
class InfoStore {
  private readonly index = new Map<string, StoredInfo>();
  /** Oldest first; each with the names whose bodies it holds. */
  private readonly chunks: { buf: Buffer; used: number; names: string[] }[] = [];
  private bytes = 0;

  constructor(
    private readonly limit: number,
    private readonly chunkSize = 4 * 1024 * 1024,
  ) {}

  get(name: string): Representation | undefined {
    const e = this.index.get(name);
    if (!e) return undefined;
    const body = e.chunk.subarray(e.offset, e.offset + e.length);
    return {
      body,
      md5: e.md5,
      sha256: e.sha256,
      modified: new Date(e.modified),
    };
  }

  /** Stores a body; false when it is too large for the store (a rare huge one: hot set only). */
  set(name: string, rep: Representation): boolean {
    const n = rep.body.length;
    if (n > this.chunkSize / 4) return false;
    let cur = this.chunks.at(-1);
    if (!cur || cur.used + n > cur.buf.length) {
      cur = { buf: Buffer.allocUnsafe(this.chunkSize), used: 0, names: [] };
      this.chunks.push(cur);
      this.bytes += this.chunkSize;
      while (this.bytes > this.limit && this.chunks.length > 1) {
        const old = this.chunks.shift()!;
        this.bytes -= old.buf.length;
        for (const k of old.names) if (this.index.get(k)?.chunk === old.buf) this.index.delete(k);
      }
    }
    rep.body.copy(cur.buf, cur.used);
    this.index.set(name, {
      chunk: cur.buf,
      offset: cur.used,
      length: n,
      md5: rep.md5,
      sha256: rep.sha256,
      modified: rep.modified.getTime(),
    });
    cur.names.push(name);
    cur.used += n;
    return true;
  }

  delete(name: string): void {
    this.index.delete(name);
  }

  clear(): void {
    this.index.clear();
    this.chunks.length = 0;
    this.bytes = 0;
  }
}

/** True when a key NAME-VERSION[-PLATFORM] belongs to one of `names` (names may hold '-'). */
function keyOf(names: ReadonlySet<string>, key: string): boolean {
  for (let i = key.indexOf('-'); i > 0; i = key.indexOf('-', i + 1))
    if (names.has(key.slice(0, i))) return true;
  return false;
}

/** Index of `name` in a byte-sorted list, or -(insertion point) - 1. */
function search(list: readonly string[], name: string): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = byteCompare(list[mid]!, name);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

export class IndexView {
  private generation = -1;
  /** When the catalog generation was last read (performance.now(); never yet: -Infinity). */
  private checkedAt = Number.NEGATIVE_INFINITY;
  private readonly gemFiles = new Map<string, VersionRecord | null>();
  /** /versions as of the last catch-up (null before the first). */
  private versions: VersionsBody | null = null;
  /** The catch-up under way, and the one queued behind it (see sync()). */
  private syncing: Promise<void> | null = null;
  private syncQueued: Promise<void> | null = null;
  private readonly depRecords = new Map<string, DependencyRecord[]>();
  /** Dependency API bodies by name list, at most DEP_BODY_BYTES in all. */
  private readonly depBodies = new Map<string, Buffer>();
  private depBodyBytes = 0;
  private names: Representation | null = null;
  /**
   * The names with a live version, byte order, kept current from the log rows (a row whose /info
   * MD5 is that of "---\n" takes its name out, any other puts it in); null: not loaded yet.
   */
  private nameList: string[] | null = null;
  /** The hot /info representations, oldest first (at most INFO_HOT); null: never published. */
  private readonly infos = new Map<string, Representation | null>();
  /** Every /info body loaded (up to INFO_STORE_BYTES), outside the heap. */
  private readonly infoStore = new InfoStore(INFO_STORE_BYTES);
  /**
   * Names served from the store once lately (at most INFO_HOT): a second request puts the body in
   * the hot set. Requests spread over every name then make short-lived representations the young
   * generation collects cheaply, instead of churning the hot set (long-lived garbage, full GCs).
   */
  private infoSeen = new Set<string>();
  private legacy: Map<string, Representation> | null = null;
  private legacyGeneration = -2;
  private hosted: ReadonlySet<string> | null = null;
  private hostedGeneration = -2;
  private legacyBuild: Promise<void> | null = null;
  private readonly quick = new Map<string, Buffer | null>();
  private modified = new Date(0);
  /**
   * True while the caches are known to be current without asking the catalog: set by a check of the
   * generation, cleared refreshMs later by a timer (so a hit reads no clock) and by invalidate().
   */
  private fresh = false;
  private freshTimer: NodeJS.Timeout | undefined;
  /** Bumped by invalidate(), so that a check that was under way does not mark the view fresh. */
  private writes = 0;
  private readonly expire = () => {
    this.fresh = false;
  };

  /**
   * @param refreshMs how often to ask the catalog whether it changed. This node's own writes are
   *   seen at once (invalidate); other nodes' writes within refreshMs. 0 asks on every request.
   */
  constructor(
    private readonly catalog: Catalog,
    private readonly options: InfoOptions,
    private readonly now: () => Date,
    private readonly refreshMs = 0,
  ) {
    // A catalog that announces other processes' writes (PostgreSQL NOTIFY) ends the wait at once.
    catalog.subscribe?.(this.stale);
  }

  /** Another process changed the catalog: the next read asks it (caches stay unless the generation moved). */
  private readonly stale = () => {
    this.checkedAt = Number.NEGATIVE_INFINITY;
    this.fresh = false;
    this.writes++;
  };

  /** A cached entry while the view is fresh; undefined means: load it (which refreshes first). */
  private hit<T>(cache: Map<string, T>, key: string): T | undefined {
    return this.fresh ? cache.get(key) : undefined;
  }

  /**
   * Caches a value loaded under generation `gen` (in at most `max` entries), unless the catalog
   * changed while it was loaded: then it may be stale, and the next read loads it again.
   */
  private keep<T>(gen: number, cache: Map<string, T>, key: string, value: T, max: number): T {
    if (gen === this.generation) {
      if (cache.size > max) cache.clear();
      cache.set(key, value);
    }
    return value;
  }

  /** Catches up with the catalog. Called at the start of every read that is not a hit. */
  private async refresh(): Promise<void> {
    if (this.refreshMs > 0) {
      const t = performance.now();
      if (t - this.checkedAt < this.refreshMs && this.versions) return;
      this.checkedAt = t;
    }
    const writes = this.writes;
    await this.sync();
    if (this.refreshMs > 0 && writes === this.writes) {
      this.fresh = true;
      clearTimeout(this.freshTimer);
      this.freshTimer = setTimeout(this.expire, this.refreshMs).unref();
    }
  }

  /**
   * One catch-up at a time. A caller that arrives while one runs waits for the next, which starts
   * after it arrived and so sees what was committed before; every caller arriving meanwhile shares
   * that one.
   */
  private sync(): Promise<void> {
    if (this.syncQueued) return this.syncQueued;
    const start = (): Promise<void> => {
      this.syncQueued = null;
      const run: Promise<void> = this.catchUp().finally(() => {
        if (this.syncing === run) this.syncing = null;
      });
      this.syncing = run;
      return run;
    };
    if (!this.syncing) return start();
    this.syncQueued = this.syncing.then(start, start);
    return this.syncQueued;
  }

  /**
   * Reads the generation; when it moved, appends the new /versions log rows and drops what they
   * changed (or, after a rebuild made a new base, everything).
   */
  private async catchUp(): Promise<void> {
    const { generation: gen, modifiedAt } = await this.catalog.state();
    if (gen === this.generation && this.versions) return;
    // From the catalog, so that every node sends the same Last-Modified.
    const modified = new Date(modifiedAt);
    const stamp = await this.catalog.versionsBaseStamp();
    if (!stamp) throw new Error('the catalog has no /versions base; the server creates one at start');
    if (this.versions?.baseId === `${stamp.createdAt} ${stamp.baseSeq}`) {
      const rows = await this.catalog.versionsLogSince(this.versions.seq);
      this.versions.append(rows, modified);
      this.forget(rows);
    } else {
      const base = await this.catalog.versionsBase();
      if (!base) throw new Error('the catalog has no /versions base; the server creates one at start');
      const body = new VersionsBody(`${base.createdAt} ${base.baseSeq}`, base.body, base.baseSeq, modified);
      body.append(await this.catalog.versionsLogSince(base.baseSeq), modified);
      this.versions = body;
      this.forgetAll();
    }
    this.generation = gen;
    this.modified = modified;
  }

  /** Drops what these log rows may have changed; /names follows them. */
  private forget(rows: readonly VersionsLogRow[]): void {
    if (rows.length === 0) return;
    const names = new Set<string>();
    for (const r of rows) names.add(r.name);
    for (const name of names) {
      this.dropInfo(name);
      this.depRecords.delete(name);
    }
    // Quick specs and .gem lookups by file name: NAME-VERSION[-PLATFORM].
    for (const cache of [this.quick, this.gemFiles] as Map<string, unknown>[])
      for (const key of cache.keys()) if (keyOf(names, key)) cache.delete(key);
    this.depBodies.clear();
    this.depBodyBytes = 0;
    const list = this.nameList;
    if (list) {
      let changed = false;
      for (const r of rows) {
        const at = search(list, r.name);
        if (r.infoMd5 === NO_LIVE_VERSION_MD5) {
          if (at >= 0) list.splice(at, 1);
        } else if (at < 0) list.splice(-at - 1, 0, r.name);
        changed ||= (r.infoMd5 === NO_LIVE_VERSION_MD5) === at >= 0;
      }
      if (changed) this.names = null;
    }
  }

  private forgetAll(): void {
    this.names = null;
    this.nameList = null;
    this.infos.clear();
    this.infoStore.clear();
    this.infoSeen.clear();
    this.quick.clear();
    this.gemFiles.clear();
    this.depRecords.clear();
    this.depBodies.clear();
    this.depBodyBytes = 0;
  }

  private dropInfo(name: string): void {
    this.infos.delete(name);
    this.infoStore.delete(name);
  }

  /** Puts an /info in the hot set, dropping the oldest past INFO_HOT (their bodies stay stored). */
  private hotInfo(name: string, rep: Representation | null): Representation | null {
    this.infos.delete(name);
    this.infos.set(name, rep);
    if (this.infos.size > INFO_HOT) this.infos.delete(this.infos.keys().next().value!);
    return rep;
  }

  /** Caches an /info loaded under generation `gen` (unless the catalog changed meanwhile). */
  private keepInfo(gen: number, name: string, rep: Representation | null): Representation | null {
    if (gen !== this.generation) return rep;
    const stored = rep !== null && this.infoStore.set(name, rep);
    // Once the hot set is full, a body loaded goes to the store only and, like one served from
    // there, joins the hot set when asked for again: a sweep over every gem (a mirror, a cold
    // start) then churns nothing long-lived.
    if (stored && this.infos.size >= INFO_HOT) return rep;
    return this.hotInfo(name, rep);
  }

  /** An /info from the hot set or the store (while the view is known to be current). */
  private cachedInfo(name: string): Representation | null | undefined {
    const hot = this.infos.get(name);
    if (hot !== undefined) return hot;
    const stored = this.infoStore.get(name);
    if (!stored) return undefined;
    if (this.infoSeen.delete(name)) return this.hotInfo(name, stored);
    if (this.infoSeen.size >= INFO_HOT) this.infoSeen = new Set();
    this.infoSeen.add(name);
    return stored;
  }

  /** Called by writers after they commit, so this node sees its own write at once. */
  invalidate(): void {
    this.generation = -1;
    this.checkedAt = Number.NEGATIVE_INFINITY;
    this.fresh = false;
    this.writes++;
  }

  versionsFile(): Maybe<Representation> {
    if (this.fresh && this.versions) return this.versions.rep;
    return this.loadVersions();
  }

  private async loadVersions(): Promise<Representation> {
    await this.refresh();
    // Kept current by every catch-up: an append of the new log rows, or a new base.
    if (!this.versions) await this.sync();
    return this.versions!.rep;
  }

  namesFile(): Maybe<Representation> {
    if (this.fresh && this.names) return this.names;
    return this.loadNames();
  }

  private async loadNames(): Promise<Representation> {
    await this.refresh();
    if (this.names) return this.names;
    const gen = this.generation;
    // Loaded once (a scan of every gem); then kept current by each catch-up (forget).
    const list = this.nameList ?? (await this.catalog.liveNames());
    const names = represent(namesBody(list), this.modified);
    if (gen === this.generation) {
      this.names = names;
      this.nameList = list;
    }
    return names;
  }

  /** null when the gem has never been published; a gem whose versions are all yanked has "---\n". */
  info(name: string): Maybe<Representation | null> {
    const hit = this.fresh ? this.cachedInfo(name) : undefined;
    return hit !== undefined ? hit : this.loadInfo(name);
  }

  private async loadInfo(name: string): Promise<Representation | null> {
    await this.refresh();
    const cached = this.cachedInfo(name);
    if (cached !== undefined) return cached;
    const gen = this.generation;
    // The stored lines, and the date of the gem's last push or yank as its Last-Modified: the same
    // on every node whenever it loaded the body.
    const stored = await this.catalog.infoLines(name);
    if (stored === null) return this.keepInfo(gen, name, null);
    const modified = new Date(Math.floor(stored.changedAt / 1000) * 1000);
    const rep = represent(infoFromLines(stored.live, this.options), modified);
    return this.keepInfo(gen, name, rep);
  }

  /** specs.4.8[.gz], latest_specs.4.8[.gz], prerelease_specs.4.8[.gz] by file name. */
  legacyFile(file: string): Maybe<Representation | null> {
    if (this.fresh && this.legacy && this.legacyGeneration === this.generation)
      return this.legacy.get(file) ?? null;
    return this.loadLegacy(file);
  }

  private async loadLegacy(file: string): Promise<Representation | null> {
    await this.refresh();
    // A reader waits for a build that started after it arrived (so it sees every write before it):
    // the one under way if that started late enough, else the next one. Under a stream of writes
    // that is at most two builds, never an endless chase. Pushes never wait for a build.
    const want = this.generation;
    for (let round = 0; round < 2 && !(this.legacy && this.legacyGeneration >= want); round++) {
      // Single flight: one build at a time, shared by every reader.
      this.legacyBuild ??= this.buildLegacy().finally(() => {
        this.legacyBuild = null;
      });
      await this.legacyBuild;
    }
    return this.legacy?.get(file) ?? null;
  }

  /**
   * Builds the legacy lists as of the current generation, off the event loop (buildLegacyFiles);
   * a file whose bytes did not change keeps its ETag; its date is the catalog's, so every node at
   * this generation sends the same Last-Modified.
   */
  private async buildLegacy(): Promise<void> {
    await this.refresh();
    const gen = this.generation;
    const modified = this.modified;
    const files = await buildLegacyFiles(this.catalog);
    const old = this.legacy;
    const next = new Map<string, Representation>();
    for (const f of files) {
      const prev = old?.get(f.path);
      next.set(
        f.path,
        // Same bytes, same ETag; the date is the generation's, as on every other node.
        prev &&
          prev.md5 === f.md5 &&
          prev.sha256 === f.sha256 &&
          prev.modified.getTime() === modified.getTime()
          ? prev
          : { body: f.body, md5: f.md5, sha256: f.sha256, modified },
      );
    }
    // A build that finished after a newer one (it cannot: builds run one at a time) is dropped.
    if (this.legacy && this.legacyGeneration > gen) return;
    this.legacy = next;
    this.legacyGeneration = gen;
  }

  /** The deflated quick gemspec of a live version, by its original full name. */
  quickSpec(fullName: string): Maybe<Buffer | null> {
    const hit = this.hit(this.quick, fullName);
    return hit !== undefined ? hit : this.loadQuickSpec(fullName);
  }

  private async loadQuickSpec(fullName: string): Promise<Buffer | null> {
    await this.refresh();
    const cached = this.quick.get(fullName);
    if (cached !== undefined) return cached;
    const gen = this.generation;
    const v = await this.catalog.findByFullName(fullName);
    const body = v && v.yankedAt === null ? deflateSync(dumpQuickSpec(v.spec)) : null;
    return this.keep(gen, this.quick, fullName, body, 10_000);
  }

  /** A live version by its .gem file name (normalized or original platform), or null. */
  gemFile(fullName: string): Maybe<VersionRecord | null> {
    const hit = this.hit(this.gemFiles, fullName);
    return hit !== undefined ? hit : this.loadGemFile(fullName);
  }

  private async loadGemFile(fullName: string): Promise<VersionRecord | null> {
    await this.refresh();
    const cached = this.gemFiles.get(fullName);
    if (cached !== undefined) return cached;
    const gen = this.generation;
    const v = await this.catalog.findByFullName(fullName);
    return this.keep(gen, this.gemFiles, fullName, v && v.yankedAt === null ? v : null, 50_000);
  }

  async dependencies(names: readonly string[]): Promise<DependencyRecord[]> {
    await this.refresh();
    const gen = this.generation;
    const out: DependencyRecord[] = [];
    for (const name of names) {
      let records = this.depRecords.get(name);
      if (!records) {
        const live = await this.catalog.liveVersions(name);
        records = this.keep(
          gen,
          this.depRecords,
          name,
          dependencyRecords(live.map((v) => recordEntry(v, false))),
          50_000,
        );
      }
      out.push(...records);
    }
    return out;
  }

  /** The dependency API's Marshal body for these (valid, unique) names, in this order. */
  dependenciesBody(names: readonly string[]): Maybe<Buffer> {
    const key = names.join(',');
    return this.hit(this.depBodies, key) ?? this.loadDependenciesBody(names, key);
  }

  private async loadDependenciesBody(names: readonly string[], key: string): Promise<Buffer> {
    await this.refresh();
    let body = this.depBodies.get(key);
    if (!body) {
      const gen = this.generation;
      body = dependenciesMarshal(await this.dependencies(names));
      if (gen !== this.generation) return body;
      if (this.depBodyBytes + body.length > DEP_BODY_BYTES) {
        this.depBodies.clear();
        this.depBodyBytes = 0;
      }
      this.depBodies.set(key, body);
      this.depBodyBytes += body.length;
    }
    return body;
  }

  /** Every name published here (live or yanked): these names are private, never taken from an upstream. */
  hostedNames(): Maybe<ReadonlySet<string>> {
    if (this.fresh && this.hosted) return this.hosted;
    return this.loadHostedNames();
  }

  private async loadHostedNames(): Promise<ReadonlySet<string>> {
    await this.refresh();
    if (this.hosted && this.hostedGeneration === this.generation) return this.hosted;
    const gen = this.generation;
    const names = new Set(await this.catalog.gemNames());
    if (gen === this.generation) {
      this.hosted = names;
      this.hostedGeneration = gen;
    }
    return names;
  }

  /** Live (name, version, platform) of the hosted gems, for merged legacy lists. */
  liveTuples(): Promise<{ name: string; number: string; platform: string }[]> {
    return this.catalog.liveTuples();
  }

  /** The time derived files last changed, to the second. */
  lastModified(): Date {
    return this.modified;
  }
}
