/**
 * One source at one URL: the hosted gems and one upstream's, merged. Private names win, by name:
 * once a name is published here (even if every version was yanked since), no upstream version of it
 * appears in any index or download. Names matching the upstream's `exclude` patterns are never
 * asked of it.
 *
 * /versions is the upstream's header and lines without the private and excluded names, then the
 * hosted lines. Every MD5 in it is that of the /info body this source serves for the name: hosted
 * lines carry the hosted MD5s, upstream lines the upstream's, and an upstream /info whose MD5 no
 * longer matches the upstream's /versions is revalidated before it is served. Hosted changes append
 * to the end, so clients update those with a Range request; an upstream change makes them fetch the
 * whole file once (they check its Repr-Digest).
 */
import type { VersionRecord } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';
import { isValidGemName } from '../gem/name.ts';
import { compareVersions } from '../gem/version.ts';
import { namesBody } from '../index/compact.ts';
import type { ParsedInfoLine } from '../index/compact-parse.ts';
import type { DependencyRecord } from '../index/dependencies.ts';
import { dependenciesMarshal } from '../index/dependencies.ts';
import type { LegacyFile } from '../index/legacy.ts';
import { legacyFiles, legacyLists } from '../index/legacy.ts';
import type { Maybe } from '../util/maybe.ts';
import type { IndexView, Representation } from './index-view.ts';
import { represent } from './index-view.ts';
import type { UpstreamSource } from './upstream-source.ts';

/** What the read routes need of an index: the hosted IndexView, or a merged one. */
export interface ReadIndex {
  versionsFile(): Maybe<Representation>;
  namesFile(): Maybe<Representation>;
  info(name: string): Maybe<Representation | null>;
  legacyFile(file: string): Maybe<Representation | null>;
  quickSpec(fullName: string): Maybe<Buffer | null>;
  gemFile(fullName: string): Maybe<GemFileRef | null>;
  dependencies(names: readonly string[]): Promise<DependencyRecord[]>;
  dependenciesBody(names: readonly string[]): Maybe<Buffer>;
}

/** A .gem to serve: its blob and where it came from. */
export type GemFileRef = Pick<VersionRecord, 'sha256' | 'size'> & { source?: string };

/** `name-version[-platform]` split at each '-' that starts a version: (name, token) candidates. */
export function fileCandidates(fullName: string): { name: string; token: string }[] {
  const out: { name: string; token: string }[] = [];
  for (let i = fullName.indexOf('-'); i > 0; i = fullName.indexOf('-', i + 1)) {
    const c = fullName.charCodeAt(i + 1);
    if (c >= 48 && c <= 57) {
      const name = fullName.slice(0, i);
      if (isValidGemName(name)) out.push({ name, token: fullName.slice(i + 1) });
    }
  }
  return out;
}

const splitToken = (token: string): { version: string; platform: string } => {
  const i = token.indexOf('-');
  return i < 0
    ? { version: token, platform: 'ruby' }
    : { version: token.slice(0, i), platform: token.slice(i + 1) };
};

export class MergedIndex implements ReadIndex {
  private versionsCache: { key: string; rep: Representation } | null = null;
  private namesCache: { key: string; rep: Representation } | null = null;
  private legacyCache: { key: string; files: Map<string, Representation> } | null = null;
  private legacyBuild: Promise<Map<string, Representation>> | null = null;

  /**
   * @param alone the upstream alone (/upstream/NAME): no hosted gems, but private names stay hidden.
   */
  constructor(
    private readonly hosted: IndexView,
    readonly upstream: UpstreamSource,
    private readonly alone = false,
  ) {}

  private async privateNames(): Promise<ReadonlySet<string>> {
    return this.hosted.hostedNames();
  }

  /** Upstream names served here: not private, not excluded. */
  private servesUpstream(name: string, hosted: ReadonlySet<string>): boolean {
    return !hosted.has(name) && this.upstream.allows(name);
  }

  async versionsFile(): Promise<Representation> {
    const [up, hostedRep, hosted] = await Promise.all([
      this.upstream.versions(),
      this.hosted.versionsFile(),
      this.privateNames(),
    ]);
    const key = `${up.doc.sha256} ${hostedRep.md5}`;
    if (this.versionsCache?.key === key) return this.versionsCache.rep;
    const src = up.doc.body;
    const parts: Buffer[] = [src.subarray(0, up.bodyStart)];
    let start = up.bodyStart;
    let keepFrom = start;
    while (start < src.length) {
      let end = src.indexOf(10, start);
      if (end < 0) end = src.length - 1;
      const space = src.indexOf(32, start);
      const name = src.toString('latin1', start, space > start && space < end ? space : end);
      if (!this.servesUpstream(name, hosted)) {
        if (start > keepFrom) parts.push(src.subarray(keepFrom, start));
        keepFrom = end + 1;
      }
      start = end + 1;
    }
    if (keepFrom < src.length) parts.push(src.subarray(keepFrom));
    const h = hostedRep.body;
    const sep = h.indexOf('\n---\n');
    if (sep >= 0 && !this.alone) parts.push(h.subarray(sep + 5));
    const modified = new Date(Math.max(up.doc.checkedAt, hostedRep.modified.getTime()));
    const rep = represent(Buffer.concat(parts), new Date(Math.floor(modified.getTime() / 1000) * 1000));
    this.versionsCache = { key, rep };
    return rep;
  }

  async namesFile(): Promise<Representation> {
    const [up, hostedNames, live] = await Promise.all([
      this.upstream.versions(),
      this.privateNames(),
      this.hosted.namesFile(),
    ]);
    const key = `${up.doc.sha256} ${live.md5}`;
    if (this.namesCache?.key === key) return this.namesCache.rep;
    const names = new Set<string>();
    for (const [name, v] of up.live)
      if (v.tokens.length > 0 && this.servesUpstream(name, hostedNames)) names.add(name);
    const hostedLive = live.body.toString('utf8').split('\n').slice(1);
    if (!this.alone) for (const n of hostedLive) if (n !== '' && n !== '---') names.add(n);
    const sorted = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const rep = represent(namesBody(sorted), new Date(Math.max(up.doc.checkedAt, live.modified.getTime())));
    this.namesCache = { key, rep };
    return rep;
  }

  async info(name: string): Promise<Representation | null> {
    const hosted = await this.privateNames();
    if (hosted.has(name)) return this.alone ? null : this.hosted.info(name);
    if (!this.upstream.allows(name)) return null;
    // The MD5 the merged /versions gives for the name (when /versions is to be had), asked together
    // with /info: a failing upstream costs one deadline, not two in a row.
    const expecting = this.upstream.versions().then(
      (v) => v.live.get(name)?.infoMd5,
      (e: unknown) => {
        if (e instanceof QuarryError) return undefined;
        throw e;
      },
    );
    const [expect, first] = await Promise.all([expecting, this.upstream.info(name)]);
    // A body that no longer matches that MD5 is revalidated at once.
    const doc = first && expect && first.rep.md5 !== expect ? await this.upstream.info(name, expect) : first;
    return doc ? doc.rep : null;
  }

  async legacyFile(file: string): Promise<Representation | null> {
    const [up, hostedRep] = await Promise.all([this.upstream.versions(), this.hosted.versionsFile()]);
    const key = `${up.doc.sha256} ${hostedRep.md5}`;
    if (this.legacyCache?.key !== key) {
      this.legacyBuild ??= this.buildLegacy(key).finally(() => {
        this.legacyBuild = null;
      });
      const files = await this.legacyBuild;
      if (this.legacyCache?.key !== key) return files.get(file) ?? null;
    }
    return this.legacyCache!.files.get(file) ?? null;
  }

  private async buildLegacy(key: string): Promise<Map<string, Representation>> {
    const [up, hosted, tuples] = await Promise.all([
      this.upstream.versions(),
      this.privateNames(),
      this.hosted.liveTuples(),
    ]);
    const entries: { name: string; version: string; platform: string }[] = [];
    if (!this.alone)
      for (const t of tuples) entries.push({ name: t.name, version: t.number, platform: t.platform });
    for (const [name, v] of up.live) {
      if (!this.servesUpstream(name, hosted)) continue;
      for (const token of v.tokens) entries.push({ name, ...splitToken(token) });
    }
    const files: LegacyFile[] = legacyFiles(legacyLists(entries));
    const old = this.legacyCache?.files;
    const modified = new Date(Math.floor(up.doc.checkedAt / 1000) * 1000);
    const map = new Map<string, Representation>();
    for (const f of files) {
      const rep = represent(f.body, modified);
      const prev = old?.get(f.path);
      map.set(f.path, prev && prev.sha256 === rep.sha256 ? prev : rep);
    }
    this.legacyCache = { key, files: map };
    return map;
  }

  async quickSpec(fullName: string): Promise<Buffer | null> {
    const own = this.alone ? null : await this.hosted.quickSpec(fullName);
    if (own) return own;
    const hosted = await this.privateNames();
    for (const c of fileCandidates(fullName)) {
      if (!this.servesUpstream(c.name, hosted)) continue;
      const body = await this.upstream.quickSpec(c.name, `${fullName}.gemspec.rz`);
      if (body) return body;
    }
    return null;
  }

  async gemFile(fullName: string): Promise<GemFileRef | null> {
    const own = this.alone ? null : await this.hosted.gemFile(fullName);
    if (own) return own;
    const hosted = await this.privateNames();
    const candidates = fileCandidates(fullName).filter((c) => this.servesUpstream(c.name, hosted));
    if (candidates.length === 0) return null;
    // A cached gem stays downloadable after the upstream yanks it, and while it is down.
    // /versions only tells candidates apart: a single one (a cached .gem above all) does not wait for it.
    let live: { has(name: string): boolean } | null = null;
    if (candidates.length > 1) {
      try {
        live = (await this.upstream.versions()).live;
      } catch (e) {
        if (!(e instanceof QuarryError)) throw e;
      }
    }
    for (const c of candidates) {
      if (live && !live.has(c.name) && candidates.length > 1) continue;
      const g = await this.upstream.gem(c.name, c.token, fullName);
      if (g) return { sha256: g.sha256, size: g.size, source: this.upstream.name };
    }
    return null;
  }

  async dependencies(names: readonly string[]): Promise<DependencyRecord[]> {
    const hosted = await this.privateNames();
    const out: DependencyRecord[] = [];
    for (const name of names) {
      if (hosted.has(name)) {
        if (!this.alone) out.push(...(await this.hosted.dependencies([name])));
        continue;
      }
      if (!this.upstream.allows(name)) continue;
      const lines = await this.upstream.infoLines(name);
      for (const l of lines ?? []) {
        out.push({
          name,
          number: l.version,
          platform: l.platform,
          dependencies: l.dependencies.map((d) => [d.name, d.requirements.join(', ')]),
        });
      }
    }
    return out;
  }

  /**
   * The JSON API's view of an upstream gem (its newest release, else its newest version), saying
   * where it comes from; null for private, excluded or unknown names.
   */
  async describe(name: string, baseUrl: string): Promise<Record<string, unknown> | null> {
    const hosted = await this.privateNames();
    if (!this.servesUpstream(name, hosted)) return null;
    const lines = await this.upstream.infoLines(name);
    if (!lines || lines.length === 0) return null;
    const pre = (v: string) => /[a-zA-Z]/.test(v);
    const newest = (ls: ParsedInfoLine[]) =>
      ls.reduce<ParsedInfoLine | null>(
        (best, l) => (!best || compareVersions(l.version, best.version) > 0 ? l : best),
        null,
      );
    const l = newest(lines.filter((x) => !pre(x.version))) ?? newest(lines)!;
    const file = l.platform === 'ruby' ? `${name}-${l.version}` : `${name}-${l.version}-${l.platform}`;
    const cached = await this.upstream.cachedGem(file);
    return {
      name,
      version: l.version,
      platform: l.platform,
      sha: l.checksum ?? null,
      yanked: false,
      project_uri: `${baseUrl}/gems/${name}`,
      gem_uri: `${baseUrl}/gems/${file}.gem`,
      dependencies: {
        development: [],
        runtime: l.dependencies.map((d) => ({ name: d.name, requirements: d.requirements.join(', ') })),
      },
      source: `upstream:${this.upstream.name}`,
      cached: cached !== null,
    };
  }

  /**
   * What this source knows of an upstream gem (not hosted here), for the web UI: every version of
   * its /info, newest first, each marked cached when its .gem is in the cache. null: none.
   */
  async upstreamGem(name: string): Promise<{
    upstream: string;
    versions: (ParsedInfoLine & { cached: boolean })[];
  } | null> {
    const hosted = await this.privateNames();
    if (!this.servesUpstream(name, hosted)) return null;
    const lines = await this.upstream.infoLines(name);
    if (!lines || lines.length === 0) return null;
    const sorted = [...lines].sort(
      (a, b) => -compareVersions(a.version, b.version) || (a.platform < b.platform ? -1 : 1),
    );
    const versions = await Promise.all(
      sorted.map(async (l) => {
        const file = l.platform === 'ruby' ? `${name}-${l.version}` : `${name}-${l.version}-${l.platform}`;
        return { ...l, cached: (await this.upstream.cachedGem(file)) !== null };
      }),
    );
    return { upstream: this.upstream.name, versions };
  }

  async dependenciesBody(names: readonly string[]): Promise<Buffer> {
    return dependenciesMarshal(await this.dependencies(names));
  }
}
