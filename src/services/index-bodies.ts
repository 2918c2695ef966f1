/**
 * The bodies the index view serves and how it holds them: a Representation (a body with the
 * digests HTTP needs, computed once), the growing /versions body, and the off-heap store of /info
 * bodies. No IO.
 */
import type { Hash } from 'node:crypto';
import { createHash } from 'node:crypto';
import type { VersionsLogRow } from '../catalog/types.ts';
import { md5Hex } from '../index/compact.ts';
import { byteCompare } from '../index/order.ts';

/** A body with the digests HTTP needs, computed once. */
export interface Representation {
  body: Buffer;
  /** Hex MD5: the compact index ETag. */
  md5: string;
  /** Base64 SHA-256: Repr-Digest and Digest. */
  sha256: string;
  /** When the underlying data last changed (for Last-Modified / If-Modified-Since). */
  modified: Date;
}

export function represent(body: Buffer | string, modified: Date): Representation {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return {
    body: buf,
    md5: md5Hex(buf),
    sha256: createHash('sha256').update(buf).digest('base64'),
    modified,
  };
}

/**
 * The /versions body: the base plus the log rows appended since, in a buffer with room to grow, so
 * an append copies only the new rows; the MD5 and SHA-256 are carried forward the same way. Earlier
 * representations stay valid: they view bytes that never change.
 */
export class VersionsBody {
  private buf: Buffer;
  private length: number;
  private readonly md5: Hash;
  private readonly sha256: Hash;
  rep: Representation;

  constructor(
    /** Which base this body grew from: `createdAt baseSeq`. */
    readonly baseId: string,
    base: string,
    /** The last log row in the body. */
    public seq: number,
    modified: Date,
  ) {
    const bytes = Buffer.from(base, 'utf8');
    this.buf = Buffer.allocUnsafe(bytes.length + Math.max(64 * 1024, bytes.length >> 4));
    bytes.copy(this.buf);
    this.length = bytes.length;
    this.md5 = createHash('md5').update(bytes);
    this.sha256 = createHash('sha256').update(bytes);
    this.rep = this.represent(modified);
  }

  private represent(modified: Date): Representation {
    return {
      body: this.buf.subarray(0, this.length),
      md5: this.md5.copy().digest('hex'),
      sha256: this.sha256.copy().digest('base64'),
      modified,
    };
  }

  append(rows: readonly VersionsLogRow[], modified: Date): void {
    if (rows.length === 0) return;
    let text = '';
    for (const r of rows) text += `${r.name} ${r.tokens} ${r.infoMd5}\n`;
    const tail = Buffer.from(text, 'utf8');
    if (this.length + tail.length > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.ceil((this.length + tail.length) * 1.25));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    tail.copy(this.buf, this.length);
    this.length += tail.length;
    this.md5.update(tail);
    this.sha256.update(tail);
    this.seq = rows.at(-1)!.seq;
    this.rep = this.represent(modified);
  }
}

/** The /info MD5 of a gem with no live version ("---\n"): its log row takes it out of /names. */
export const NO_LIVE_VERSION_MD5 = md5Hex('---\n');

interface StoredInfo {
  chunk: Buffer;
  offset: number;
  length: number;
  md5: string;
  sha256: string;
  /** The representation's date, ms (kept, so a body served again keeps its Last-Modified). */
  modified: number;
}

/**
 * /info bodies in large shared buffers: outside the JS heap, which the garbage collector does not
 * walk, so holding every body of a large catalog costs little heap and no pauses (the digests and
 * the index stay on the heap, about 200 bytes a gem). A hit becomes a Representation again (a view
 * of the bytes, the stored digests). When full, the oldest buffer goes, with the bodies in it.
 */
export class InfoStore {
  private readonly index = new Map<string, StoredInfo>();
  /** Oldest first; each with the names whose bodies it holds. */
  private readonly chunks: { buf: Buffer; used: number; names: string[] }[] = [];
  private bytes = 0;

  constructor(
    private readonly limit: number,
    private readonly chunkSize = 4 * 1024 * 1024,
  ) {}

  get(name: string): Representation | undefined {
    const e = this.index.get(name);
    if (!e) return undefined;
    const body = e.chunk.subarray(e.offset, e.offset + e.length);
    return {
      body,
      md5: e.md5,
      sha256: e.sha256,
      modified: new Date(e.modified),
    };
  }

  /** Stores a body; false when it is too large for the store (a rare huge one: hot set only). */
  set(name: string, rep: Representation): boolean {
    const n = rep.body.length;
    if (n > this.chunkSize / 4) return false;
    let cur = this.chunks.at(-1);
    if (!cur || cur.used + n > cur.buf.length) {
      cur = { buf: Buffer.allocUnsafe(this.chunkSize), used: 0, names: [] };
      this.chunks.push(cur);
      this.bytes += this.chunkSize;
      while (this.bytes > this.limit && this.chunks.length > 1) {
        const old = this.chunks.shift()!;
        this.bytes -= old.buf.length;
        for (const k of old.names) if (this.index.get(k)?.chunk === old.buf) this.index.delete(k);
      }
    }
    rep.body.copy(cur.buf, cur.used);
    this.index.set(name, {
      chunk: cur.buf,
      offset: cur.used,
      length: n,
      md5: rep.md5,
      sha256: rep.sha256,
      modified: rep.modified.getTime(),
    });
    cur.names.push(name);
    cur.used += n;
    return true;
  }

  delete(name: string): void {
    this.index.delete(name);
  }

  clear(): void {
    this.index.clear();
    this.chunks.length = 0;
    this.bytes = 0;
  }
}

/** True when a key NAME-VERSION[-PLATFORM] belongs to one of `names` (names may hold '-'). */
export function keyOf(names: ReadonlySet<string>, key: string): boolean {
  for (let i = key.indexOf('-'); i > 0; i = key.indexOf('-', i + 1))
    if (names.has(key.slice(0, i))) return true;
  return false;
}

/** Index of `name` in a byte-sorted list, or -(insertion point) - 1. */
export function search(list: readonly string[], name: string): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = byteCompare(list[mid]!, name);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/**
 * Representations of freshly built files dated `modified`: a file whose bytes and date did not
 * change keeps its earlier representation (and so its ETag).
 */
export function sameBytesSameTag(
  old: ReadonlyMap<string, Representation> | null,
  files: readonly { path: string; body: Buffer; md5: string; sha256: string }[],
  modified: Date,
): Map<string, Representation> {
  const next = new Map<string, Representation>();
  for (const f of files) {
    const prev = old?.get(f.path);
    next.set(
      f.path,
      prev && prev.md5 === f.md5 && prev.sha256 === f.sha256 && prev.modified.getTime() === modified.getTime()
        ? prev
        : { body: f.body, md5: f.md5, sha256: f.sha256, modified },
    );
  }
  return next;
}
