import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { FsBlobStore } from '../../src/blobs/fs.ts';
import { MemoryBlobStore } from '../../src/blobs/memory.ts';
import { blobStoreConformance } from './conformance.ts';

blobStoreConformance('memory', async () => ({ store: new MemoryBlobStore(), cleanup: async () => {} }));

blobStoreConformance('fs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'quarry-blobs-'));
  return { store: new FsBlobStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

it('fs store leaves no temp files behind after writes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'quarry-blobs-'));
  try {
    const s = new FsBlobStore(dir);
    await Promise.all(Array.from({ length: 10 }, () => s.put('same', Buffer.from('x'))));
    assert.deepEqual(await readdir(dir), ['same']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
