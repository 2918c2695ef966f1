/** Blobs in memory: for tests and ephemeral builds. */
import { createHash } from 'node:crypto';
import type { BlobEntry, BlobInfo, BlobStore } from './types.ts';
import { assertSafeKey } from './types.ts';

export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, Buffer>();

  async get(key: string): Promise<Buffer | null> {
    assertSafeKey(key);
    const b = this.objects.get(key);
    return b ? Buffer.from(b) : null;
  }

  async head(key: string): Promise<BlobInfo | null> {
    assertSafeKey(key);
    const b = this.objects.get(key);
    return b ? { size: b.length } : null;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    assertSafeKey(key);
    this.objects.set(key, Buffer.from(body));
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    this.objects.delete(key);
  }

  async *list(prefix: string): AsyncIterable<BlobEntry> {
    for (const key of [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort()) {
      const body = this.objects.get(key);
      if (body) yield { key, size: body.length, md5: createHash('md5').update(body).digest('hex') };
    }
  }
}
