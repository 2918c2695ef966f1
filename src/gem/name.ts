/**
 * Gem names and the file names derived from them. Pure: no IO.
 */
import { QuarryError } from '../errors.ts';
import { isValidPlatformString } from './platform.ts';
import { isValidVersion } from './version.ts';

/** rubygems.org's name rule: \A(?=.*[a-zA-Z])[a-zA-Z0-9][a-zA-Z0-9._-]*\z */
const NAME_RE = /^(?=.*[a-zA-Z])[a-zA-Z0-9][a-zA-Z0-9._-]*$/;

export function isValidGemName(name: string): boolean {
  return typeof name === 'string' && NAME_RE.test(name);
}

/** Throws invalid_name unless `name` follows rubygems.org's gem name rule. */
export function validateGemName(name: string): void {
  if (!isValidGemName(name)) {
    throw new QuarryError(
      'invalid_name',
      `invalid gem name ${JSON.stringify(String(name))}: must start with a letter or digit, contain a letter, ` +
        'and use only letters, digits, ".", "_" and "-"',
    );
  }
}

function withPlatform(name: string, version: string, platform: string | null | undefined): string {
  return !platform || platform === 'ruby' ? `${name}-${version}` : `${name}-${version}-${platform}`;
}

/** `name-version[-platform].gem`; the platform is omitted for ruby. Pass the platform form you need. */
export function gemFileName(name: string, version: string, platform?: string | null): string {
  return `${withPlatform(name, version, platform)}.gem`;
}

/** `name-version[-platform].gemspec.rz`; the platform is omitted for ruby. */
export function quickSpecFileName(name: string, version: string, platform?: string | null): string {
  return `${withPlatform(name, version, platform)}.gemspec.rz`;
}

export interface GemFileParts {
  name: string;
  version: string;
  /** 'ruby' when the file name has no platform part. */
  platform: string;
}

/**
 * Split `name-version[-platform]` (with an optional `.gem` or `.gemspec.rz` suffix) into its parts.
 *
 * Rule: split on "-"; the version is the first part (after the first) that starts with a digit and
 * is a valid Gem::Version with no "-" in it; the parts before are the name (joined by "-"), the
 * parts after are the platform (joined by "-"), or 'ruby' when there are none.
 *
 * Limits: the split is a guess, because "-" may appear in names, versions and platforms alike.
 * - A name part that starts with a digit and looks like a version (`foo-2-bar-1.0.gem`) is taken
 *   as the version; such names cannot be told apart from the file name alone.
 * - A version written with "-" (`1.0-rc1`) is never produced in file names (RubyGems normalizes
 *   it to `1.0.pre.rc1`), so a part after the version is always read as platform.
 * - Names may end in "-" (`foo-` is valid), so `foo--1.0.gem` is name `foo-`, version `1.0`.
 * Returns null when no such split exists, or the name or platform is invalid. Look up the real
 * (name, version, platform) in an index whenever you can.
 */
export function parseGemFileName(file: string): GemFileParts | null {
  let base = file;
  if (base.endsWith('.gemspec.rz')) base = base.slice(0, -'.gemspec.rz'.length);
  else if (base.endsWith('.gem')) base = base.slice(0, -'.gem'.length);
  const parts = base.split('-');
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const c = part.charCodeAt(0);
    if (!(c >= 48 && c <= 57) || !isValidVersion(part) || /\s/.test(part)) continue;
    const name = parts.slice(0, i).join('-');
    if (!isValidGemName(name)) return null;
    const rest = parts.slice(i + 1);
    if (rest.some((p) => p === '')) return null;
    const platform = rest.length ? rest.join('-') : 'ruby';
    return isValidPlatformString(platform) ? { name, version: part, platform } : null;
  }
  return null;
}
