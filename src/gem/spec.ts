/**
 * The gem specification model: plain data, as read from a gem's metadata.gz.
 * Pure: no IO. Strings keep Ruby's values; versions are normalized Gem::Version strings.
 */

/** One constraint of a Gem::Requirement, e.g. { op: '~>', version: '1.2' }. */
export interface Constraint {
  op: '=' | '!=' | '>' | '<' | '>=' | '<=' | '~>';
  /** Normalized Gem::Version string (what Gem::Version#version returns). */
  version: string;
}

/** A Gem::Requirement: constraints in stored order. The default is [{ op: '>=', version: '0' }]. */
export type Requirement = Constraint[];

export interface Dependency {
  name: string;
  requirement: Requirement;
  type: 'runtime' | 'development';
  /** Gem::Dependency @prerelease as written in the gemspec (normally false). */
  prerelease: boolean;
}

export interface GemSpec {
  name: string;
  /** Normalized Gem::Version string. */
  version: string;
  /** The original platform string as written by the builder: 'ruby', 'java', 'x86_64-linux', ... */
  platform: string;
  summary: string;
  description: string | null;
  authors: string[];
  /** A String, or an Array that may hold nils (real gems ship `[nil, nil, "a@b"]`; RubyGems keeps them). */
  email: string | (string | null)[] | null;
  homepage: string | null;
  licenses: string[];
  metadata: Record<string, string>;
  /** The gemspec date, cut to midnight UTC as RubyGems does. Not a release date. */
  date: Date;
  dependencies: Dependency[];
  requiredRubyVersion: Requirement;
  requiredRubygemsVersion: Requirement;
  /** Version of the RubyGems that built the gem. */
  rubygemsVersion: string;
  specificationVersion: number;
  // Fields not used by indexes but kept for the JSON API and the web UI.
  bindir: string;
  executables: string[];
  extensions: string[];
  requirePaths: string[];
  postInstallMessage: string | null;
  /** Non-empty for signed gems. */
  certChain: string[];
}

export const DEFAULT_REQUIREMENT: Requirement = Object.freeze([{ op: '>=', version: '0' }]) as Requirement;

/** `name-version` plus `-platform` unless the platform is ruby. Uses the original platform string. */
export function fullName(name: string, version: string, platform: string): string {
  return platform === 'ruby' || platform === '' ? `${name}-${version}` : `${name}-${version}-${platform}`;
}

export const specFullName = (s: Pick<GemSpec, 'name' | 'version' | 'platform'>): string =>
  fullName(s.name, s.version, s.platform);
