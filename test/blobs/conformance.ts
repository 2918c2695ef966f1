/** One suite that every blob-store driver runs (memory, fs, and later S3). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { BlobStore } from '../../src/blobs/types.ts';
import { readBlobStream } from '../../src/blobs/types.ts';

const drain = async (it: AsyncIterable<Uint8Array>): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
};

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
          // Asked for (the default), the MD5 of a small object stored in one piece is known to every store.
          assert.equal(e.md5, createHash('md5').update(e.key).digest('hex'), e.key);
        }
        assert.deepEqual(got, ['p/a', 'p/b', 'p/sub/c']);
      }));

    it('lists each object with its size and last-modified time, and without MD5s when asked', () =>
      withStore(async (s) => {
        // Stores keep whole seconds (S3), and a server's clock may be a little off ours.
        const before = Date.now() - 2_000;
        await s.put('m/one', Buffer.from('12345'));
        await s.put('m/two', Buffer.alloc(0));
        const after = Date.now() + 2_000;
        const entries = [];
        for await (const e of s.list('m/', { md5: false })) entries.push(e);
        assert.deepEqual(
          entries.map((e) => [e.key, e.size]),
          [
            ['m/one', 5],
            ['m/two', 0],
          ],
        );
        for (const e of entries) {
          assert.ok(e.modified instanceof Date, `${e.key}: modified is not a Date`);
          const t = e.modified.getTime();
          assert.ok(t >= before && t <= after, `${e.key}: modified ${e.modified.toISOString()} is off`);
          // Not asked for: null, or the right one when the store has it for free (an S3 ETag).
          const body = e.key === 'm/one' ? '12345' : '';
          assert.ok(
            e.md5 === null || e.md5 === createHash('md5').update(body).digest('hex'),
            `${e.key}: md5 ${e.md5}`,
          );
        }
        for await (const e of s.list('nothing/')) assert.fail(`listed ${e.key} under an empty prefix`);
      }));

    it('streams an object, and gives null for a missing one', () =>
      withStore(async (s) => {
        const body = Buffer.concat([Buffer.from([0, 255, 0x1f, 0x8b]), Buffer.alloc(300_000, 7)]);
        await s.put('st/big.bin', body);
        const stream = await readBlobStream(s, 'st/big.bin');
        assert.ok(stream !== null);
        assert.ok((await drain(stream)).equals(body), 'streamed bytes differ');
        assert.equal(await readBlobStream(s, 'st/missing.bin'), null);
        await s.put('st/empty', new Uint8Array());
        const empty = await readBlobStream(s, 'st/empty');
        assert.ok(empty !== null);
        assert.equal((await drain(empty)).length, 0);
        // Every driver streams (readBlobStream falls back to get() only for stores outside this suite).
        assert.ok(s.stream, 'the store has stream()');
        assert.equal(await s.stream('st/missing.bin'), null);
        await assert.rejects(readBlobStream(s, '../x'), /unsafe blob key|escapes/);
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
