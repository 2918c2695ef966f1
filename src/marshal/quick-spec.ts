/**
 * The quick gemspec: `Marshal.dump(spec)` of a Gem::Specification loaded from a .gem by
 * RubyGems 3.3, after `spec.abbreviate; spec.sanitize` (PROTOCOL.md section 2.11). This is what
 * `gem generate_index` deflates into quick/Marshal.4.8/NAME-VERSION[-PLATFORM].gemspec.rz.
 * Pure; byte-for-byte the same as Ruby 3.1's output (checked against real Ruby in the tests).
 */
import { deflateSync } from 'node:zlib';
import type { GemSpec } from '../gem/spec.ts';
import {
  gemDate,
  gemDependency,
  gemPlatform,
  gemRequirement,
  gemVersion,
  makeInterner,
} from './gem-objects.ts';
import type { RValue } from './types.ts';
import { hash, str, userDefined } from './types.ts';
import { dump, MarshalWriter } from './writer.ts';

const RUBY_STRIP = /^[\0\t\n\v\f\r ]+|[\0\t\n\v\f\r ]+$/g;

/** `Gem::Specification#summary=`, which `sanitize` runs: strip, join hyphenated line breaks, unwrap. */
export function sanitizeSummary(summary: string): string {
  return summary
    .replace(RUBY_STRIP, '')
    .replace(/(\w-)\n[ \t]*(\w)/g, '$1$2')
    .replace(/\n[ \t]*/g, ' ');
}

/**
 * The 19-element array that `Gem::Specification#_dump` marshals, with the object sharing Ruby's
 * dump has. Ruby interns frozen literals and Hash string keys, so some strings are one object:
 * - a ruby-platform gem's [8] and [16] are both the `Gem::Platform::RUBY` constant;
 * - [10] is the literal `''`; Gem::Platform parts like `'linux'` or `'x86'` are literals;
 * - metadata keys are interned, so a key equal to one of those literals is that same object.
 */
export function quickSpecFields(spec: GemSpec): RValue[] {
  const intern = makeInterner();
  const strings = (list: readonly string[]): RValue[] => list.map((s) => str(s));

  let originalPlatform: RValue;
  let newPlatform: RValue;
  if (spec.platform === 'ruby') {
    originalPlatform = intern('ruby');
    newPlatform = originalPlatform;
  } else if (spec.platform === '') {
    originalPlatform = str('');
    newPlatform = intern('ruby');
  } else {
    originalPlatform = str(spec.platform);
    newPlatform = gemPlatform(spec.platform, intern);
  }

  const email =
    spec.email === null
      ? null
      : Array.isArray(spec.email)
        ? spec.email.map((e) => (e === null ? null : str(e)))
        : str(spec.email);
  const rubyforge = intern('');
  // sanitize turns a nil description into nil.to_s, Ruby's interned US-ASCII "".
  const description = spec.description === null ? intern('', 'ascii') : str(spec.description);

  return [
    str(spec.rubygemsVersion),
    spec.specificationVersion,
    str(spec.name),
    gemVersion(spec.version),
    gemDate(spec.date, intern),
    str(sanitizeSummary(spec.summary)),
    gemRequirement(spec.requiredRubyVersion),
    gemRequirement(spec.requiredRubygemsVersion),
    originalPlatform,
    spec.dependencies.map((d) => gemDependency(d)),
    rubyforge,
    email,
    strings(spec.authors),
    description,
    spec.homepage === null ? null : str(spec.homepage),
    true,
    newPlatform,
    strings(spec.licenses),
    hash(Object.entries(spec.metadata).map(([k, v]) => [intern(k), str(v)])),
  ];
}

/** `Marshal.dump(spec)`: a `u` Gem::Specification whose payload is the inner 19-element stream. */
export function dumpQuickSpec(spec: GemSpec): Buffer {
  const inner = dump(quickSpecFields(spec), { sizeHint: 2048 });
  const w = new MarshalWriter({ sizeHint: inner.length + 32 });
  w.header();
  w.write(userDefined('Gem::Specification', inner));
  return w.finish();
}

/** The .gemspec.rz body: zlib (RFC 1950, `78 9c`) at the default level, as `Gem.deflate`. */
export const deflateQuickSpec = (marshal: Uint8Array): Buffer => deflateSync(marshal);
