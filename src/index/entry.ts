/**
 * The index's view of one published (name, version, platform): what every derived index needs,
 * and nothing the catalog does not know. Pure data; built from a GemSpec plus catalog facts.
 */
import type { GemSpec, Requirement } from '../gem/spec.ts';

export interface IndexDependency {
  name: string;
  requirement: Requirement;
}

export interface IndexEntry {
  name: string;
  /** Normalized Gem::Version string. */
  version: string;
  /** Original platform string ('ruby' for pure-Ruby gems). */
  platform: string;
  /** Hex SHA-256 of the .gem bytes. */
  sha256: string;
  /** Runtime dependencies only, in gemspec order. */
  dependencies: IndexDependency[];
  requiredRubyVersion: Requirement;
  requiredRubygemsVersion: Requirement;
  /** Publication time (ISO 8601, UTC, seconds precision), when the catalog knows it. */
  createdAt?: string;
}

export function entryFromSpec(spec: GemSpec, sha256: string, createdAt?: string): IndexEntry {
  const entry: IndexEntry = {
    name: spec.name,
    version: spec.version,
    platform: spec.platform || 'ruby',
    sha256,
    dependencies: spec.dependencies
      .filter((d) => d.type === 'runtime')
      .map((d) => ({ name: d.name, requirement: d.requirement })),
    requiredRubyVersion: spec.requiredRubyVersion,
    requiredRubygemsVersion: spec.requiredRubygemsVersion,
  };
  if (createdAt !== undefined) entry.createdAt = createdAt;
  return entry;
}

/** `VERSION` for ruby, else `VERSION-PLATFORM` (original platform): the token used by the compact index. */
export const versionToken = (e: Pick<IndexEntry, 'version' | 'platform'>): string =>
  e.platform === 'ruby' ? e.version : `${e.version}-${e.platform}`;

/** Identity key of a published file: name, version string and original platform. */
export const entryKey = (e: Pick<IndexEntry, 'name' | 'version' | 'platform'>): string =>
  `${e.name}\u0000${e.version}\u0000${e.platform}`;
