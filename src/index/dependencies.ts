/**
 * The dependency API (/api/v1/dependencies), Marshal and JSON forms (PROTOCOL.md section 4). Pure.
 * One record per live (version, platform) of each requested gem; runtime dependencies only;
 * requirement strings joined with ", " in stored order, as Gem::Requirement#to_s.
 */
import { requirementToString } from '../gem/requirement.ts';
import { dumpDependencyRecords } from '../marshal/rubygems.ts';
import type { IndexEntry } from './entry.ts';

export interface DependencyRecord {
  name: string;
  number: string;
  platform: string;
  dependencies: [string, string][];
}

/** Bundler sends at most 50 names; we accept up to this many per request. */
export const DEPENDENCY_API_MAX_NAMES = 200;

export function dependencyRecords(entries: Iterable<IndexEntry>): DependencyRecord[] {
  const out: DependencyRecord[] = [];
  for (const e of entries) {
    out.push({
      name: e.name,
      number: e.version,
      platform: e.platform,
      dependencies: e.dependencies.map((d) => [d.name, requirementToString(d.requirement)]),
    });
  }
  return out;
}

export const dependenciesMarshal = (records: readonly DependencyRecord[]): Buffer =>
  dumpDependencyRecords(records);

export const dependenciesJson = (records: readonly DependencyRecord[]): string => JSON.stringify(records);

/**
 * Parses the `gems=` query value: Bundler sends one percent-encoded comma list. Returns unique
 * names in request order; the caller validates them.
 */
export function parseGemsParam(value: string | undefined): string[] {
  if (!value) return [];
  return [
    ...new Set(
      value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    ),
  ];
}
