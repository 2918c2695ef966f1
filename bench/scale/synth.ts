/**
 * A synthetic catalog as large as rubygems.org, deterministic (seeded): gem names, versions with
 * realistic shapes, and the spec JSON the catalog stores, without building a single .gem file.
 *
 * - Names: words joined by "-" or "_" (a few with capitals), unique ignoring case.
 * - Versions per gem: heavy-tailed (Pareto, alpha 1.2; most gems have 1-5 versions, a few
 *   hundreds), scaled so the total is exactly the asked number; ~8% prereleases (x.y.z.beta1,
 *   .rc2, .pre); native gems (~4% of names) also publish every few releases for platforms such as
 *   java, x86_64-linux, x64-mingw32, arm64-darwin; ~1.5% of versions yanked.
 * - Publication times from 2009 to 2025, increasing within a gem; version ids follow publication
 *   time across all gems, so a gem's rows are scattered through the table as on a real server.
 * - Specs: 0-10 runtime dependencies (skewed towards popular gems, requirements like "~> 1.2",
 *   ">= 0", ">= 1.4, < 3"), 0-3 development dependencies, required_ruby_version on about half,
 *   summary, description, authors, homepage, licenses, metadata URIs. About 1 KiB of JSON each.
 *
 * Two passes: plan() lays out every gem and version cheaply; specJson(gem, version) builds a
 * version's spec from its gem's profile and its own fields only, so specs can be made again in any
 * order (per gem for the /info MD5, then in id order for the insert).
 */
import type { Dependency, GemSpec, Requirement } from '../../src/gem/spec.ts';

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

/** A 32-bit hash of a few integers (for per-version choices that must not depend on order). */
export function mix(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x & 0xffff), 16777619);
    h = Math.imul(h ^ (x >>> 16), 16777619);
  }
  h ^= h >>> 13;
  h = Math.imul(h, 0x5bd1e995);
  return (h ^ (h >>> 15)) >>> 0;
}

const WORDS = (
  'active acts ad api app asset async auth aws azure base bench billing blog boot bootstrap bundle ' +
  'cache calendar capistrano carrier cask chef chart cli client cloud cocoa code color config cookie ' +
  'core cron crypto csv dash data date db debug devise diff doc docker dry easy elastic email engine ' +
  'event excel factory faker fast feed file flow form fog font geo git github google graph grape ' +
  'grid guard hash health helper hook html http i18n image import io jekyll job json jwt kafka kit ' +
  'lambda lint list log logger mail map markdown memo meta middleware mini mobile model mongo money ' +
  'net news oauth omniauth open page parser pay pdf plugin poly pry push queue rack rails rake ' +
  'react record redis remote report request resque rest rspec ruby s3 sass scope search secure ' +
  'sequel service shop sidekiq simple slack slug sms social solid spec sql stack state store stream ' +
  'stripe style sync table tag task test text theme time token tool tracker tree twitter type ui ' +
  'upload url user util validator view vue web webhook widget worker xml yaml zen'
).split(' ');

export const PLATFORMS = [
  'java',
  'x86_64-linux',
  'x64-mingw32',
  'arm64-darwin',
  'x86_64-darwin',
  'aarch64-linux',
  'x86-mingw32',
  'x64-mingw-ucrt',
  'x86_64-linux-musl',
];

export interface GemPlan {
  id: number;
  name: string;
  /** Index of the first version in the plan's version list (versions of a gem are contiguous). */
  first: number;
  count: number;
  /** Popularity rank is the index; dependencies point at low indexes more often. */
  seed: number;
}

export interface VersionPlan {
  gem: number;
  /** Position within its gem (0 = first published). */
  k: number;
  number: string;
  platform: string;
  prerelease: boolean;
  /** Release era (increments on each minor or major bump): dependencies change with it. */
  era: number;
  /** Publication time, seconds since the epoch. */
  t: number;
  yanked: boolean;
}

export interface Plan {
  gems: GemPlan[];
  /** Grouped by gem (gem 0's versions, then gem 1's, ...), each gem's in publication order. */
  versions: VersionPlan[];
  /** Indexes into `versions`, in publication order across all gems: row i gets id i + 1. */
  order: Uint32Array;
}

const START = Date.UTC(2009, 0, 1) / 1000;
const END = Date.UTC(2025, 11, 31) / 1000;

function names(n: number, r: () => number): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const w = () => WORDS[Math.floor(r() * WORDS.length)]!;
  while (out.length < n) {
    const shape = r();
    let name =
      shape < 0.25
        ? `${w()}-${w()}`
        : shape < 0.45
          ? `${w()}_${w()}`
          : shape < 0.7
            ? `${w()}-${w()}-${w()}`
            : shape < 0.8
              ? `${w()}${w()}`
              : shape < 0.9
                ? `${w()}-${w()}-${Math.floor(r() * 100)}`
                : `${w()}_${w()}_${w()}`;
    if (r() < 0.01) name = name[0]!.toUpperCase() + name.slice(1);
    let candidate = name;
    for (let i = 2; seen.has(candidate.toLowerCase()); i++) candidate = `${name}${i}`;
    seen.add(candidate.toLowerCase());
    out.push(candidate);
  }
  return out;
}

/** Versions per gem: Pareto weights scaled (by bisection) so they sum to exactly `total`. */
function counts(n: number, total: number, r: () => number): number[] {
  if (total < n) throw new Error(`--versions (${total}) must be at least --names (${n})`);
  const w = Array.from({ length: n }, () => Math.min(2000, (1 / (1 - r() * 0.999999)) ** (1 / 1.2)));
  const sum = (s: number) => w.reduce((a, x) => a + Math.max(1, Math.round(x * s)), 0);
  let lo = 0;
  let hi = 1;
  while (sum(hi) < total) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (sum(mid) < total) lo = mid;
    else hi = mid;
  }
  const c = w.map((x) => Math.max(1, Math.round(x * hi)));
  let diff = c.reduce((a, x) => a + x, 0) - total;
  let i = 0;
  while (diff !== 0) {
    const j = Math.floor(r() * n);
    if (diff > 0 && c[j]! > 1) {
      c[j]!--;
      diff--;
    } else if (diff < 0) {
      c[j]!++;
      diff++;
    }
    if (++i > 100 * n) throw new Error('could not balance the version counts');
  }
  return c;
}

export function plan(nNames: number, nVersions: number, seed: number): Plan {
  const r = rng(seed);
  const gemNames = names(nNames, r);
  const per = counts(nNames, nVersions, r);
  const gems: GemPlan[] = [];
  const versions: VersionPlan[] = [];
  for (let g = 0; g < nNames; g++) {
    const count = per[g]!;
    const gs = mix(seed, g);
    const gr = rng(gs);
    gems.push({ id: g + 1, name: gemNames[g]!, first: versions.length, count, seed: gs });
    const native = gr() < 0.04 || (count > 40 && gr() < 0.1);
    const platforms = native
      ? PLATFORMS.filter(() => gr() < 0.45).slice(0, 6) // may be empty: then plain ruby only
      : [];
    let major = gr() < 0.4 ? 0 : Math.floor(gr() * 4) + 1;
    let minor = Math.floor(gr() * 5);
    let patch = Math.floor(gr() * 3);
    let era = 0;
    let pre = 0;
    const span = END - START;
    const t0 = START + Math.floor(gr() * span * 0.95);
    const step = Math.max(60, Math.floor(((END - t0) / count) * 0.9));
    let t = t0;
    let k = 0;
    let lastRelease: string | null = null;
    const used = new Set<string>();
    while (k < count) {
      t += 1 + Math.floor(gr() * step * 2);
      if (t > END) t = END - (count - k); // squeeze the tail in, still increasing
      // Platform builds of the last release, once it exists.
      if (lastRelease && platforms.length > 0 && gr() < 0.5) {
        for (const p of platforms) {
          if (k >= count) break;
          versions.push({
            gem: g,
            k: k++,
            number: lastRelease,
            platform: p,
            prerelease: false,
            era,
            t: t++,
            yanked: gr() < 0.015,
          });
        }
        lastRelease = null;
        continue;
      }
      const bump = gr();
      let np = patch + 1;
      let nm = minor;
      let nM = major;
      if (bump > 0.92) {
        nM = major + 1;
        nm = 0;
        np = 0;
      } else if (bump > 0.7) {
        nm = minor + 1;
        np = 0;
      }
      const next = `${nM}.${nm}.${np}`;
      if (gr() < 0.087) {
        pre++;
        const kind = gr();
        const tag = kind < 0.45 ? `beta${pre}` : kind < 0.8 ? `rc${pre}` : kind < 0.9 ? `alpha${pre}` : 'pre';
        if (used.has(`${next}.${tag}`)) continue;
        used.add(`${next}.${tag}`);
        versions.push({
          gem: g,
          k: k++,
          number: `${next}.${tag}`,
          platform: 'ruby',
          prerelease: true,
          era,
          t,
          yanked: gr() < 0.015,
        });
        continue;
      }
      pre = 0;
      if (nM !== major || nm !== minor) era++;
      major = nM;
      minor = nm;
      patch = np;
      versions.push({
        gem: g,
        k: k++,
        number: next,
        platform: 'ruby',
        prerelease: false,
        era,
        t,
        yanked: gr() < 0.015,
      });
      lastRelease = next;
    }
  }
  const order = new Uint32Array(versions.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => {
    const x = versions[a]!;
    const y = versions[b]!;
    return x.t - y.t || x.gem - y.gem || x.k - y.k;
  });
  return { gems, versions, order };
}

// ---- specs ----------------------------------------------------------------------------------

const LICENSES = ['MIT', 'MIT', 'MIT', 'Apache-2.0', 'BSD-3-Clause', 'GPL-3.0', 'Ruby'];
const FIRST = ['Ada', 'Ben', 'Chen', 'Dana', 'Eli', 'Femi', 'Gus', 'Hana', 'Ivan', 'Jo', 'Kenji', 'Lea'];
const LAST = ['Smith', 'Ito', 'Novak', 'Garcia', 'Okafor', 'Larsen', 'Kim', 'Rossi', 'Dubois', 'Silva'];
const LOREM =
  'provides a small and fast way to work with the thing it is named after, with sensible defaults, ' +
  'thread safety, no runtime dependencies beyond the ones listed, and an API that stays out of the way. ' +
  'It supports Ruby 2.7 and later, JRuby and TruffleRuby, and is tested on Linux, macOS and Windows.';

/** The parts of a spec shared by every version of a gem. */
interface Profile {
  summary: string;
  description: string | null;
  authors: string[];
  email: string | string[] | null;
  homepage: string | null;
  licenses: string[];
  metadata: Record<string, string>;
  /** Candidate runtime dependencies (gem indexes), in gemspec order. */
  runtime: number[];
  development: number[];
  rubyFloor: string | null;
  executables: string[];
  extensions: string[];
}

const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)]!;

function runtimeCount(r: () => number): number {
  const u = r();
  const cdf = [0.3, 0.5, 0.65, 0.75, 0.82, 0.87, 0.91, 0.94, 0.96, 0.98, 1];
  return cdf.findIndex((p) => u < p);
}

export function profile(p: Plan, g: number): Profile {
  const gem = p.gems[g]!;
  const r = rng(gem.seed ^ 0x9e3779b9);
  const n = p.gems.length;
  // Popular gems (low indexes) are depended on far more often: index = n * u^3.
  const dep = () => {
    for (;;) {
      const d = Math.floor(n * r() ** 3);
      if (d !== g) return d;
    }
  };
  const runtime = [...new Set(Array.from({ length: runtimeCount(r) }, dep))];
  const development = [...new Set(Array.from({ length: Math.floor(r() * 4) }, dep))];
  const authors = Array.from(
    { length: 1 + Math.floor(r() * r() * 3) },
    () => `${pick(FIRST, r)} ${pick(LAST, r)}`,
  );
  const home = `https://github.com/${authors[0]!.split(' ')[1]!.toLowerCase()}/${gem.name}`;
  const metadata: Record<string, string> = {};
  if (r() < 0.5) {
    metadata['homepage_uri'] = home;
    metadata['source_code_uri'] = home;
    metadata['changelog_uri'] = `${home}/blob/main/CHANGELOG.md`;
    if (r() < 0.5) metadata['rubygems_mfa_required'] = 'true';
  }
  const descLen = Math.floor(r() * LOREM.length);
  return {
    summary: `${gem.name.replace(/[-_]/g, ' ')}: ${LOREM.slice(0, 30 + Math.floor(r() * 60))}`.trim(),
    description: r() < 0.2 ? null : `${gem.name} ${LOREM.slice(0, descLen)}`,
    authors,
    email:
      r() < 0.1
        ? null
        : r() < 0.8
          ? `${authors[0]!.split(' ')[0]!.toLowerCase()}@example.com`
          : ['a@example.com', 'b@example.com'],
    homepage: r() < 0.15 ? null : home,
    licenses: r() < 0.1 ? [] : [pick(LICENSES, r)],
    metadata,
    runtime,
    development,
    rubyFloor: r() < 0.5 ? pick(['2.3.0', '2.5', '2.6.0', '2.7.0', '3.0', '3.1.0'], r) : null,
    executables: r() < 0.1 ? [gem.name] : [],
    extensions: r() < 0.04 ? ['ext/extconf.rb'] : [],
  };
}

/** A requirement on gem `d` as of era `era`: "~> 1.2", ">= 0", ">= 1.4, < 3", "= 2.1.0" ... */
function requirement(d: number, h: number): Requirement {
  const a = h % 7;
  const b = (h >>> 3) % 10;
  const c = (h >>> 7) % 20;
  switch ((h >>> 12) % 10) {
    case 0:
    case 1:
      return [{ op: '>=', version: '0' }];
    case 2:
    case 3:
    case 4:
      return [{ op: '~>', version: `${a}.${b}` }];
    case 5:
      return [{ op: '~>', version: `${a}.${b}.${c}` }];
    case 6:
      return [{ op: '>=', version: `${a}.${b}.${c}` }];
    case 7:
      return [
        { op: '>=', version: `${a}.${b}` },
        { op: '<', version: `${a + 1 + (d % 2)}` },
      ];
    case 8:
      return [
        { op: '~>', version: `${a}.${b}` },
        { op: '>=', version: `${a}.${b}.${c}` },
      ];
    default:
      return [{ op: '=', version: `${a}.${b}.${c}` }];
  }
}

/** The spec of one version, as GemService stores it (spec.version normalized, platform original). */
export function spec(p: Plan, prof: Profile, v: VersionPlan): GemSpec {
  const gem = p.gems[v.gem]!;
  // The dependency list changes with the era: one more or one fewer, requirements re-rolled.
  const h = mix(gem.seed, v.era);
  const keep = Math.max(0, prof.runtime.length - (h % 3 === 0 ? 1 : 0));
  const deps: Dependency[] = prof.runtime.slice(0, keep).map((d) => ({
    name: p.gems[d]!.name,
    requirement: requirement(d, mix(h, d)),
    type: 'runtime',
    prerelease: false,
  }));
  for (const d of prof.development)
    deps.push({
      name: p.gems[d]!.name,
      requirement: requirement(d, mix(h, d, 1)),
      type: 'development',
      prerelease: false,
    });
  const day = new Date(Math.floor(v.t / 86400) * 86400 * 1000);
  return {
    name: gem.name,
    version: v.number,
    platform: v.platform,
    summary: prof.summary,
    description: prof.description,
    authors: prof.authors,
    email: prof.email,
    homepage: prof.homepage,
    licenses: prof.licenses,
    metadata: prof.metadata,
    date: day,
    dependencies: deps,
    requiredRubyVersion:
      prof.rubyFloor && v.era > 0 ? [{ op: '>=', version: prof.rubyFloor }] : [{ op: '>=', version: '0' }],
    requiredRubygemsVersion: v.prerelease ? [{ op: '>', version: '1.3.1' }] : [{ op: '>=', version: '0' }],
    rubygemsVersion: pick(['3.1.6', '3.3.15', '3.4.10', '3.5.3'], rng(h)),
    specificationVersion: 4,
    bindir: 'exe',
    executables: prof.executables,
    extensions: v.platform === 'ruby' ? prof.extensions : [],
    requirePaths: ['lib'],
    postInstallMessage: null,
    certChain: [],
  };
}

export const iso = (t: number): string => new Date(t * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
