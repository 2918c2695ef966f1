/**
 * The legacy ("full") index: specs, latest_specs and prerelease_specs (PROTOCOL.md section 3). Pure.
 * "Latest" is per name AND platform, as rubygems.org computes it (not per name, as gem generate_index).
 */
import { gzipSync } from 'node:zlib';
import { compareVersions } from '../gem/version.ts';
import { dumpSpecTuples } from '../marshal/rubygems.ts';
import type { IndexEntry } from './entry.ts';
import { compareEntries, compareWithinGem } from './order.ts';

export interface SpecTuple {
  name: string;
  version: string;
  platform: string;
}

export interface LegacyLists {
  /** Every live release (non-prerelease) version. */
  specs: SpecTuple[];
  /** The highest release version per (name, platform). */
  latest: SpecTuple[];
  /** Every live prerelease version. */
  prerelease: SpecTuple[];
}

const tuple = (e: Pick<IndexEntry, 'name' | 'version' | 'platform'>): SpecTuple => ({
  name: e.name,
  version: e.version,
  platform: e.platform,
});

/**
 * Gem::Version#prerelease? of a normalized version string: it holds a letter. (Cheaper than a
 * full parse; entries carry normalized versions.)
 */
const prerelease = (v: string): boolean => /[a-zA-Z]/.test(v);

/** A cheap necessary condition for two versions to be equal (1.0 and 1.0.0): same digits but 0s. */
function maybeEqual(a: string, b: string): boolean {
  // a.replace(/[.0]/g, '') === b.replace(/[.0]/g, ''), without the two new strings.
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && (a.charCodeAt(i) === 46 || a.charCodeAt(i) === 48)) i++;
    while (j < b.length && (b.charCodeAt(j) === 46 || b.charCodeAt(j) === 48)) j++;
    if (i === a.length || j === b.length) return i === a.length && j === b.length;
    if (a.charCodeAt(i++) !== b.charCodeAt(j++)) return false;
  }
}

/**
 * The three lists; `sorted` says the entries already come in index order (compareEntries). Sorted
 * entries are listed as they are (not copied): the lists are for dumping, and a 1.3-million-entry
 * index then costs no second set of objects.
 */
export function legacyLists(
  entries: Iterable<Pick<IndexEntry, 'name' | 'version' | 'platform'>>,
  o: { sorted?: boolean } = {},
): LegacyLists {
  if (o.sorted) return sortedLegacyLists(entries);
  const specs: SpecTuple[] = [];
  const prereleases: SpecTuple[] = [];
  const latestBy = new Map<string, SpecTuple>();
  for (const e of entries) {
    if (prerelease(e.version)) {
      prereleases.push(tuple(e));
      continue;
    }
    const t = tuple(e);
    specs.push(t);
    const key = `${e.name}\u0000${e.platform}`;
    const cur = latestBy.get(key);
    // In index order a later release is never lower, so it is higher unless the two are equal.
    const higher = !cur
      ? true
      : o.sorted
        ? !maybeEqual(t.version, cur.version) || compareVersions(t.version, cur.version) > 0
        : compareVersions(t.version, cur.version) > 0;
    if (higher) latestBy.set(key, t);
  }
  if (!o.sorted) {
    specs.sort(compareEntries);
    prereleases.sort(compareEntries);
  }
  const latest = [...latestBy.values()].sort(compareEntries);
  return { specs, latest, prerelease: prereleases };
}

/**
 * legacyLists of entries in index order: one pass, a name at a time. Within a name a later release
 * is never lower, so it is the latest of its platform unless the two are equal (1.0 and 1.0.0).
 */
function sortedLegacyLists(
  entries: Iterable<Pick<IndexEntry, 'name' | 'version' | 'platform'>>,
): LegacyLists {
  const specs: SpecTuple[] = [];
  const prereleases: SpecTuple[] = [];
  const latest: SpecTuple[] = [];
  // The latest release per platform of the current name (a gem has few platforms).
  let name: string | undefined;
  let run: SpecTuple[] = [];
  const endRun = () => {
    if (run.length > 1) run.sort(compareWithinGem);
    for (const t of run) latest.push(t);
    run = [];
  };
  for (const e of entries) {
    if (e.name !== name) {
      endRun();
      name = e.name;
    }
    if (prerelease(e.version)) {
      prereleases.push(e);
      continue;
    }
    specs.push(e);
    let i = 0;
    while (i < run.length && run[i]!.platform !== e.platform) i++;
    const cur = run[i];
    if (!cur) run.push(e);
    else if (!maybeEqual(e.version, cur.version) || compareVersions(e.version, cur.version) > 0) run[i] = e;
  }
  endRun();
  return { specs, latest, prerelease: prereleases };
}

export interface LegacyFile {
  /** File name relative to the index root, e.g. `specs.4.8.gz`. */
  path: string;
  body: Buffer;
}

/** The six legacy index files: raw Marshal `.4.8` and gzipped `.4.8.gz` for each list. */
export function legacyFiles(lists: LegacyLists): LegacyFile[] {
  const out: LegacyFile[] = [];
  for (const [base, list] of [
    ['specs', lists.specs],
    ['latest_specs', lists.latest],
    ['prerelease_specs', lists.prerelease],
  ] as const) {
    const raw = dumpSpecTuples(list);
    out.push({ path: `${base}.4.8`, body: raw });
    out.push({ path: `${base}.4.8.gz`, body: gzipSync(raw) });
  }
  return out;
}
