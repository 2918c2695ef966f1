/**
 * Parsers of compact index bodies: /versions and /info/NAME (PROTOCOL.md section 5), the inverse
 * of compact.ts, for reading an upstream's index (the proxy) and for checking a published folder.
 * Pure. They read what rubygems.org and Quarry write and refuse anything else with a QuarryError
 * (code `invalid_index`) that names the line and the problem; they never throw anything else.
 *
 * Version tokens are split as Bundler splits them: at the first '-', VERSION then PLATFORM.
 */
import { QuarryError } from '../errors.ts';

export interface ParsedVersionsLine {
  name: string;
  /** Version tokens as written (`VERSION` or `VERSION-PLATFORM`); a leading '-' marks a yank. */
  tokens: string[];
  /** MD5 (32 lower-case hex digits) of the name's /info body after this line's change. */
  infoMd5: string;
}

export interface ParsedVersionsFile {
  /** The `created_at:` header, or null when the header has none. */
  createdAt: string | null;
  /** Byte offset of the first line after the `---` separator. */
  bodyStart: number;
  lines: ParsedVersionsLine[];
}

export interface ParsedDependency {
  name: string;
  /** Each constraint as written, e.g. `>= 1.0` (the compact index joins them with '&'). */
  requirements: string[];
}

export interface ParsedInfoLine {
  /** The version token as written: `VERSION` or `VERSION-PLATFORM`. */
  token: string;
  version: string;
  /** 'ruby' when the token has no platform. */
  platform: string;
  dependencies: ParsedDependency[];
  /** Hex SHA-256 of the .gem, when the line has `checksum:`. */
  checksum?: string;
  /** `ruby:` constraints; empty when absent (>= 0). */
  ruby: string[];
  /** `rubygems:` constraints; empty when absent (>= 0). */
  rubygems: string[];
  /** `created_at:` (compact index v2), when present. */
  createdAt?: string;
  /** Any other `key:value` after the '|', in order (kept, not interpreted). */
  extra: [key: string, value: string][];
}

/** Longest body accepted (rubygems.org's /versions is about 20 MiB): 256 MiB. */
export const MAX_COMPACT_BODY = 256 * 1024 * 1024;

const MD5 = /^[0-9a-f]{32}$/;
/** Names and version tokens: visible ASCII without the separators of the format. */
const NAME = /^[!-~]+$/;
const TOKEN = /^-?[0-9A-Za-z][0-9A-Za-z._+-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;
/** A constraint as the compact index writes one: an operator, a space, a version. */
const CONSTRAINT = /^(=|!=|>|<|>=|<=|~>) [0-9A-Za-z][0-9A-Za-z._-]*$/;

const bad = (what: string, line: number | null, problem: string): QuarryError =>
  new QuarryError('invalid_index', `${what}${line === null ? '' : ` line ${line}`}: ${problem}`);

/** Shown in messages: at most 60 characters, as JSON. */
const quote = (s: string): string => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);

function asText(body: string | Uint8Array, what: string): string {
  if (typeof body === 'string') {
    if (body.length > MAX_COMPACT_BODY) throw bad(what, null, `body is over ${MAX_COMPACT_BODY} characters`);
    return body;
  }
  if (body.length > MAX_COMPACT_BODY) throw bad(what, null, `body is over ${MAX_COMPACT_BODY} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw bad(what, null, 'body is not valid UTF-8');
  }
}

/** Splits a body into lines; it must end with a newline (a missing one means a cut-off body). */
function linesOf(text: string, what: string): string[] {
  if (text.length === 0) throw bad(what, null, 'body is empty');
  if (!text.endsWith('\n')) throw bad(what, null, 'body does not end with a newline (cut off?)');
  const lines = text.split('\n');
  lines.pop();
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.endsWith('\r')) throw bad(what, i + 1, 'carriage return before the newline');
  }
  return lines;
}

/**
 * One /versions line as the scanner hands it over: the tokens still as one comma-separated list,
 * and the byte offset where that list starts in the body.
 */
export type VersionsLineVisitor = (name: string, list: string, infoMd5: string, at: number) => void;

/** Bytes of a /versions body decoded at a time: a body of any size is never one string. */
const SCAN_CHUNK = 1 << 20;

/** The bytes of a body (a string is encoded; a Uint8Array is viewed, not copied), within the size limit. */
function asBytes(body: string | Uint8Array, what: string): Buffer {
  if (typeof body === 'string') {
    if (body.length > MAX_COMPACT_BODY) throw bad(what, null, `body is over ${MAX_COMPACT_BODY} characters`);
    return Buffer.from(body, 'utf8');
  }
  if (body.length > MAX_COMPACT_BODY) throw bad(what, null, `body is over ${MAX_COMPACT_BODY} bytes`);
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * Checks a /versions body line by line without holding its lines: header lines (`created_at:
 * TIME`), a `---` line, then one `NAME TOKEN[,TOKEN...] MD5` line per change, each handed to
 * `onLine` in file order (a name may appear many times), with the byte offset where its list
 * starts. The body is decoded 1 MiB at a time (at line ends): a body of rubygems.org's size (about
 * 20 MiB, 190,000 names) is never one string, nor split into an array.
 */
export function scanVersionsFile(
  body: string | Uint8Array,
  onLine: VersionsLineVisitor = () => {},
  chunk = SCAN_CHUNK,
): { createdAt: string | null; bodyStart: number } {
  const what = 'versions';
  const bytes = asBytes(body, what);
  if (bytes.length === 0) throw bad(what, null, 'body is empty');
  if (bytes[bytes.length - 1] !== 10) throw bad(what, null, 'body does not end with a newline (cut off?)');
  if (bytes.indexOf('---\n') !== 0 && bytes.indexOf('\ufeff---\n') !== 0 && bytes.indexOf('\n---\n') < 0)
    throw bad(what, null, 'no "---" line after the header');
  // A BOM is kept where the text has one (the decoder would drop it at each chunk's start and shift
  // the offsets); only a leading one is skipped, as a whole-body decode would.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let createdAt: string | null = null;
  let bodyStart = -1;
  let n = 0;
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (let start = bom; start < bytes.length; ) {
    // Chunks end at a newline, so no character is cut in two.
    const end = bytes.indexOf(10, Math.min(bytes.length - 1, start + chunk - 1)) + 1;
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(start, end));
    } catch {
      throw bad(what, null, 'body is not valid UTF-8');
    }
    // An ASCII chunk (every chunk of lines: they are checked to be ASCII) counts bytes as characters.
    const ascii = text.length === end - start;
    let byteAt = start;
    for (let at = 0; at < text.length; ) {
      n++;
      const nl = text.indexOf('\n', at);
      const l = text.slice(at, nl);
      const lineAt = byteAt;
      at = nl + 1;
      byteAt = ascii ? start + at : byteAt + Buffer.byteLength(l) + 1;
      if (l.endsWith('\r')) throw bad(what, n, 'carriage return before the newline');
      if (bodyStart < 0) {
        if (l === '---') {
          bodyStart = byteAt;
          continue;
        }
        const m = /^([a-z_]+): (\S+)$/.exec(l);
        if (!m) throw bad(what, n, `header line is not "key: value": ${quote(l)}`);
        if (m[1] === 'created_at') createdAt = m[2]!;
        continue;
      }
      const a = l.indexOf(' ');
      const b = a < 0 ? -1 : l.indexOf(' ', a + 1);
      if (a < 0 || b < 0 || l.indexOf(' ', b + 1) >= 0)
        throw bad(what, n, `expected "NAME VERSIONS MD5": ${quote(l)}`);
      const name = l.slice(0, a);
      const list = l.slice(a + 1, b);
      const md5 = l.slice(b + 1);
      if (!NAME.test(name)) throw bad(what, n, `bad gem name ${quote(name)}`);
      for (let s = 0; s <= list.length; ) {
        let e = list.indexOf(',', s);
        if (e < 0) e = list.length;
        const t = list.slice(s, e);
        if (!TOKEN.test(t)) throw bad(what, n, `bad version token ${quote(t)} for ${quote(name)}`);
        s = e + 1;
      }
      if (!MD5.test(md5)) throw bad(what, n, `bad info MD5 ${quote(md5)} for ${quote(name)}`);
      // The line is ASCII: its list starts a + 1 bytes in.
      onLine(name, list, md5, lineAt + a + 1);
    }
    start = end;
  }
  return { createdAt, bodyStart };
}

/**
 * Parses a /versions body (see scanVersionsFile) into its lines, in file order. For bodies of any
 * size, packedLiveVersions holds far less.
 */
export function parseVersionsFile(body: string | Uint8Array): ParsedVersionsFile {
  const lines: ParsedVersionsLine[] = [];
  const head = scanVersionsFile(body, (name, list, infoMd5) =>
    lines.push({ name, tokens: list.split(','), infoMd5 }),
  );
  return { ...head, lines };
}

function constraints(s: string, what: string, line: number, of: string): string[] {
  const list = s.split('&');
  for (const c of list) {
    if (!CONSTRAINT.test(c)) throw bad(what, line, `bad requirement ${quote(c)} in ${of}`);
  }
  return list;
}

function parseInfoLine(l: string, what: string, n: number): ParsedInfoLine {
  const space = l.indexOf(' ');
  if (space <= 0) throw bad(what, n, `expected "VERSION DEPS|REQUIREMENTS": ${quote(l)}`);
  const token = l.slice(0, space);
  if (!TOKEN.test(token) || token.startsWith('-')) throw bad(what, n, `bad version token ${quote(token)}`);
  const dash = token.indexOf('-');
  const version = dash < 0 ? token : token.slice(0, dash);
  const platform = dash < 0 ? 'ruby' : token.slice(dash + 1);
  if (platform === '') throw bad(what, n, `empty platform in ${quote(token)}`);
  const rest = l.slice(space + 1);
  const bar = rest.indexOf('|');
  if (bar < 0 || rest.indexOf('|', bar + 1) >= 0) {
    throw bad(what, n, `expected one "|" between dependencies and requirements: ${quote(l)}`);
  }
  const deps = rest.slice(0, bar);
  const reqs = rest.slice(bar + 1);
  const out: ParsedInfoLine = {
    token,
    version,
    platform,
    dependencies: [],
    ruby: [],
    rubygems: [],
    extra: [],
  };
  if (deps !== '') {
    for (const d of deps.split(',')) {
      const colon = d.indexOf(':');
      const name = colon < 0 ? '' : d.slice(0, colon);
      if (colon <= 0 || !NAME.test(name)) throw bad(what, n, `bad dependency ${quote(d)}`);
      out.dependencies.push({ name, requirements: constraints(d.slice(colon + 1), what, n, name) });
    }
  }
  if (reqs !== '') {
    const seen = new Set<string>();
    for (const r of reqs.split(',')) {
      const colon = r.indexOf(':');
      const key = colon < 0 ? '' : r.slice(0, colon);
      const value = r.slice(colon + 1);
      if (colon <= 0 || value === '') throw bad(what, n, `bad requirement entry ${quote(r)}`);
      if (seen.has(key)) throw bad(what, n, `${quote(key)} given twice`);
      seen.add(key);
      if (key === 'checksum') {
        if (!SHA256.test(value)) throw bad(what, n, `bad checksum ${quote(value)}`);
        out.checksum = value;
      } else if (key === 'ruby' || key === 'rubygems') {
        out[key] = constraints(value, what, n, key);
      } else if (key === 'created_at') {
        out.createdAt = value;
      } else {
        out.extra.push([key, value]);
      }
    }
  }
  return out;
}

/** Parses an /info/NAME body: a `---` line, then one line per version. */
export function parseInfoFile(body: string | Uint8Array, name = 'info'): ParsedInfoLine[] {
  const what = name === 'info' ? name : `info/${name}`;
  const lines = linesOf(asText(body, what), what);
  if (lines[0] !== '---') throw bad(what, 1, `expected "---", got ${quote(lines[0]!)}`);
  const out: ParsedInfoLine[] = [];
  for (let i = 1; i < lines.length; i++) out.push(parseInfoLine(lines[i]!, what, i + 1));
  return out;
}

/**
 * The live version tokens per name after every line of a /versions file: later lines add tokens,
 * `-TOKEN` removes one; with the MD5 of each name's last line.
 */
export function liveVersions(file: ParsedVersionsFile): Map<string, { tokens: string[]; infoMd5: string }> {
  const live = new Map<string, { tokens: Set<string>; infoMd5: string }>();
  for (const l of file.lines) {
    let cur = live.get(l.name);
    if (!cur) {
      cur = { tokens: new Set(), infoMd5: l.infoMd5 };
      live.set(l.name, cur);
    }
    for (const t of l.tokens) {
      if (t.startsWith('-')) cur.tokens.delete(t.slice(1));
      else cur.tokens.add(t);
    }
    cur.infoMd5 = l.infoMd5;
  }
  const out = new Map<string, { tokens: string[]; infoMd5: string }>();
  for (const [name, v] of live) out.set(name, { tokens: [...v.tokens], infoMd5: v.infoMd5 });
  return out;
}

/** A name's live version tokens and the MD5 of its /info body. */
export interface LiveEntry {
  tokens: string[];
  infoMd5: string;
}

/**
 * liveVersions() of a whole /versions body, held compactly: the body's bytes (the Buffer the
 * caller holds anyway, not a copy), and
 *   - for the sorted run of lines the body starts with (a base lists each name once, by name), one
 *     number per name: where its version list starts; a name is found by binary search;
 *   - for the lines after that run (changes appended since the base, out of order) and for lines
 *     with yanks or repeated tokens, the name's state packed in one string (`MD5 TOKEN,TOKEN...`).
 * Entries are unpacked when asked for. At 190,000 names the index is 1.5 MB of numbers, where a
 * Map of the names held 15 MB besides a second copy of the body as a string.
 */
export class LiveVersions implements Iterable<[string, LiveEntry]> {
  /** List offsets of the sorted run, in name order. */
  private readonly sorted: number[] = [];
  /** The last name of the sorted run while it lasts; null once a line broke the order. */
  private lastSorted: string | null = '';
  /** Packed states, by name: names changed after their line in the run, and names outside it. */
  private readonly packed = new Map<string, string>();
  /** Names outside the sorted run, in the order they first appeared. */
  private readonly extra: string[] = [];

  /** @param bytes the body */
  constructor(private readonly bytes: Buffer) {}

  get size(): number {
    return this.sorted.length + this.extra.length;
  }

  has(name: string): boolean {
    return this.packed.has(name) || this.find(name) >= 0;
  }

  get(name: string): LiveEntry | undefined {
    const p = this.packed.get(name);
    if (p !== undefined) return unpack(p);
    const i = this.find(name);
    return i < 0 ? undefined : this.entryAt(this.sorted[i]!);
  }

  *[Symbol.iterator](): IterableIterator<[string, LiveEntry]> {
    for (const at of this.sorted) {
      const name = this.nameAt(at);
      const p = this.packed.get(name);
      yield [name, p === undefined ? this.entryAt(at) : unpack(p)];
    }
    for (const name of this.extra) yield [name, unpack(this.packed.get(name)!)];
  }

  /**
   * Applies one line (its list starts at byte `at`): its tokens add versions,
   * `-TOKEN` removes one; its MD5 becomes the name's.
   */
  apply(name: string, list: string, infoMd5: string, at: number): void {
    if (this.lastSorted !== null && name > this.lastSorted) {
      this.lastSorted = name;
      this.sorted.push(at);
      // A first line with no yanks and no repeats (nearly every line of a base): its offset says it all.
      if (list.indexOf('-') >= 0 || hasDuplicate(list))
        this.packed.set(name, pack(infoMd5, applyList([], list)));
      return;
    }
    this.lastSorted = null;
    const cur = this.get(name);
    if (cur === undefined) this.extra.push(name);
    this.packed.set(name, pack(infoMd5, applyList(cur?.tokens ?? [], list)));
  }

  /** The name whose version list starts at byte `at`. */
  private nameAt(at: number): string {
    return this.bytes.toString('latin1', this.bytes.lastIndexOf(10, at - 2) + 1, at - 1);
  }

  /** Index of `name` in the sorted run, or -1. */
  private find(name: string): number {
    let lo = 0;
    let hi = this.sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const there = this.nameAt(this.sorted[mid]!);
      if (there === name) return mid;
      if (there < name) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** `LIST MD5\n` from byte `at`: the MD5 is the line's last 32 characters. */
  private entryAt(at: number): LiveEntry {
    const end = this.bytes.indexOf(10, at);
    return {
      infoMd5: this.bytes.toString('latin1', end - 32, end),
      tokens: this.bytes.toString('latin1', at, end - 33).split(','),
    };
  }
}

const pack = (infoMd5: string, tokens: Iterable<string>): string => `${infoMd5} ${[...tokens].join(',')}`;
const unpack = (p: string): LiveEntry => ({
  infoMd5: p.slice(0, 32),
  tokens: p.length > 33 ? p.slice(33).split(',') : [],
});

/** The live tokens after a line's list: TOKEN adds, -TOKEN removes. */
function applyList(live: readonly string[], list: string): Set<string> {
  const tokens = new Set(live);
  for (const t of list.split(',')) {
    if (t.startsWith('-')) tokens.delete(t.slice(1));
    else tokens.add(t);
  }
  return tokens;
}

function hasDuplicate(list: string): boolean {
  if (list.indexOf(',') < 0) return false;
  const parts = list.split(',');
  return new Set(parts).size !== parts.length;
}

/** A /versions body's header and its live versions per name, without holding its lines. */
export function packedLiveVersions(
  body: string | Uint8Array,
  /** Bytes decoded at a time (tests make it small). */
  chunk = SCAN_CHUNK,
): {
  createdAt: string | null;
  bodyStart: number;
  live: LiveVersions;
} {
  const bytes = asBytes(body, 'versions');
  const live = new LiveVersions(bytes);
  const head = scanVersionsFile(bytes, (name, list, md5, at) => live.apply(name, list, md5, at), chunk);
  return { ...head, live };
}
