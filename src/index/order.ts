/** The one ordering every index uses for entries it lists (pure). */
import { compareVersions } from '../gem/version.ts';
import type { IndexEntry } from './entry.ts';

const byteCompare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** ruby first, then other platforms by byte order (Gem::Platform.sort_priority, made total). */
export const comparePlatforms = (a: string, b: string): number =>
  a === b ? 0 : a === 'ruby' ? -1 : b === 'ruby' ? 1 : byteCompare(a, b);

/**
 * Within one gem: Gem::Version order, then the version string (1.0 before 1.0.0 when both exist),
 * then platform.
 */
export function compareWithinGem(
  a: Pick<IndexEntry, 'version' | 'platform'>,
  b: Pick<IndexEntry, 'version' | 'platform'>,
): number {
  return (
    compareVersions(a.version, b.version) ||
    byteCompare(a.version, b.version) ||
    comparePlatforms(a.platform, b.platform)
  );
}

/** Name in byte order (as rubygems.org's COLLATE "C"), then compareWithinGem. */
export function compareEntries(
  a: Pick<IndexEntry, 'name' | 'version' | 'platform'>,
  b: Pick<IndexEntry, 'name' | 'version' | 'platform'>,
): number {
  return byteCompare(a.name, b.name) || compareWithinGem(a, b);
}

export { byteCompare };

/** Groups entries by gem name; names in byte order, each group in compareWithinGem order. */
export function groupByName<T extends Pick<IndexEntry, 'name' | 'version' | 'platform'>>(
  entries: Iterable<T>,
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const e of entries) {
    const g = groups.get(e.name);
    if (g) g.push(e);
    else groups.set(e.name, [e]);
  }
  const names = [...groups.keys()].sort(byteCompare);
  const sorted = new Map<string, T[]>();
  for (const n of names) sorted.set(n, groups.get(n)!.sort(compareWithinGem));
  return sorted;
}
