/**
 * A synthetic gem source for the mirror tests and benchmark (issue 12): about N deterministic .gem
 * files built in TypeScript (makeGem), with real dependency trees, platform variants, prereleases
 * and development dependencies, written as DIR/NAME-VERSION[-PLATFORM].gem for `quarry import`.
 *
 * Shape (seeded, so every run builds the same bytes):
 * - names `mx-0001`, `mx-0002`, ...; the first BASE of them are foundation gems that others lean on
 *   (like rack or activesupport), the rest depend on foundation gems and on recent neighbours;
 * - 1-4 stable versions per name (x.y.z, ascending), sometimes a newer prerelease (x.y.z.rc1 / .beta2);
 * - about 8% of versions also published for java or x86_64-linux;
 * - 0-3 runtime dependencies on earlier names, each constraint satisfied by the dependency's newest
 *   stable ruby version (`>= A`, `~> X.Y`, `>= A` + `< M`, or none), so choosing the newest of everything
 *   resolves and Bundler always finds a solution; older versions have fewer dependencies;
 * - some development dependencies, on names that nothing depends on at run time.
 *
 * The expected closure of a mirror is computed by real RubyGems (expectedClosure), independently of
 * src/index/closure.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeGem } from './make-gem.ts';
import { cleanEnv, describeRun, runSync } from './ruby.ts';

export type Dep = [name: string, ...constraints: string[]];

export interface GenGem {
  name: string;
  version: string;
  /** ruby, java or x86_64-linux. */
  platform: string;
  deps: Dep[];
  devDeps: Dep[];
  /** NAME-VERSION[-PLATFORM] (no .gem). */
  file: string;
  /** Size of the uncompressible payload in the package (0: none). */
  payload: number;
}

export interface GenerateOptions {
  /** How many .gem files, about (the last name's versions may go a little over). */
  count: number;
  seed?: number;
  /** Name prefix (default mx). */
  prefix?: string;
  /** Foundation names (default 40). */
  base?: number;
  /**
   * Payload size of each gem in bytes (default: none). Called once per gem, in order; it draws from
   * its own random numbers, so sources with and without payloads have the same gems.
   */
  payloadSize?: () => number;
}

/** mulberry32: a small, fast, seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const fileOf = (name: string, version: string, platform: string): string =>
  platform === 'ruby' ? `${name}-${version}` : `${name}-${version}-${platform}`;

interface NameDef {
  name: string;
  /** Stable versions, ascending. */
  stable: string[];
  pre: string | null;
}

const PLATFORMS = ['java', 'x86_64-linux'];

/** The gems of the source, in name order then version order. */
export function generateGems(o: GenerateOptions): GenGem[] {
  const r = rng(o.seed ?? 12);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const prefix = o.prefix ?? 'mx';
  const base = o.base ?? 40;
  const names: NameDef[] = [];
  const gems: GenGem[] = [];
  const payload = () => (o.payloadSize ? Math.max(0, Math.round(o.payloadSize())) : 0);
  for (let i = 0; gems.length < o.count; i++) {
    const name = `${prefix}-${String(i + 1).padStart(4, '0')}`;
    let major = Math.floor(r() * 4);
    let minor = Math.floor(r() * 10);
    let patch = Math.floor(r() * 3);
    const stable: string[] = [];
    const n = 1 + Math.floor(r() * r() * 4);
    for (let k = 0; k < n; k++) {
      if (k > 0) {
        const step = r();
        if (step < 0.15) [major, minor, patch] = [major + 1, 0, 0];
        else if (step < 0.55) [minor, patch] = [minor + 1, 0];
        else patch += 1;
      }
      stable.push(`${major}.${minor}.${patch}`);
    }
    const pre = r() < 0.12 ? `${major + 1}.0.0.${pick(['rc1', 'beta2', 'pre'])}` : null;
    const def: NameDef = { name, stable, pre };

    // Runtime dependencies of the newest version: earlier names, foundation ones more often.
    const deps: Dep[] = [];
    const pool = names.length;
    if (pool > 0) {
      const howMany = r() < 0.3 ? 0 : 1 + Math.floor(r() * 3);
      const chosen = new Set<number>();
      for (let k = 0; k < howMany; k++) {
        let j: number;
        if (i < base) j = Math.floor(r() * pool);
        else if (r() < 0.6) j = Math.floor(r() * Math.min(base, pool));
        else j = pool - 1 - Math.floor(r() * Math.min(25, pool));
        chosen.add(j);
      }
      for (const j of [...chosen].sort((a, b) => a - b)) deps.push(constraintOn(names[j]!, r));
    }
    // A development dependency on a name nothing needs at run time (the tail of the source).
    const devDeps: Dep[] = r() < 0.25 ? [[`${prefix}-dev-${1 + Math.floor(r() * 3)}`, '>= 0']] : [];

    const versions = [...stable, ...(pre ? [pre] : [])];
    versions.forEach((version, k) => {
      // Older versions have fewer dependencies (the newest stable and the prerelease have them all).
      const keep = version === pre || k === stable.length - 1 ? deps.length : Math.min(deps.length, k);
      const vdeps = deps.slice(0, keep);
      const platforms = ['ruby'];
      if (r() < 0.08) platforms.push(pick(PLATFORMS));
      for (const platform of platforms) {
        gems.push({
          name,
          version,
          platform,
          deps: vdeps,
          devDeps,
          file: fileOf(name, version, platform),
          payload: payload(),
        });
      }
    });
    names.push(def);
  }
  // The development-only names, so that a wrongly followed development dependency would be found.
  for (let k = 1; k <= 3; k++) {
    const name = `${prefix}-dev-${k}`;
    gems.push({
      name,
      version: '1.0.0',
      platform: 'ruby',
      deps: [],
      devDeps: [],
      file: fileOf(name, '1.0.0', 'ruby'),
      payload: payload(),
    });
  }
  return gems;
}

/** A constraint on dep that its newest stable version satisfies. */
function constraintOn(dep: NameDef, r: () => number): Dep {
  const newest = dep.stable.at(-1)!;
  const [maj, min] = newest.split('.');
  const some = dep.stable[Math.floor(r() * dep.stable.length)]!;
  const x = r();
  if (x < 0.3) return [dep.name, `>= ${some}`];
  if (x < 0.6) return [dep.name, `~> ${maj}.${min}`];
  if (x < 0.8) return [dep.name, `>= ${some}`, `< ${Number(maj) + 1}`];
  return [dep.name];
}

/** The .gem bytes of one generated gem (deterministic for a given payload seed). */
export function buildGem(g: GenGem): Buffer {
  let payload: Buffer | undefined;
  if (g.payload > 0) {
    // Uncompressible but deterministic bytes: a PRNG stream seeded by the file name.
    let seed = 0;
    for (const c of g.file) seed = (Math.imul(seed, 31) + c.charCodeAt(0)) >>> 0;
    const next = rng(seed);
    payload = Buffer.alloc(g.payload);
    for (let i = 0; i + 4 <= g.payload; i += 4) payload.writeUInt32LE(Math.floor(next() * 4294967296), i);
  }
  return makeGem({
    name: g.name,
    version: g.version,
    ...(g.platform === 'ruby' ? {} : { platform: g.platform }),
    deps: g.deps,
    devDeps: g.devDeps,
    ...(payload ? { payload } : {}),
  });
}

/** Writes each gem as DIR/FILE.gem; returns the total size in bytes. */
export function writeGems(dir: string, gems: readonly GenGem[]): number {
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  for (const g of gems) {
    const body = buildGem(g);
    bytes += body.length;
    writeFileSync(join(dir, `${g.file}.gem`), body);
  }
  return bytes;
}

export interface ClosureQuery {
  /** Named gems with their constraints (none: every version). */
  roots: Dep[];
  platforms?: string[];
  pre?: boolean;
  /** Names never taken (nor followed), as `--exclude NAME`. */
  exclude?: string[];
}

/**
 * The files a mirror of `roots` must fetch, by RubyGems' own Gem::Requirement and Gem::Version: every
 * version satisfying each requirement met along the way, on the listed platforms (ruby by default),
 * without prereleases unless asked (or a requirement names one), following runtime dependencies
 * only. `gems` is what the upstream serves (leave out yanked versions). Sorted file names.
 */
export function expectedClosure(gems: readonly GenGem[], q: ClosureQuery): string[] {
  const input = JSON.stringify({
    gems: gems.map((g) => ({ n: g.name, v: g.version, p: g.platform, d: g.deps, f: g.file })),
    roots: q.roots,
    platforms: q.platforms ?? ['ruby'],
    pre: q.pre ?? false,
    exclude: q.exclude ?? [],
  });
  const r = runSync('ruby', ['-e', CLOSURE_RB], { input, env: cleanEnv(), timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(describeRun('ruby (expected closure)', r));
  return (JSON.parse(r.stdout) as string[]).sort();
}

const CLOSURE_RB = `
require 'json'
q = JSON.parse($stdin.read)
by_name = Hash.new { |h, k| h[k] = [] }
q['gems'].each { |g| by_name[g['n']] << g }
chosen = {}
seen = {}
queue = q['roots'].map { |name, *reqs| [name, reqs] }
until queue.empty?
  name, reqs = queue.shift
  next if q['exclude'].include?(name)
  req = Gem::Requirement.new(*(reqs.empty? ? ['>= 0'] : reqs))
  next if seen[[name, req.to_s]]
  seen[[name, req.to_s]] = true
  by_name[name].each do |g|
    v = Gem::Version.new(g['v'])
    next unless q['platforms'].include?(g['p'])
    next if v.prerelease? && !q['pre'] && !req.prerelease?
    next unless req.satisfied_by?(v)
    next if chosen[g['f']]
    chosen[g['f']] = true
    g['d'].each { |dn, *dreqs| queue << [dn, dreqs] }
  end
end
puts JSON.generate(chosen.keys)
`;
