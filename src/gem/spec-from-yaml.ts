/**
 * Turn the loaded YAML gemspec (yaml.ts values) into the GemSpec model and validate it, as
 * Gem::Specification.from_yaml and `reset_nil_attributes_to_default` do (PROTOCOL.md 1.2, 1.3).
 * Pure: no IO, no clock.
 *
 * Stricter than RubyGems where a gem server must be: every field must have the type RubyGems writes,
 * name, version, platform and dependency names must be valid, summary is required, authors must
 * be a list of strings (it may be empty, as rubygems.org allows), and metadata follows
 * rubygems.org's size rules. licenses drops nil items and email keeps them (as RubyGems does), as real gems
 * have them.
 */
import { type ErrorCode, QuarryError } from '../errors.ts';
import type { GemLimits } from './limits.ts';
import { validateGemName } from './name.ts';
import { validatePlatformString } from './platform.ts';
import { OPERATORS } from './requirement.ts';
import type { Constraint, Dependency, GemSpec, Requirement } from './spec.ts';
import { DEFAULT_REQUIREMENT } from './spec.ts';
import { normalizeVersion } from './version.ts';
import { RubyDate, RubyFloat, RubyInteger, RubyObject, RubySymbol } from './yaml.ts';

/** The date used when a gemspec has none: RubyGems >= 3.7's default build date, 1980-01-02. */
export const DEFAULT_SPEC_DATE = new Date(Date.UTC(1980, 0, 2));
/** rubygems_version when a gemspec has none: what the reference RubyGems (3.3.15) fills in. */
export const DEFAULT_RUBYGEMS_VERSION = '3.3.15';
/** specification_version when a gemspec has none (Gem::Specification::NONEXISTENT_SPECIFICATION_VERSION). */
export const NONEXISTENT_SPECIFICATION_VERSION = -1;

type MetadataLimits = Pick<GemLimits, 'maxMetadataKeyLength' | 'maxMetadataValueLength'>;

const fail = (code: ErrorCode, field: string, message: string) =>
  new QuarryError(code, `gemspec ${field}: ${message}`);

/** Re-throw a QuarryError from a validator with the field it is about in front of its message. */
function within<T>(field: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof QuarryError)
      throw new QuarryError(e.code, `gemspec ${field}: ${e.message}`, { cause: e });
    throw e;
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (v instanceof RubyObject) return `a ${v.className} object`;
  if (v instanceof RubySymbol) return `the symbol :${v.name}`;
  if (v instanceof RubyDate) return 'a date';
  if (v instanceof RubyFloat) return `the number ${v.source}`;
  if (v instanceof RubyInteger) return `the number ${v.value}`;
  if (v instanceof Map) return 'a mapping';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${String(v)}`;
}

const isObject = (v: unknown, ...classes: string[]): v is RubyObject =>
  v instanceof RubyObject && classes.includes(v.className);

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw fail('invalid_spec', field, `must be a string, not ${describe(v)}`);
  return v;
}

const strOrNull = (v: unknown, field: string): string | null => (v == null ? null : str(v, field));

function strList(v: unknown, field: string, fallback: string[] = []): string[] {
  if (v == null) return [...fallback];
  if (!Array.isArray(v)) throw fail('invalid_spec', field, `must be a list of strings, not ${describe(v)}`);
  return v.map((x, i) => str(x, `${field}[${i}]`));
}

/** A list of strings where nil items are dropped: real gems have `email: [nil, nil, "a@b"]`. */
const looseStrList = (v: unknown, field: string): string[] =>
  strList(Array.isArray(v) ? v.filter((x) => x != null) : v, field);

/** Ruby's Array#flatten, for require_paths; nested lists cannot be deep after the alias limits. */
function flatten(v: unknown[], depth = 0): unknown[] {
  if (depth > 32) throw fail('invalid_spec', 'require_paths', 'is nested too deeply');
  return v.flatMap((x) => (Array.isArray(x) ? flatten(x, depth + 1) : [x]));
}

/** Ruby's Float#to_s for the values a version can take. */
function rubyFloatToString(x: number): string {
  const abs = Math.abs(x);
  if (!Number.isFinite(x) || (abs !== 0 && (abs >= 1e16 || abs < 1e-4))) return x.toExponential();
  const s = String(x);
  return s.includes('.') ? s : `${s}.0`;
}

/** The string of a Gem::Version, or of a bare version scalar as old gems may have. */
function versionText(v: unknown, field: string): string {
  const raw = isObject(v, 'Gem::Version') ? v.get('version') : v;
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number') return String(raw);
  if (raw instanceof RubyFloat) return rubyFloatToString(raw.value);
  if (raw instanceof RubyInteger) return String(raw.value);
  throw fail('invalid_version', field, `must be a Gem::Version, not ${describe(raw)}`);
}

const version = (v: unknown, field: string): string =>
  within(field, () => normalizeVersion(versionText(v, field)));

function requirement(v: unknown, field: string): Requirement {
  if (v == null) return [...DEFAULT_REQUIREMENT];
  if (!isObject(v, 'Gem::Requirement', 'Gem::Version::Requirement')) {
    throw fail('invalid_requirement', field, `must be a Gem::Requirement, not ${describe(v)}`);
  }
  const list = v.get('requirements');
  if (list == null) return [...DEFAULT_REQUIREMENT];
  if (!Array.isArray(list))
    throw fail('invalid_requirement', field, `requirements must be a list, not ${describe(list)}`);
  const out: Constraint[] = list.map((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw fail('invalid_requirement', field, `requirement ${i + 1} must be an [operator, version] pair`);
    }
    const op: unknown = pair[0];
    if (typeof op !== 'string' || !(OPERATORS as readonly string[]).includes(op)) {
      throw fail('invalid_requirement', field, `unknown operator ${describe(op)}`);
    }
    return { op: op as Constraint['op'], version: version(pair[1], field) };
  });
  return out.length > 0 ? out : [...DEFAULT_REQUIREMENT];
}

function dependency(v: unknown, i: number): Dependency {
  const field = `dependencies[${i}]`;
  if (!isObject(v, 'Gem::Dependency'))
    throw fail('invalid_spec', field, `must be a Gem::Dependency, not ${describe(v)}`);
  const name = str(v.get('name'), `${field}.name`);
  const label = `dependency ${JSON.stringify(name)}`;
  within(label, () => validateGemName(name));
  const type = v.get('type');
  if (type != null && !(type instanceof RubySymbol)) {
    throw fail('invalid_spec', label, `type must be :runtime or :development, not ${describe(type)}`);
  }
  const prerelease = v.get('prerelease') ?? false;
  if (typeof prerelease !== 'boolean') throw fail('invalid_spec', label, `prerelease must be true or false`);
  // Gem::Dependency#requirement falls back to the legacy @version_requirements.
  const req = v.get('requirement') ?? v.get('version_requirements');
  return {
    name,
    requirement: requirement(req, label),
    type: type?.name === 'development' ? 'development' : 'runtime',
    prerelease,
  };
}

/** The original platform string: the YAML string, or an old gem's Gem::Platform parts joined by "-". */
function platform(v: unknown): string {
  let s: string;
  if (v == null) s = '';
  else if (typeof v === 'string') s = v;
  else if (isObject(v, 'Gem::Platform')) {
    const parts = ['cpu', 'os', 'version'].map((k) => v.get(k)).filter((p) => p != null);
    s = parts.map((p, i) => (typeof p === 'number' ? String(p) : str(p, `platform part ${i + 1}`))).join('-');
  } else throw fail('invalid_platform', 'platform', `must be a string, not ${describe(v)}`);
  if (s === '') return 'ruby';
  within('platform', () => validatePlatformString(s));
  return s;
}

const DATE_TIME_FORMAT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ \t\r\n\f\v]+\d{2}:\d{2}:\d{2}\.\d+[ \t\r\n\f\v]*(?:Z|[-+]\d\d:\d\d))?\n?$/;

/** Gem::Specification#date=: any date or time cut to midnight UTC; a string must match DateTimeFormat. */
function date(v: unknown): Date {
  let y: number;
  let m: number;
  let d: number;
  if (v instanceof RubyDate) ({ year: y, month: m, day: d } = v);
  else if (typeof v === 'string') {
    const match = DATE_TIME_FORMAT.exec(v);
    if (!match) throw fail('invalid_spec', 'date', `invalid date format ${JSON.stringify(v)}`);
    [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (m < 1 || m > 12 || d < 1 || d > 31)
      throw fail('invalid_spec', 'date', `invalid date ${JSON.stringify(v)}`);
  } else return new Date(DEFAULT_SPEC_DATE); // RubyGems uses the build day here; a pure reader cannot.
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d);
  return t;
}

function metadata(v: unknown, limits: MetadataLimits): Record<string, string> {
  const out: Record<string, string> = {};
  if (v == null) return out;
  if (!(v instanceof Map) || v instanceof RubyObject) {
    throw fail('invalid_spec', 'metadata', `must be a mapping of strings, not ${describe(v)}`);
  }
  for (const [key, value] of v) {
    if (typeof key !== 'string')
      throw fail('invalid_spec', 'metadata', `key ${describe(key)} is not a string`);
    const field = `metadata[${JSON.stringify(key)}]`;
    if (typeof value !== 'string')
      throw fail('invalid_spec', field, `value must be a string, not ${describe(value)}`);
    const keyChars = [...key].length;
    if (keyChars > limits.maxMetadataKeyLength) {
      throw fail(
        'invalid_spec',
        field,
        `key is ${keyChars} characters, over the ${limits.maxMetadataKeyLength} limit`,
      );
    }
    const valueChars = [...value].length;
    if (valueChars > limits.maxMetadataValueLength) {
      throw fail(
        'invalid_spec',
        field,
        `value is ${valueChars} characters, over the ${limits.maxMetadataValueLength} limit`,
      );
    }
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function specificationVersion(v: unknown): number {
  if (v == null) return NONEXISTENT_SPECIFICATION_VERSION;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw fail('invalid_spec', 'specification_version', `must be an integer, not ${describe(v)}`);
  }
  return v;
}

function rubygemsVersion(v: unknown): string {
  if (v == null) return DEFAULT_RUBYGEMS_VERSION;
  if (typeof v === 'number') return String(v);
  if (v instanceof RubyFloat) return rubyFloatToString(v.value);
  return str(v, 'rubygems_version');
}

/** email keeps nil items: RubyGems does, and they show in the quick spec. */
function email(v: unknown): string | (string | null)[] | null {
  if (v == null) return null;
  return Array.isArray(v) ? v.map((x, i) => (x == null ? null : str(x, `email[${i}]`))) : str(v, 'email');
}

/**
 * Build a GemSpec from the value `loadRubyYaml` returned for a gemspec. Nil or missing attributes
 * get RubyGems' defaults. Throws QuarryError (invalid_spec, invalid_name, invalid_version,
 * invalid_platform or invalid_requirement) naming the field that is wrong.
 */
export function specFromYaml(root: unknown, limits: MetadataLimits): GemSpec {
  if (!isObject(root, 'Gem::Specification')) {
    throw new QuarryError('invalid_spec', `gemspec YAML is ${describe(root)}, not a Gem::Specification`);
  }
  for (const key of root.keys()) {
    if (typeof key !== 'string')
      throw new QuarryError('invalid_spec', `gemspec key ${describe(key)} is not a string`);
  }
  const get = (k: string): unknown => root.get(k);
  const name = get('name');
  if (name == null) throw fail('invalid_spec', 'name', 'is missing');
  within('name', () => validateGemName(str(name, 'name')));
  if (get('version') == null) throw fail('invalid_version', 'version', 'is missing');
  const summary = get('summary');
  if (summary == null) throw fail('invalid_spec', 'summary', 'is missing');
  const authors = strList(get('authors'), 'authors');
  const deps = get('dependencies') ?? [];
  if (!Array.isArray(deps))
    throw fail('invalid_spec', 'dependencies', `must be a list, not ${describe(deps)}`);
  const requirePaths = get('require_paths');
  return {
    name: name as string,
    version: version(get('version'), 'version'),
    platform: platform(get('platform')),
    summary: str(summary, 'summary'),
    description: strOrNull(get('description'), 'description'),
    authors,
    email: email(get('email')),
    homepage: strOrNull(get('homepage'), 'homepage'),
    licenses: looseStrList(get('licenses'), 'licenses'),
    metadata: metadata(get('metadata'), limits),
    date: date(get('date')),
    dependencies: deps.map(dependency),
    requiredRubyVersion: requirement(get('required_ruby_version'), 'required_ruby_version'),
    requiredRubygemsVersion: requirement(get('required_rubygems_version'), 'required_rubygems_version'),
    rubygemsVersion: rubygemsVersion(get('rubygems_version')),
    specificationVersion: specificationVersion(get('specification_version')),
    bindir: get('bindir') == null ? 'bin' : str(get('bindir'), 'bindir'),
    executables: strList(get('executables'), 'executables'),
    extensions: strList(get('extensions'), 'extensions'),
    requirePaths: strList(
      Array.isArray(requirePaths) ? flatten(requirePaths) : requirePaths,
      'require_paths',
      ['lib'],
    ),
    postInstallMessage: strOrNull(get('post_install_message'), 'post_install_message'),
    certChain: strList(get('cert_chain'), 'cert_chain'),
  };
}
