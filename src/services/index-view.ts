/**
 * The server's derived indexes, built by the same pure code as `quarry index` from the catalog,
 * cached per catalog generation. Many stateless nodes can share one catalog: each node notices a
 * new generation on its next request and rebuilds only what is asked for. While the view is known to
 * be current (within refreshMs of the last check), cache hits are returned synchronously.
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { infoFor, recordEntry } from '../catalog/derive.ts';
import type { Catalog, VersionRecord } from '../catalog/types.ts';
import type { InfoOptions } from '../index/compact.ts';
import { md5Hex, namesBody } from '../index/compact.ts';
import type { DependencyRecord } from '../index/dependencies.ts';
import { dependenciesMarshal, dependencyRecords } from '../index/dependencies.ts';
import type { LegacyFile } from '../index/legacy.ts';
import { legacyFiles, legacyLists } from '../index/legacy.ts';
import { dumpQuickSpec } from '../marshal/rubygems.ts';
import type { Maybe } from '../util/maybe.ts';

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

export class IndexView {
  private generation = -1;
  /** When the catalog generation was last read (performance.now(); never yet: -Infinity). */
  private checkedAt = Number.NEGATIVE_INFINITY;
  private readonly gemFiles = new Map<string, VersionRecord | null>();
  private versions: { rep: Representation; seq: number; base: string } | null = null;
  private versionsGeneration = -2;
  private readonly depRecords = new Map<string, DependencyRecord[]>();
  /** Dependency API bodies by name list, at most DEP_BODY_BYTES in all. */
  private readonly depBodies = new Map<string, Buffer>();
  private depBodyBytes = 0;
  private names: Representation | null = null;
  private readonly infos = new Map<string, Representation | null>();
  private legacy: Map<string, Representation> | null = null;
  private legacyGeneration = -2;
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

  /** Drops caches when the catalog changed. Called at the start of every read that is not a hit. */
  private async refresh(): Promise<void> {
    if (this.refreshMs > 0) {
      const t = performance.now();
      if (t - this.checkedAt < this.refreshMs) return;
      this.checkedAt = t;
    }
    const writes = this.writes;
    const { generation: gen, modifiedAt } = await this.catalog.state();
    if (this.refreshMs > 0 && writes === this.writes) {
      this.fresh = true;
      clearTimeout(this.freshTimer);
      this.freshTimer = setTimeout(this.expire, this.refreshMs).unref();
    }
    if (gen === this.generation) return;
    this.generation = gen;
    // From the catalog, so that every node sends the same Last-Modified.
    this.modified = new Date(modifiedAt);
    // /versions is append-only between rebuilds: keep it and append, unless the base changed.
    this.names = null;
    this.infos.clear();
    this.quick.clear();
    this.gemFiles.clear();
    this.depRecords.clear();
    this.depBodies.clear();
    this.depBodyBytes = 0;
  }

  /** Called by writers after they commit, so this node sees its own write at once. */
  invalidate(): void {
    this.generation = -1;
    this.checkedAt = Number.NEGATIVE_INFINITY;
    this.fresh = false;
    this.writes++;
  }

  versionsFile(): Maybe<Representation> {
    if (this.fresh && this.versions && this.versionsGeneration === this.generation) return this.versions.rep;
    return this.loadVersions();
  }

  private async loadVersions(): Promise<Representation> {
    await this.refresh();
    // Unchanged generation: the body built for it is still right, no catalog round trip.
    if (this.versions && this.versionsGeneration === this.generation) return this.versions.rep;
    const generation = this.generation;
    const base = await this.catalog.versionsBase();
    if (!base) throw new Error('the catalog has no /versions base; the server creates one at start');
    const baseId = `${base.createdAt} ${base.baseSeq}`;
    let cur = this.versions;
    if (!cur || cur.base !== baseId)
      cur = { rep: represent(base.body, this.modified), seq: base.baseSeq, base: baseId };
    const rows = await this.catalog.versionsLogSince(cur.seq);
    if (rows.length > 0) {
      let tail = '';
      for (const r of rows) tail += `${r.name} ${r.tokens} ${r.infoMd5}\n`;
      cur = {
        rep: represent(Buffer.concat([cur.rep.body, Buffer.from(tail)]), this.modified),
        seq: rows.at(-1)!.seq,
        base: baseId,
      };
    }
    this.versions = cur;
    this.versionsGeneration = generation;
    return cur.rep;
  }

  namesFile(): Maybe<Representation> {
    if (this.fresh && this.names) return this.names;
    return this.loadNames();
  }

  private async loadNames(): Promise<Representation> {
    await this.refresh();
    if (this.names) return this.names;
    const gen = this.generation;
    const names = represent(namesBody(await this.catalog.liveNames()), this.modified);
    if (gen === this.generation) this.names = names;
    return names;
  }

  /** null when the gem has never been published; a gem whose versions are all yanked has "---\n". */
  info(name: string): Maybe<Representation | null> {
    const hit = this.hit(this.infos, name);
    return hit !== undefined ? hit : this.loadInfo(name);
  }

  private async loadInfo(name: string): Promise<Representation | null> {
    await this.refresh();
    const cached = this.infos.get(name);
    if (cached !== undefined) return cached;
    const gen = this.generation;
    const live = await this.catalog.liveVersions(name);
    let rep: Representation | null = null;
    if (live.length > 0) rep = represent(infoFor(live, this.options), this.modified);
    else if ((await this.catalog.allVersions(name)).length > 0) rep = represent('---\n', this.modified);
    return this.keep(gen, this.infos, name, rep, 50_000);
  }

  /** specs.4.8[.gz], latest_specs.4.8[.gz], prerelease_specs.4.8[.gz] by file name. */
  legacyFile(file: string): Maybe<Representation | null> {
    if (this.fresh && this.legacy && this.legacyGeneration === this.generation)
      return this.legacy.get(file) ?? null;
    return this.loadLegacy(file);
  }

  private async loadLegacy(file: string): Promise<Representation | null> {
    await this.refresh();
    // Under a stream of writes, readers take the newest finished build after a few rounds.
    for (let round = 0; round < 3 && (!this.legacy || this.legacyGeneration !== this.generation); round++) {
      // Single flight: one build at a time, shared by every reader; pushes never wait for it.
      this.legacyBuild ??= this.buildLegacy().finally(() => {
        this.legacyBuild = null;
      });
      await this.legacyBuild;
      await this.refresh();
    }
    return this.legacy?.get(file) ?? null;
  }

  /** Builds the legacy lists as of the current generation; a file whose bytes did not change keeps its ETag and date. */
  private async buildLegacy(): Promise<void> {
    const gen = this.generation;
    const live = await this.catalog.liveTuples();
    const files: LegacyFile[] = legacyFiles(
      legacyLists(live.map((v) => ({ name: v.name, version: v.number, platform: v.platform }))),
    );
    const old = this.legacy;
    const next = new Map<string, Representation>();
    for (const f of files) {
      const rep = represent(f.body, this.modified);
      const prev = old?.get(f.path);
      next.set(f.path, prev && prev.md5 === rep.md5 && prev.sha256 === rep.sha256 ? prev : rep);
    }
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

  /** The time derived files last changed, to the second. */
  lastModified(): Date {
    return this.modified;
  }
}
