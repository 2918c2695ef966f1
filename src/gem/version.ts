/**
 * Gem::Version semantics (RubyGems 3.3): validation, normalization, segments,
 * canonical segments, prerelease detection and ordering. Pure: no IO.
 *
 * See PROTOCOL.md section 10. Parsed data is cached per normalized string,
 * so sorting thousands of versions parses each string only once.
 */
import { QuarryError } from '../errors.ts';

/** A version segment: an integer (number, or bigint past 2^53) or a run of ASCII letters. */
export type Segment = number | bigint | string;

// Ruby's \s is [ \t\r\n\f\v]; JS \s is wider, so spell it out.
const WS = '[ \\t\\r\\n\\f\\v]';
/** Gem::Version::VERSION_PATTERN (the atomic group of Ruby's pattern cannot change what matches here). */
export const VERSION_PATTERN_SOURCE = '[0-9]+(?:\\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?';
const ANCHORED = new RegExp(`^${WS}*(?:${VERSION_PATTERN_SOURCE})?${WS}*$`);
const BLANK = new RegExp(`^${WS}*$`);
const STRIP = new RegExp(`^${WS}+|[\\0 \\t\\r\\n\\f\\v]+$`, 'g');
const SEGMENT_RUN = /[0-9]+|[a-zA-Z]+/g;
const HAS_LETTER = /[a-zA-Z]/;

/** True when `input` is accepted by Gem::Version.new (Gem::Version.correct?). */
export function isValidVersion(input: string): boolean {
  return ANCHORED.test(input);
}

/**
 * The string Gem::Version.new(input).version returns: whitespace stripped,
 * blank means "0", every "-" replaced by ".pre.". Throws invalid_version otherwise.
 */
export function normalizeVersion(input: string): string {
  if (typeof input !== 'string' || !ANCHORED.test(input)) {
    throw new QuarryError('invalid_version', `malformed version number ${JSON.stringify(String(input))}`);
  }
  if (BLANK.test(input)) return '0';
  return input.replace(STRIP, '').replaceAll('-', '.pre.');
}

interface Parsed {
  segments: readonly Segment[];
  canonical: readonly Segment[];
  prerelease: boolean;
}

const cache = new Map<string, Parsed>();
const CACHE_LIMIT = 200_000;

function toInteger(digits: string): number | bigint {
  const trimmed = digits.replace(/^0+(?=.)/, '');
  return trimmed.length <= 15 ? Number(trimmed) : BigInt(trimmed);
}

function dropTrailingZeros(segs: Segment[]): Segment[] {
  let end = segs.length;
  while (end > 0 && segs[end - 1] === 0) end--;
  return end === segs.length ? segs : segs.slice(0, end);
}

/** Parse a normalized version string (no validation; callers normalize first). */
function parseNormalized(v: string): Parsed {
  const hit = cache.get(v);
  if (hit) return hit;
  const segments: Segment[] = [];
  for (const m of v.matchAll(SEGMENT_RUN)) {
    const run = m[0];
    const c = run.charCodeAt(0);
    segments.push(c >= 48 && c <= 57 ? toInteger(run) : run);
  }
  const firstString = segments.findIndex((s) => typeof s === 'string');
  const numeric = firstString < 0 ? segments : segments.slice(0, firstString);
  const rest = firstString < 0 ? [] : segments.slice(firstString);
  const canonical = [...dropTrailingZeros(numeric), ...dropTrailingZeros(rest)];
  const parsed: Parsed = { segments, canonical, prerelease: HAS_LETTER.test(v) };
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(v, parsed);
  return parsed;
}

/** Normalizes (and validates) unless the string is already a cached normalized version. */
function parse(v: string): Parsed {
  return cache.get(v) ?? parseNormalized(normalizeVersion(v));
}

/** Gem::Version#segments: digit runs as integers, letter runs as strings. */
export function versionSegments(v: string): Segment[] {
  return [...parse(v).segments];
}

/** Gem::Version#canonical_segments: trailing zeros dropped from the numeric part and from the rest. */
export function canonicalSegments(v: string): Segment[] {
  return [...parse(v).canonical];
}

/** canonical_segments joined by "." (rubygems.org's canonical_number). */
export function canonicalVersion(v: string): string {
  return parse(v).canonical.map(String).join('.');
}

/** Gem::Version#prerelease?: the normalized string contains an ASCII letter. */
export function isPrerelease(v: string): boolean {
  return parse(v).prerelease;
}

function compareSegments(lhs: readonly Segment[], rhs: readonly Segment[]): -1 | 0 | 1 {
  const limit = Math.max(lhs.length, rhs.length);
  for (let i = 0; i < limit; i++) {
    const l = lhs[i] ?? 0;
    const r = rhs[i] ?? 0;
    const lStr = typeof l === 'string';
    const rStr = typeof r === 'string';
    if (lStr !== rStr) return lStr ? -1 : 1;
    // Same kind: numbers/bigints compare numerically (mixed is fine), strings by bytes (ASCII only).
    if (l < r) return -1;
    if (l > r) return 1;
  }
  return 0;
}

/** Gem::Version#<=>. Accepts raw or normalized strings; throws invalid_version on bad input. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  return compareSegments(parse(a).canonical, parse(b).canonical);
}

/** Gem::Version#== (not eql?): equal canonical segments, so "1.0" equals "1.0.0". */
export function versionsEqual(a: string, b: string): boolean {
  return compareVersions(a, b) === 0;
}

/** Gem::Version#release: the version without its prerelease part (segments up to the first letter run). */
export function releaseOf(v: string): string {
  const p = parse(v);
  if (!p.prerelease) return normalizeVersion(v);
  const out: Segment[] = [];
  for (const s of p.segments) {
    if (typeof s === 'string') break;
    out.push(s);
  }
  return out.map(String).join('.');
}

/**
 * Gem::Version#bump: drop the prerelease part, drop the last segment if more than one
 * remains, then increment the last one ("1.2.3" => "1.3", "1" => "2", "1.2.a" => "2").
 */
export function bump(v: string): string {
  const p = parse(v);
  const out: Segment[] = [];
  for (const s of p.segments) {
    if (typeof s === 'string') break;
    out.push(s);
  }
  if (out.length > 1) out.pop();
  const last = out.pop() ?? 0;
  out.push(typeof last === 'bigint' ? last + 1n : typeof last === 'number' ? succ(last) : last);
  return out.map(String).join('.');
}

function succ(n: number): number | bigint {
  return n + 1 > Number.MAX_SAFE_INTEGER ? BigInt(n) + 1n : n + 1;
}

/** Sort a list of version strings ascending by Gem::Version order (a stable sort; returns a new array). */
export function sortVersions(versions: readonly string[]): string[] {
  return [...versions].sort(compareVersions);
}
