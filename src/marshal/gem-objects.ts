/**
 * Marshal shapes of the RubyGems value classes (PROTOCOL.md sections 2.5–2.9): Gem::Version,
 * Gem::Requirement, Gem::Dependency, Gem::Platform and Time. Pure builders over the RValue model.
 */
import { QuarryError } from '../errors.ts';
import type { Dependency, Requirement } from '../gem/spec.ts';
import type { RObject, RString, RUserDefined, RUserMarshal, RValue } from './types.ts';
import { obj, str, sym, userDefined, userMarshal } from './types.ts';

/**
 * Hands out one String object per (text, encoding). It stands for Ruby's interned strings (frozen
 * literals, Hash string keys, the "UTC" zone of a Time), which are the same object wherever they
 * appear in one dump, so they come out as `@` links after the first.
 */
export type Interner = (s: string, encoding?: 'utf8' | 'ascii') => RString;

export function makeInterner(): Interner {
  const seen = new Map<string, RString>();
  return (s, encoding = 'utf8') => {
    const key = `${encoding}:${s}`;
    let v = seen.get(key);
    if (!v) {
      v = str(s, encoding);
      seen.set(key, v);
    }
    return v;
  };
}

/** An Interner that shares nothing (every call is a fresh String). */
export const noInterning: Interner = (s, encoding = 'utf8') => str(s, encoding);

/** `Gem::Version`: `U :Gem::Version ["1.0"]`. */
export const gemVersion = (version: string): RUserMarshal => userMarshal('Gem::Version', [str(version)]);

/** `Gem::Requirement`: `U :Gem::Requirement [[[op, Gem::Version], …]]`, constraints in stored order. */
export const gemRequirement = (req: Requirement): RUserMarshal =>
  userMarshal('Gem::Requirement', [req.map((c) => [str(c.op), gemVersion(c.version)])]);

/**
 * `Gem::Dependency` with the five ivars a built gem has. `@version_requirements` is a separate
 * copy of the requirement, as in a spec loaded from YAML; pass `linkVersionRequirements` for the
 * shape of a dependency made in Ruby, where it is the same object (an `@` link).
 */
export function gemDependency(dep: Dependency, options: { linkVersionRequirements?: boolean } = {}): RObject {
  const requirement = gemRequirement(dep.requirement);
  return obj('Gem::Dependency', [
    ['@name', str(dep.name)],
    ['@requirement', requirement],
    ['@type', sym(dep.type)],
    ['@prerelease', dep.prerelease],
    [
      '@version_requirements',
      options.linkVersionRequirements ? requirement : gemRequirement(dep.requirement),
    ],
  ]);
}

/**
 * The parts of a `Gem::Platform`, as RubyGems 3.3's `Gem::Platform.new(string)` computes them.
 * `*Literal` is true when Ruby takes the part from a frozen string literal in platform.rb; such
 * strings are interned, so a Hash key with the same text is the very same object (and a link).
 */
export interface PlatformParts {
  cpu: string | null;
  os: string;
  version: string | null;
  cpuLiteral: boolean;
  osLiteral: boolean;
}

/** os, version, whether os is a literal, and whether a missing cpu becomes 'x86' (mswin). */
type OsMatch = [os: string, version: string | null, literal: boolean, x86IfNoCpu?: boolean];
type OsRule = [RegExp, (m: RegExpExecArray) => OsMatch];

const lit =
  (os: string, group?: number) =>
  (m: RegExpExecArray): OsMatch => [os, group ? (m[group] ?? null) : null, true];

// The `case os` table of Gem::Platform#initialize (RG 3.3), in order. Ruby's ^ and $ match at
// line boundaries, hence the m flag.
const OS_RULES: OsRule[] = [
  [/aix(\d+)?/, lit('aix', 1)],
  [/cygwin/, lit('cygwin')],
  [/darwin(\d+)?/, lit('darwin', 1)],
  [/^macruby$/m, lit('macruby')],
  [/freebsd(\d+)?/, lit('freebsd', 1)],
  [/hpux(\d+)?/, lit('hpux', 1)],
  [/^java$|^jruby$/m, lit('java')],
  [/^java([\d.]*)/m, lit('java', 1)],
  [/^dalvik(\d+)?$/m, lit('dalvik', 1)],
  [/^dotnet$/m, lit('dotnet')],
  [/^dotnet([\d.]*)/m, lit('dotnet', 1)],
  [/linux-?((?!gnu)\w+)?/, lit('linux', 1)],
  [/mingw32/, lit('mingw32')],
  [/mingw-?(\w+)?/, lit('mingw', 1)],
  [/(mswin\d+)(_(\d+))?/, (m) => [m[1] ?? '', m[3] ?? null, false, /32$/m.test(m[1] ?? '')]],
  [/netbsdelf/, lit('netbsdelf')],
  [/openbsd(\d+\.\d+)?/, lit('openbsd', 1)],
  [/bitrig(\d+\.\d+)?/, lit('bitrig', 1)],
  [/solaris(\d+\.\d+)?/, lit('solaris', 1)],
  [/^(\w+_platform)(\d+)?/m, (m) => [m[1] ?? '', m[2] ?? null, false]],
];

/** `Gem::Platform.new(platform)` for a non-ruby platform string (RubyGems 3.3 rules). */
export function parsePlatform(platform: string): PlatformParts {
  const arch = platform.split('-');
  if (arch.length > 2 && !/\d/.test(arch[arch.length - 1] ?? '')) {
    const extra = arch.pop();
    arch[arch.length - 1] = `${arch[arch.length - 1]}-${extra}`;
  }
  const first = arch.shift() ?? '';
  let cpu: string | null = first;
  let cpuLiteral = false;
  if (/i\d86/.test(first)) {
    cpu = 'x86';
    cpuLiteral = true;
  }
  if (arch.length === 2 && /^\d+(\.\d+)?$/m.test(arch[1] ?? '')) {
    return { cpu, os: arch[0] ?? '', version: arch[1] ?? null, cpuLiteral, osLiteral: false };
  }
  let os = arch[0];
  if (os === undefined) {
    cpu = null;
    cpuLiteral = false;
    os = first;
  }
  for (const [re, make] of OS_RULES) {
    const m = re.exec(os);
    if (!m) continue;
    const [name, version, osLiteral, x86IfNoCpu] = make(m);
    if (x86IfNoCpu && cpu === null) {
      cpu = 'x86';
      cpuLiteral = true;
    }
    return { cpu, os: name, version, cpuLiteral, osLiteral };
  }
  return { cpu, os: 'unknown', version: null, cpuLiteral, osLiteral: true };
}

/**
 * `Gem::Platform` object: `o :Gem::Platform` with `@cpu`, `@os`, `@version`. `intern` supplies
 * the shared String object for parts that Ruby takes from frozen literals (`'linux'`, `'x86'`).
 */
export function gemPlatform(platform: string, intern: Interner = noInterning): RObject {
  const p = parsePlatform(platform);
  const part = (s: string | null, literal: boolean): RValue =>
    s === null ? null : literal ? intern(s) : str(s);
  return obj('Gem::Platform', [
    ['@cpu', part(p.cpu, p.cpuLiteral)],
    ['@os', part(p.os, p.osLiteral)],
    ['@version', part(p.version, false)],
  ]);
}

/**
 * `Time.utc(y, m, d)` for the calendar day of `date` in UTC, as `Gem::Specification#date=` makes
 * it: `I u :Time <8 bytes>` with the ivar `zone` = "UTC" (US-ASCII), as Ruby 3.1 dumps it. The
 * zone is an interned string in Ruby: pass one Interner for all Times of a dump to share it.
 */
export function gemDate(date: Date, intern: Interner = noInterning): RUserDefined {
  const t = date.getTime();
  if (Number.isNaN(t)) throw new QuarryError('marshal', 'invalid date');
  const year = date.getUTCFullYear();
  if (year < 1900 || year > 1900 + 0xffff) throw new QuarryError('marshal', `date year ${year} out of range`);
  const p =
    (0x80000000 |
      0x40000000 |
      ((year - 1900) << 14) |
      (date.getUTCMonth() << 10) |
      (date.getUTCDate() << 5)) >>>
    0;
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32LE(p, 0);
  bytes.writeUInt32LE(0, 4);
  return userDefined('Time', bytes, [['zone', intern('UTC', 'ascii')]]);
}

/** Reads the UTC date and time out of a `Time#_dump` payload (whole seconds, microseconds). */
export function timeFromDump(bytes: Uint8Array): Date {
  if (bytes.length < 8) throw new QuarryError('marshal', 'Time payload shorter than 8 bytes');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const p = b.readUInt32LE(0);
  const s = b.readUInt32LE(4);
  if ((p & 0x80000000) === 0) return new Date((p + s / 1e6) * 1000); // pre-1.9 seconds form
  const year = ((p >>> 14) & 0xffff) + 1900;
  const month = (p >>> 10) & 0xf;
  const day = (p >>> 5) & 0x1f;
  const hour = p & 0x1f;
  const min = (s >>> 26) & 0x3f;
  const sec = (s >>> 20) & 0x3f;
  const usec = s & 0xfffff;
  return new Date(Date.UTC(year, month, day, hour, min, sec, Math.floor(usec / 1000)));
}
