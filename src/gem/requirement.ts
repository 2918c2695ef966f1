/**
 * Gem::Requirement semantics (RubyGems 3.3) on the plain Requirement/Constraint model of spec.ts.
 * Pure: no IO.
 */
import { QuarryError } from '../errors.ts';
import type { Constraint, Requirement } from './spec.ts';
import {
  bump,
  compareVersions,
  isPrerelease,
  normalizeVersion,
  releaseOf,
  VERSION_PATTERN_SOURCE,
} from './version.ts';

export const OPERATORS: readonly Constraint['op'][] = ['=', '!=', '>', '<', '>=', '<=', '~>'];

// Gem::Requirement::PATTERN: optional op, then a version, whitespace ([ \t\r\n\f\v]) allowed around both.
const WS = '[ \\t\\r\\n\\f\\v]*';
const CONSTRAINT_RE = new RegExp(`^${WS}(~>|!=|>=|<=|=|>|<)?${WS}(${VERSION_PATTERN_SOURCE})${WS}$`);
// The gem CLI (`-v ">= 1, < 2"`) splits a requirement string on /\s*,\s*/.
const COMMA_RE = /[ \t\r\n\f\v]*,[ \t\r\n\f\v]*/;

/** Gem::Requirement.parse of one constraint string ("~> 1.2", ">=1", "1.0" meaning "= 1.0"). */
export function parseConstraint(input: string): Constraint {
  const m = typeof input === 'string' ? CONSTRAINT_RE.exec(input) : null;
  if (!m) {
    throw new QuarryError('invalid_requirement', `ill-formed requirement ${JSON.stringify(String(input))}`);
  }
  const op = (m[1] ?? '=') as Constraint['op'];
  return { op, version: normalizeVersion(m[2] ?? '') };
}

/**
 * Gem::Requirement.new semantics.
 * - A string is first split on commas (as the gem CLI does with `-v`), so ">= 1.0, < 2" gives two
 *   constraints; "" gives the default `>= 0`.
 * - An array is taken element by element, as Ruby does (an element with a comma is an error).
 * - Duplicate input strings are dropped before parsing (Ruby's `uniq!` on the raw strings: ">= 1"
 *   and ">=1" both stay). No input at all means `>= 0`.
 */
export function parseRequirement(input: string | readonly string[]): Requirement {
  let items: string[];
  if (typeof input === 'string') {
    items = input.split(COMMA_RE);
    // Ruby's String#split drops trailing empty fields.
    while (items.length > 0 && items[items.length - 1] === '') items.pop();
  } else if (Array.isArray(input)) {
    items = [...input];
  } else {
    throw new QuarryError('invalid_requirement', `requirement must be a string or a list of strings`);
  }
  const unique = [...new Set(items)];
  if (unique.length === 0) return [{ op: '>=', version: '0' }];
  return unique.map(parseConstraint);
}

/** One constraint as Ruby prints it: "op version". */
export function constraintToString(c: Constraint): string {
  return `${c.op} ${c.version}`;
}

/** Gem::Requirement#to_s: constraints in stored order, "op version" joined by ", ". */
export function requirementToString(r: Requirement): string {
  return r.map(constraintToString).join(', ');
}

/**
 * Gem::Requirement#none?: exactly one constraint, `>=` a version equal to 0 (so ">= 0.0" counts,
 * by Gem::Version#==). An empty list is not the default.
 */
export function isDefaultRequirement(r: Requirement): boolean {
  const only = r.length === 1 ? r[0] : undefined;
  return only !== undefined && only.op === '>=' && compareVersions(only.version, '0') === 0;
}

/** Gem::Requirement#prerelease?: some constraint names a prerelease version. */
export function isPrereleaseRequirement(r: Requirement): boolean {
  return r.some((c) => isPrerelease(c.version));
}

function constraintSatisfied(c: Constraint, v: string): boolean {
  const cmp = compareVersions(v, c.version);
  switch (c.op) {
    case '=':
      return cmp === 0;
    case '!=':
      return cmp !== 0;
    case '>':
      return cmp > 0;
    case '<':
      return cmp < 0;
    case '>=':
      return cmp >= 0;
    case '<=':
      return cmp <= 0;
    case '~>':
      return cmp >= 0 && compareVersions(releaseOf(v), bump(c.version)) < 0;
    default:
      throw new QuarryError('invalid_requirement', `unknown requirement operator ${JSON.stringify(c.op)}`);
  }
}

/**
 * Gem::Requirement#satisfied_by?: every constraint holds. Prereleases are NOT filtered here
 * (">= 1.0" is satisfied by "2.0.rc1"); see dependencyMatches for the client-side rule.
 */
export function satisfiedBy(r: Requirement, version: string): boolean {
  return r.every((c) => constraintSatisfied(c, version));
}

/**
 * Gem::Dependency#match? for a version of the right gem: a prerelease version only matches when
 * prereleases are allowed, the dependency is flagged prerelease, or the requirement names one.
 */
export function dependencyMatches(
  r: Requirement,
  version: string,
  options: { allowPrerelease?: boolean; prerelease?: boolean } = {},
): boolean {
  const pre = isPrerelease(version);
  if (isDefaultRequirement(r) && !pre) return true;
  if (pre && !options.allowPrerelease && !options.prerelease && !isPrereleaseRequirement(r)) return false;
  return satisfiedBy(r, version);
}

/**
 * The compact-index form (PROTOCOL.md 5.3): Ruby's to_s split on ", ", sorted as byte strings and
 * joined with "&". Like the compact_index gem it does not dedupe (Gem::Requirement.new already
 * dropped duplicate input strings). Note: compact_index omits `ruby:`/`rubygems:` only when the
 * to_s string is exactly ">= 0"; use requirementToString for that test, not isDefaultRequirement.
 */
export function compactIndexRequirement(r: Requirement): string {
  return r
    .map(constraintToString)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .join('&');
}
