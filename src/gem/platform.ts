/**
 * Gem::Platform parsing as in RubyGems 3.3.15 (PROTOCOL.md section 9). Pure: no IO.
 *
 * Note: RG >= 3.3.21 keeps `gnu` as the linux version (`x86_64-linux-gnu` stays as written);
 * RG 3.3.15, the reference here, drops it (`x86_64-linux`).
 */
import { QuarryError } from '../errors.ts';

export interface Platform {
  cpu: string | null;
  os: string;
  version: string | null;
}

// Ruby's ^ and $ are line anchors (start/end of string or next to "\n"); these emulate them exactly.
const BOL = '(?<![^\\n])';
const EOL = '(?![^\\n])';
const re = (source: string): RegExp => new RegExp(source.replaceAll('^', BOL).replaceAll('$', EOL));

const MSWIN = re('(mswin\\d+)(_(\\d+))?');

type OsRule = [RegExp, (m: RegExpExecArray) => [string, string | null]];
const cap = (m: RegExpExecArray, i: number): string | null => m[i] ?? null;

/** OS rules, tried in order against the OS part; the first match wins. */
const OS_RULES: OsRule[] = [
  [re('aix(\\d+)?'), (m) => ['aix', cap(m, 1)]],
  [re('cygwin'), () => ['cygwin', null]],
  [re('darwin(\\d+)?'), (m) => ['darwin', cap(m, 1)]],
  [re('^macruby$'), () => ['macruby', null]],
  [re('freebsd(\\d+)?'), (m) => ['freebsd', cap(m, 1)]],
  [re('hpux(\\d+)?'), (m) => ['hpux', cap(m, 1)]],
  [re('^(?:java|jruby)$'), () => ['java', null]],
  [re('^java([\\d.]*)'), (m) => ['java', cap(m, 1)]],
  [re('^dalvik(\\d+)?$'), (m) => ['dalvik', cap(m, 1)]],
  [re('^dotnet$'), () => ['dotnet', null]],
  [re('^dotnet([\\d.]*)'), (m) => ['dotnet', cap(m, 1)]],
  // `linux-gnu`, `linuxgnu`, `linux-gnueabihf`: the suffix is dropped when it starts with "gnu".
  [re('linux-?((?!gnu)\\w+)?'), (m) => ['linux', cap(m, 1)]],
  [re('mingw32'), () => ['mingw32', null]],
  [re('mingw-?(\\w+)?'), (m) => ['mingw', cap(m, 1)]],
  [MSWIN, (m) => [m[1] ?? 'mswin', cap(m, 3)]],
  [re('netbsdelf'), () => ['netbsdelf', null]],
  [re('openbsd(\\d+\\.\\d+)?'), (m) => ['openbsd', cap(m, 1)]],
  [re('bitrig(\\d+\\.\\d+)?'), (m) => ['bitrig', cap(m, 1)]],
  [re('solaris(\\d+\\.\\d+)?'), (m) => ['solaris', cap(m, 1)]],
  // RubyGems' own test platforms.
  [re('^(\\w+_platform)(\\d+)?'), (m) => [m[1] ?? '', cap(m, 2)]],
];

const HAS_DIGIT = /\d/;
const NUMERIC_VERSION = re('^\\d+(\\.\\d+)?$');
const X86 = /i\d86/;

/** Ruby's String#split("-"): like JS split, but trailing empty fields are removed. */
function rubySplitDash(s: string): string[] {
  const parts = s.split('-');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Gem::Platform.new(s) of RubyGems 3.3.15: 'ruby' for "ruby" and "", else [cpu, os, version].
 * "current" (the local machine's platform in Ruby) is rejected: it depends on where it runs.
 */
export function parsePlatform(s: string): Platform | 'ruby' {
  if (s === 'ruby' || s === '') return 'ruby';
  if (typeof s !== 'string' || s === 'current') {
    throw new QuarryError('invalid_platform', `unsupported platform ${JSON.stringify(String(s))}`);
  }
  const parts = rubySplitDash(s);
  // "x86-linux-gnu": a last part without digits is glued back onto the OS part.
  if (parts.length > 2 && !HAS_DIGIT.test(parts[parts.length - 1] ?? '')) {
    const extra = parts.pop();
    parts[parts.length - 1] = `${parts[parts.length - 1]}-${extra}`;
  }
  const rawCpu = parts.shift();
  let cpu: string | null = rawCpu === undefined ? null : X86.test(rawCpu) ? 'x86' : rawCpu;
  // "universal-java-11", "arm64-darwin-21": a numeric last part is the version, the OS stays as written.
  if (parts.length === 2 && NUMERIC_VERSION.test(parts[1] ?? '')) {
    return { cpu, os: parts[0] ?? '', version: parts[1] ?? null };
  }
  let os = parts[0];
  if (os === undefined) {
    // A single part ("java", "mswin32") is the OS, without a cpu.
    os = rawCpu;
    cpu = null;
  }
  if (os !== undefined) {
    for (const [pattern, result] of OS_RULES) {
      const m = pattern.exec(os);
      if (!m) continue;
      const [name, version] = result(m);
      // A bare "mswin32" implies an x86 cpu.
      if (pattern === MSWIN && cpu === null && name.endsWith('32')) cpu = 'x86';
      return { cpu, os: name, version };
    }
  }
  return { cpu, os: 'unknown', version: null };
}

/** Gem::Platform#to_a. */
export function platformToArray(p: Platform | 'ruby'): [string | null, string, string | null] | 'ruby' {
  return p === 'ruby' ? 'ruby' : [p.cpu, p.os, p.version];
}

/** Gem::Platform#to_s: the non-null parts joined by "-" ("ruby" stays "ruby"). */
export function platformToString(p: Platform | 'ruby'): string {
  if (p === 'ruby') return 'ruby';
  return [p.cpu, p.os, p.version].filter((x): x is string => x !== null).join('-');
}

/** Gem::Platform.new(s).to_s: "ruby" for "ruby" and "". */
export function normalizePlatform(s: string): string {
  return platformToString(parsePlatform(s));
}

// Characters that would break file names, URLs paths or index lines.
const UNSAFE_PLATFORM_CHAR = /[\s\x00-\x1f\x7f/\\,|:]/;

/**
 * True when `s` is a platform string that is safe in file names and index lines: non-empty,
 * no whitespace, control characters, "/", "\", ",", "|" or ":". It says nothing about whether
 * RubyGems recognises the OS ("foo-bar" is safe; it parses to os "unknown").
 */
export function isValidPlatformString(s: string): boolean {
  return typeof s === 'string' && s.length > 0 && s !== 'current' && !UNSAFE_PLATFORM_CHAR.test(s);
}

/** Throws invalid_platform unless isValidPlatformString(s). */
export function validatePlatformString(s: string): void {
  if (!isValidPlatformString(s)) {
    throw new QuarryError(
      'invalid_platform',
      `invalid platform ${JSON.stringify(String(s))}: must be non-empty and contain no whitespace, ` +
        'control characters, "/", "\\", ",", "|" or ":"',
    );
  }
}
