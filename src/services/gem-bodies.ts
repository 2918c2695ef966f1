/**
 * .gem bytes by SHA-256, through a bounded in-memory LRU. Blobs are content-addressed and
 * immutable, so a cached body can never be stale; the cache only saves store round trips for the
 * gems clients download most.
 */
import { gemBlobKey } from '../blobs/keys.ts';
import type { BlobStore } from '../blobs/types.ts';
import { readBlobStream } from '../blobs/types.ts';
import type { Maybe } from '../util/maybe.ts';

export class GemBodies {
  private readonly lru = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    private readonly blobs: BlobStore,
    /** Total bytes kept in memory; 0 turns the cache off. */
    private readonly maxBytes: number,
    /** Bodies larger than this are never cached. */
    private readonly maxItemBytes = 4 * 1024 * 1024,
  ) {}

  /** True when a body of this size is read whole (and may be cached); larger ones are streamed. */
  holds(size: number): boolean {
    return size <= this.maxItemBytes;
  }

  /** The body as a stream, or null when the blob is missing. */
  stream(sha256: string): Promise<AsyncIterable<Uint8Array> | null> {
    return readBlobStream(this.blobs, gemBlobKey(sha256));
  }

  /** The body, synchronously when it is in memory. */
  get(sha256: string): Maybe<Buffer | null> {
    const hit = this.lru.get(sha256);
    if (!hit) return this.load(sha256);
    this.lru.delete(sha256);
    this.lru.set(sha256, hit);
    return hit;
  }

  private async load(sha256: string): Promise<Buffer | null> {
    const body = await this.blobs.get(gemBlobKey(sha256));
    if (body && this.maxBytes > 0 && body.length <= this.maxItemBytes && !this.lru.has(sha256)) {
      this.lru.set(sha256, body);
      this.bytes += body.length;
      for (const [k, v] of this.lru) {
        if (this.bytes <= this.maxBytes) break;
        this.lru.delete(k);
        this.bytes -= v.length;
      }
    }
    return body;
  }
}
