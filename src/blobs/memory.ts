/** Blobs in memory: for tests and ephemeral builds. */
import { createHash } from 'node:crypto';
import type { BlobEntry, BlobInfo, BlobStore, ListOptions } from './types.ts';
import { assertSafeKey } from './types.ts';

interface MemoryObject {
  body: Buffer;
  modified: Date;
}

export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, MemoryObject>();

  /** `now` stamps each write's modified time (tests pass a clock they move). */
  constructor(private readonly now: () => Date = () => new Date()) {}

  async get(key: string): Promise<Buffer | null> {
    assertSafeKey(key);
    const o = this.objects.get(key);
    return o ? Buffer.from(o.body) : null;
  }

  async head(key: string): Promise<BlobInfo | null> {
    assertSafeKey(key);
    const o = this.objects.get(key);
    return o ? { size: o.body.length } : null;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    assertSafeKey(key);
    this.objects.set(key, { body: Buffer.from(body), modified: this.now() });
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    this.objects.delete(key);
  }

  async stream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const body = await this.get(key);
    if (body === null) return null;
    return (async function* () {
      yield body;
    })();
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobEntry> {
    const withMd5 = options.md5 ?? true;
    for (const key of [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort()) {
      const o = this.objects.get(key);
      if (!o) continue;
      yield {
        key,
        size: o.body.length,
        md5: withMd5 ? createHash('md5').update(o.body).digest('hex') : null,
        modified: new Date(o.modified),
      };
    }
  }
}
