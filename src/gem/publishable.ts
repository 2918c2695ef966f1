/**
 * What a pushed gem must satisfy, beyond being a valid .gem, so that every accepted push makes an
 * entry that clients can install and that does not bloat what every client downloads. Pure: no IO.
 * docs/security.md lists these limits.
 */
import { QuarryError } from '../errors.ts';
import type { GemSpec, Requirement } from './spec.ts';

export const PUBLISH_LIMITS = Object.freeze({
  /** Longest gem name, as rubygems.org's 255-character fields. */
  nameLength: 255,
  /** Longest version string: /versions, /info and file names repeat it for every client. */
  versionLength: 128,
  /** Longest platform string. */
  platformLength: 128,
  summaryLength: 4 * 1024,
  descriptionLength: 64 * 1024,
  /** Most dependencies, runtime and development together. */
  dependencies: 500,
  /** Most constraints in one requirement. */
  requirementConstraints: 20,
  /** Most entries in authors, licenses, executables, extensions, require paths and cert chain. */
  listEntries: 1000,
  /** Longest post-install message. */
  postInstallMessageLength: 16 * 1024,
  /** Most metadata keys. */
  metadataKeys: 100,
});

/**
 * Platforms as Gem::Platform writes them: letters, digits, "_", ".", "-" and "+" ("x86_64-linux",
 * "universal-darwin-20", "x64-mingw-ucrt"), with no ".." segment.
 */
const PLATFORM_RE = /^[A-Za-z0-9_.+-]+$/;

const fail = (field: string, message: string): never => {
  throw new QuarryError('invalid_spec', `${field} ${message}`);
};

const maxLength = (field: string, value: string | null | undefined, max: number): void => {
  if (value != null && value.length > max)
    fail(field, `is ${value.length} characters long; at most ${max} are accepted`);
};

const maxEntries = (field: string, list: readonly unknown[] | null | undefined, max: number): void => {
  if (list != null && list.length > max)
    fail(field, `has ${list.length} entries; at most ${max} are accepted`);
};

const requirement = (field: string, r: Requirement): void =>
  maxEntries(field, r, PUBLISH_LIMITS.requirementConstraints);

/** Throws invalid_spec (422) naming the field when the spec is outside the published limits. */
export function checkPublishable(spec: GemSpec): void {
  const L = PUBLISH_LIMITS;
  maxLength('name', spec.name, L.nameLength);
  maxLength('version', spec.version, L.versionLength);
  const platform = spec.platform || 'ruby';
  maxLength('platform', platform, L.platformLength);
  if (!PLATFORM_RE.test(platform) || platform.includes('..')) {
    fail(
      'platform',
      `${JSON.stringify(platform)} is not one Gem::Platform writes: use letters, digits, "_", ".", "-" and "+" only, with no ".."`,
    );
  }
  maxLength('summary', spec.summary, L.summaryLength);
  maxLength('description', spec.description, L.descriptionLength);
  maxLength('post_install_message', spec.postInstallMessage, L.postInstallMessageLength);
  maxEntries('dependencies', spec.dependencies, L.dependencies);
  for (const d of spec.dependencies) requirement(`dependency ${d.name}`, d.requirement);
  requirement('required_ruby_version', spec.requiredRubyVersion);
  requirement('required_rubygems_version', spec.requiredRubygemsVersion);
  for (const [field, list] of [
    ['authors', spec.authors],
    ['licenses', spec.licenses],
    ['executables', spec.executables],
    ['extensions', spec.extensions],
    ['require_paths', spec.requirePaths],
    ['cert_chain', spec.certChain],
  ] as const) {
    maxEntries(field, list, L.listEntries);
  }
  maxEntries('metadata', Object.keys(spec.metadata ?? {}), L.metadataKeys);
}
