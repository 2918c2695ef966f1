import { deflateSync } from 'node:zlib';
import { infoFromLines, recordEntry } from '../catalog/derive.ts';
import type { Catalog, VersionRecord, VersionsLogRow } from '../catalog/types.ts';
import type { InfoOptions } from '../index/compact.ts';
import { namesBody } from '../index/compact.ts';
import type { DependencyRecord } from '../index/dependencies.ts';
import { dependenciesMarshal, dependencyRecords } from '../index/dependencies.ts';
import { dumpQuickSpec } from '../marshal/rubygems.ts';
import type { Maybe } from '../util/maybe.ts';
import type { Representation } from './index-bodies.ts';
import {
  keyOf,
  NO_LIVE_VERSION_MD5,
  represent,
  sameBytesSameTag,
  search,
  VersionsBody,
} from './index-bodies.ts';
import { InfoCache } from './info-cache.ts';
import { buildLegacyFiles } from './legacy-build.ts';

export { baseFor, infoFor, recordEntry } from '../catalog/derive.ts';
export type { Representation } from './index-bodies.ts';
export { represent } from './index-bodies.ts';

/** Memory for cached dependency API bodies (clients ask for many different name lists). */
const DEP_BODY_BYTES = 16 * 1024 * 1024;
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
  /** The /info representations: a hot set, and every body loaded outside the heap. */
  private readonly infos = new InfoCache();
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
      this.infos.delete(name);
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
    this.quick.clear();
    this.gemFiles.clear();
    this.depRecords.clear();
    this.depBodies.clear();
    this.depBodyBytes = 0;
  }

  /** Caches an /info loaded under generation `gen` (unless the catalog changed meanwhile). */
  private keepInfo(gen: number, name: string, rep: Representation | null): Representation | null {
    return gen === this.generation ? this.infos.keep(name, rep) : rep;
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
    const hit = this.fresh ? this.infos.get(name) : undefined;
    return hit !== undefined ? hit : this.loadInfo(name);
  }

  private async loadInfo(name: string): Promise<Representation | null> {
    await this.refresh();
    const cached = this.infos.get(name);
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
    const next = sameBytesSameTag(this.legacy, await buildLegacyFiles(this.catalog), modified);
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
