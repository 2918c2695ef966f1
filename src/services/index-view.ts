/**
 * The server's derived indexes, built by the same pure code as `quarry index` from the catalog,
 * cached per catalog generation. Many stateless nodes can share one catalog: each node notices a
 * new generation on its next request and rebuilds only what is asked for.
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { Catalog, VersionRecord } from '../catalog/types.ts';
import type { InfoOptions } from '../index/compact.ts';
import { infoBody, md5Hex, namesBody, versionsBody } from '../index/compact.ts';
import type { DependencyRecord } from '../index/dependencies.ts';
import { dependencyRecords } from '../index/dependencies.ts';
import type { IndexEntry } from '../index/entry.ts';
import { entryFromSpec, versionToken } from '../index/entry.ts';
import type { LegacyFile } from '../index/legacy.ts';
import { legacyFiles, legacyLists } from '../index/legacy.ts';
import { dumpQuickSpec } from '../marshal/rubygems.ts';

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

export const recordEntry = (v: VersionRecord, withCreatedAt: boolean): IndexEntry =>
  entryFromSpec(v.spec, v.sha256, withCreatedAt ? v.createdAt : undefined);

/** The /info body for a gem's live versions, in publication order (as rubygems.org). */
export function infoFor(live: readonly VersionRecord[], options: InfoOptions): string {
  return infoBody(
    live.map((v) => recordEntry(v, options.createdAt === true)),
    options,
  );
}

/** A fresh /versions base: one line per live gem, tokens in publication order. */
export function baseFor(live: readonly VersionRecord[], createdAt: Date, options: InfoOptions): string {
  const byName = new Map<string, VersionRecord[]>();
  for (const v of live) {
    const g = byName.get(v.name);
    if (g) g.push(v);
    else byName.set(v.name, [v]);
  }
  return versionsBody(
    createdAt,
    [...byName].map(([name, vs]) => ({
      name,
      tokens: vs.map((v) => versionToken(v.spec)),
      infoMd5: md5Hex(infoFor(vs, options)),
    })),
  );
}

export class IndexView {
  private generation = -1;
  /** When the catalog generation was last read (ms since epoch, from the real clock). */
  private checkedAt = 0;
  private readonly gemFiles = new Map<string, VersionRecord | null>();
  private versions: { rep: Representation; seq: number; base: string } | null = null;
  private versionsGeneration = -2;
  private readonly depRecords = new Map<string, DependencyRecord[]>();
  private names: Representation | null = null;
  private readonly infos = new Map<string, Representation | null>();
  private legacy: Map<string, Representation> | null = null;
  private readonly quick = new Map<string, Buffer | null>();
  private modified = new Date(0);

  /**
   * @param refreshMs how often to ask the catalog whether it changed. This node's own writes are
   *   seen at once (invalidate); other nodes' writes within refreshMs. 0 asks on every request.
   */
  constructor(
    private readonly catalog: Catalog,
    private readonly options: InfoOptions,
    private readonly now: () => Date,
    private readonly refreshMs = 0,
  ) {}

  /** Drops caches when the catalog changed. Called at the start of every read. */
  private async refresh(): Promise<void> {
    if (this.refreshMs > 0) {
      const t = performance.now();
      if (t - this.checkedAt < this.refreshMs) return;
      this.checkedAt = t;
    }
    const gen = await this.catalog.generation();
    if (gen === this.generation) return;
    this.generation = gen;
    this.modified = new Date(Math.floor(this.now().getTime() / 1000) * 1000);
    // /versions is append-only between rebuilds: keep it and append, unless the base changed.
    this.names = null;
    this.infos.clear();
    this.legacy = null;
    this.quick.clear();
    this.gemFiles.clear();
    this.depRecords.clear();
  }

  /** Called by writers after they commit, so this node sees its own write at once. */
  invalidate(): void {
    this.generation = -1;
    this.checkedAt = 0;
  }

  async versionsFile(): Promise<Representation> {
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

  async namesFile(): Promise<Representation> {
    await this.refresh();
    this.names ??= represent(namesBody(await this.catalog.liveNames()), this.modified);
    return this.names;
  }

  /** null when the gem has never been published; a gem whose versions are all yanked has "---\n". */
  async info(name: string): Promise<Representation | null> {
    await this.refresh();
    if (this.infos.has(name)) return this.infos.get(name)!;
    const live = await this.catalog.liveVersions(name);
    let rep: Representation | null = null;
    if (live.length > 0) rep = represent(infoFor(live, this.options), this.modified);
    else if ((await this.catalog.allVersions(name)).length > 0) rep = represent('---\n', this.modified);
    if (this.infos.size > 50_000) this.infos.clear();
    this.infos.set(name, rep);
    return rep;
  }

  /** specs.4.8[.gz], latest_specs.4.8[.gz], prerelease_specs.4.8[.gz] by file name. */
  async legacyFile(file: string): Promise<Representation | null> {
    await this.refresh();
    if (!this.legacy) {
      const live = await this.catalog.allLiveVersions();
      const files: LegacyFile[] = legacyFiles(
        legacyLists(live.map((v) => ({ name: v.name, version: v.number, platform: v.platform }))),
      );
      this.legacy = new Map(files.map((f) => [f.path, represent(f.body, this.modified)]));
    }
    return this.legacy.get(file) ?? null;
  }

  /** The deflated quick gemspec of a live version, by its original full name. */
  async quickSpec(fullName: string): Promise<Buffer | null> {
    await this.refresh();
    if (this.quick.has(fullName)) return this.quick.get(fullName)!;
    const v = await this.catalog.findByFullName(fullName);
    const body = v && v.yankedAt === null ? deflateSync(dumpQuickSpec(v.spec)) : null;
    if (this.quick.size > 10_000) this.quick.clear();
    this.quick.set(fullName, body);
    return body;
  }

  /** A live version by its .gem file name (normalized or original platform), or null. */
  async gemFile(fullName: string): Promise<VersionRecord | null> {
    await this.refresh();
    const cached = this.gemFiles.get(fullName);
    if (cached !== undefined) return cached;
    const v = await this.catalog.findByFullName(fullName);
    const live = v && v.yankedAt === null ? v : null;
    if (this.gemFiles.size > 50_000) this.gemFiles.clear();
    this.gemFiles.set(fullName, live);
    return live;
  }

  async dependencies(names: readonly string[]): Promise<DependencyRecord[]> {
    await this.refresh();
    const out: DependencyRecord[] = [];
    for (const name of names) {
      let records = this.depRecords.get(name);
      if (!records) {
        const live = await this.catalog.liveVersions(name);
        records = dependencyRecords(live.map((v) => recordEntry(v, false)));
        if (this.depRecords.size > 50_000) this.depRecords.clear();
        this.depRecords.set(name, records);
      }
      out.push(...records);
    }
    return out;
  }

  /** The time derived files last changed, to the second. */
  lastModified(): Date {
    return this.modified;
  }
}
