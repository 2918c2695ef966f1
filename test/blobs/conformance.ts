/** One suite that every blob-store driver runs (memory, fs, and later S3). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { BlobStore } from '../../src/blobs/types.ts';

export function blobStoreConformance(
  name: string,
  make: () => Promise<{ store: BlobStore; cleanup(): Promise<void> }>,
): void {
  describe(`blob store conformance: ${name}`, () => {
    const withStore = async (fn: (s: BlobStore) => Promise<void>) => {
      const { store, cleanup } = await make();
      try {
        await fn(store);
      } finally {
        await cleanup();
      }
    };

    it('returns null for a missing key', () =>
      withStore(async (s) => {
        assert.equal(await s.get('gems/none.gem'), null);
        assert.equal(await s.head('gems/none.gem'), null);
      }));

    it('round-trips bytes exactly, including binary and empty bodies', () =>
      withStore(async (s) => {
        const body = Buffer.from([0, 1, 2, 255, 0x1f, 0x8b, 10, 13]);
        await s.put('a/b/c.bin', body);
        assert.deepEqual(await s.get('a/b/c.bin'), body);
        assert.deepEqual(await s.head('a/b/c.bin'), { size: body.length });
        await s.put('empty', new Uint8Array());
        assert.deepEqual(await s.get('empty'), Buffer.alloc(0));
      }));

    it('overwrites an existing key', () =>
      withStore(async (s) => {
        await s.put('k', Buffer.from('one'));
        await s.put('k', Buffer.from('two'));
        assert.equal((await s.get('k'))?.toString(), 'two');
      }));

    it('deletes, and deleting a missing key is not an error', () =>
      withStore(async (s) => {
        await s.put('gone', Buffer.from('x'));
        await s.delete('gone');
        assert.equal(await s.get('gone'), null);
        await s.delete('gone');
      }));

    it('lists keys under a prefix in byte order', () =>
      withStore(async (s) => {
        for (const k of ['p/b', 'p/a', 'p/sub/c', 'q/a', 'pz']) await s.put(k, Buffer.from(k));
        const got: string[] = [];
        for await (const e of s.list('p/')) {
          got.push(e.key);
          assert.equal(e.size, Buffer.byteLength(e.key));
          if (e.md5 !== null) assert.equal(e.md5, createHash('md5').update(e.key).digest('hex'));
        }
        assert.deepEqual(got, ['p/a', 'p/b', 'p/sub/c']);
      }));

    it('refuses keys that could escape the store', () =>
      withStore(async (s) => {
        for (const bad of ['../x', '/etc/passwd', 'a/../../x', 'a//b', '', 'a/.hidden', 'a\\b']) {
          await assert.rejects(s.put(bad, Buffer.from('x')), /unsafe blob key|escapes/, bad);
          await assert.rejects(s.get(bad), /unsafe blob key|escapes/, bad);
        }
      }));

    it('keeps concurrent writes of different keys apart', () =>
      withStore(async (s) => {
        await Promise.all(Array.from({ length: 20 }, (_, i) => s.put(`c/${i}`, Buffer.from(String(i)))));
        for (let i = 0; i < 20; i++) assert.equal((await s.get(`c/${i}`))?.toString(), String(i));
      }));
  });
}
