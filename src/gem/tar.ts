/**
 * A strict ustar reader over a Buffer, as RubyGems' Gem::Package::TarReader reads a `.gem`
 * (PROTOCOL.md section 1.1). Pure: no IO. Entry data are views into the input, never copies.
 *
 * Read like RubyGems: 512-byte blocks, `prefix + "/" + name` when the prefix is set, octal numeric
 * fields padded with spaces or NULs (uid and gid may also be base-256), the header checksum not
 * required, reading stops at the first all-zero block or at the end of the input.
 * A header whose checksum does not match is read all the same, but when it is also malformed the
 * error says so without quoting its bytes: such input is most likely not a tar at all (a text file
 * behind a symlink, say), and its contents have no place in an error message.
 * Stricter than RubyGems: truncated headers or data, NULs or invalid UTF-8 in names, absolute
 * paths, ".." segments and duplicate names are all errors, and by default only regular files
 * (typeflag "0" or NUL) are accepted.
 */
import { isUtf8 } from 'node:buffer';
import { QuarryError } from '../errors.ts';

export interface TarEntry {
  /** The full path: `prefix/name`, or `name` when the prefix is empty. */
  name: string;
  /** The typeflag: "0" regular file (a NUL typeflag reads as "0"), "2" symlink, "5" directory, ... */
  type: string;
  size: number;
  /** The entry's bytes: a view into the input buffer. */
  data: Buffer;
}

export interface TarReadOptions {
  /** Most entries accepted. Default 10 000. */
  maxEntries?: number;
  /** Largest entry accepted, in bytes. Default: no limit beyond the input itself. */
  maxEntrySize?: number;
  /** Accept only regular files, as in the outer tar of a `.gem`. Default true. */
  regularFilesOnly?: boolean;
}

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '5': 'a directory',
  '6': 'a FIFO',
  '7': 'a contiguous file',
  g: 'a pax global header',
  x: 'a pax extended header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
};

const invalid = (message: string) => new QuarryError('invalid_gem', message);

/** Ruby's String#strip whitespace (NUL included) as byte codes. */
const isPad = (b: number): boolean => b === 0 || b === 32 || (b >= 9 && b <= 13);

/** A text field as Ruby's `unpack('A<n>')` gives it: trailing NULs and spaces removed. */
function textField(buf: Buffer, start: number, length: number): Buffer {
  let end = start + length;
  while (end > start && (buf[end - 1] === 0 || buf[end - 1] === 32)) end--;
  return buf.subarray(start, end);
}

function describe(field: Buffer): string {
  return JSON.stringify(field.toString('latin1'));
}

/**
 * An octal numeric field: digits 0-7 with optional padding (spaces, NULs, tabs) on both sides.
 * An empty field is 0, as in RubyGems. Returns -1 when the field is not octal.
 */
function octal(buf: Buffer, start: number, length: number): number {
  let s = start;
  let e = start + length;
  while (s < e && isPad(buf[s] ?? 0)) s++;
  while (e > s && isPad(buf[e - 1] ?? 0)) e--;
  let value = 0;
  for (let i = s; i < e; i++) {
    const d = (buf[i] ?? 0) - 48;
    if (d < 0 || d > 7) return -1;
    value = value * 8 + d;
  }
  return value;
}

function checkOctal(buf: Buffer, at: number, start: number, length: number, field: string, entry: string) {
  const value = octal(buf, at + start, length);
  if (value < 0) {
    const raw = describe(buf.subarray(at + start, at + start + length));
    throw invalid(`tar entry ${entry}: ${field} field ${raw} is not an octal number`);
  }
  return value;
}

/** uid and gid: octal, or base-256 when the first byte is 0x80 (positive) or 0xff (negative). */
function checkId(buf: Buffer, at: number, start: number, field: string, entry: string): void {
  const first = buf[at + start];
  if (first === 0x80 || first === 0xff) return;
  checkOctal(buf, at, start, 8, field, entry);
}

function entryPath(buf: Buffer, at: number, index: number): string {
  const name = textField(buf, at, 100);
  const prefix = textField(buf, at + 345, 155);
  const label = `#${index + 1}`;
  for (const [part, what] of [
    [name, 'name'],
    [prefix, 'prefix'],
  ] as const) {
    if (part.includes(0)) {
      throw invalid(`tar entry ${label} (${describe(part)}): ${what} contains a NUL byte`);
    }
    if (!isUtf8(part)) throw invalid(`tar entry ${label} (${describe(part)}): ${what} is not valid UTF-8`);
  }
  const n = name.toString('utf8');
  if (prefix.length === 0) return n;
  const p = prefix.toString('utf8');
  // Ruby's File.join: exactly one "/" between the parts.
  return `${p.replace(/\/+$/, '')}/${n.replace(/^\/+/, '')}`;
}

function checkPath(path: string, index: number): void {
  const label = `tar entry #${index + 1}`;
  if (path === '') throw invalid(`${label} has an empty name`);
  const shown = JSON.stringify(path);
  if (path.startsWith('/')) throw invalid(`${label} ${shown} is an absolute path`);
  if (path.split('/').includes('..')) throw invalid(`${label} ${shown} has a ".." path segment`);
}

/** Whether the header at `at` carries its own checksum (unsigned or, as old tars, signed sum). */
function checksumMatches(buf: Buffer, at: number): boolean {
  const stored = octal(buf, at + 148, 8);
  if (stored < 0) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 32 : buf[at + i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** One header and its entry's bytes, checked. */
function readHeader(
  buf: Buffer,
  at: number,
  index: number,
  regularOnly: boolean,
  maxEntrySize: number,
): TarEntry {
  const name = entryPath(buf, at, index);
  checkPath(name, index);
  const label = JSON.stringify(name);
  const size = checkOctal(buf, at, 124, 12, 'size', label);
  checkOctal(buf, at, 100, 8, 'mode', label);
  checkId(buf, at, 108, 'uid', label);
  checkId(buf, at, 116, 'gid', label);
  checkOctal(buf, at, 136, 12, 'mtime', label);
  checkOctal(buf, at, 148, 8, 'checksum', label);
  checkOctal(buf, at, 263, 2, 'version', label);
  checkOctal(buf, at, 329, 8, 'devmajor', label);
  checkOctal(buf, at, 337, 8, 'devminor', label);
  const flag = buf[at + 156] ?? 0;
  const type = flag === 0 ? '0' : String.fromCharCode(flag);
  if (regularOnly && type !== '0') {
    const what = TYPE_NAMES[type] ?? `of unsupported type ${JSON.stringify(type)}`;
    throw invalid(`tar entry ${label} is ${what}; only regular files are allowed`);
  }
  if (size > maxEntrySize) {
    throw new QuarryError(
      'limit_exceeded',
      `tar entry ${label} is ${size} bytes, over the ${maxEntrySize}-byte limit`,
    );
  }
  const start = at + BLOCK;
  if (start + size > buf.length) {
    throw invalid(`tar entry ${label} is truncated: ${size} bytes declared, ${buf.length - start} present`);
  }
  return { name, type, size, data: buf.subarray(start, start + size) };
}

/**
 * Read every entry of a ustar archive. Throws invalid_gem for a malformed or unsafe archive and
 * limit_exceeded when an entry is too large or there are too many entries.
 */
export function readTar(buf: Buffer, options: TarReadOptions = {}): TarEntry[] {
  const maxEntries = options.maxEntries ?? 10_000;
  const maxEntrySize = options.maxEntrySize ?? Number.POSITIVE_INFINITY;
  const regularOnly = options.regularFilesOnly ?? true;
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let at = 0;
  while (at < buf.length) {
    const rest = buf.length - at;
    if (rest < BLOCK) {
      if (buf.subarray(at).every((b) => b === 0)) break;
      throw invalid(`tar header #${entries.length + 1} at byte ${at} is truncated (${rest} of 512 bytes)`);
    }
    if (buf.compare(ZERO_BLOCK, 0, BLOCK, at, at + BLOCK) === 0) break;
    if (entries.length >= maxEntries) {
      throw new QuarryError('limit_exceeded', `tar has more than ${maxEntries} entries`);
    }
    const index = entries.length;
    let entry: TarEntry;
    try {
      entry = readHeader(buf, at, index, regularOnly, maxEntrySize);
    } catch (e) {
      if (!(e instanceof QuarryError) || e.code !== 'invalid_gem' || checksumMatches(buf, at)) throw e;
      throw invalid(
        index === 0
          ? 'not a tar archive: the first 512 bytes are no tar header (is this a .gem file?)'
          : `tar header #${index + 1} at byte ${at} is malformed and fails its checksum`,
      );
    }
    const { name, size } = entry;
    const label = JSON.stringify(name);
    const start = at + BLOCK;
    if (seen.has(name)) throw invalid(`tar entry ${label} appears more than once`);
    seen.add(name);
    entries.push(entry);
    at = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}
