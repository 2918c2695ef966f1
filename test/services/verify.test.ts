/** `verifyBlobs` (quarry verify) over a real catalog and the fs and memory blob stores. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { gemBlobKey } from '../../src/blobs/keys.ts';
import { MemoryBlobStore } from '../../src/blobs/memory.ts';
import type { BlobStore } from '../../src/blobs/types.ts';
import type { BlobRef } from '../../src/catalog/types.ts';
import type { Services } from '../../src/compose.ts';
import { composeServices } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';
import { verifyBlobs } from '../../src/services/verify.ts';
import { makeGem } from '../support/make-gem.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const HOUR = 60 * 60 * 1000;

/** A server's services on a temp data dir with the default fs store, and three pushed gems. */
async function populated(): Promise<{
  s: Services;
  dir: string;
  gems: Record<'alpha' | 'beta' | 'gamma', Buffer>;
  close(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'quarry-verify-'));
  const config = loadConfig({ env: {}, flags: { data: dir, log: { level: 'silent' } } as never });
  const s = await composeServices(config, () => new Date(), { metricsDefaults: false });
  const gems = {
    alpha: makeGem({ name: 'alpha', version: '1.0.0' }),
    beta: makeGem({ name: 'beta', version: '2.0.0', platform: 'java' }),
    gamma: makeGem({ name: 'gamma', version: '0.1.0' }),
  };
  for (const g of Object.values(gems)) await s.gems.push(g, async () => null);
  // A yanked version's blob is still referenced.
  await s.gems.yank('gamma', '0.1.0', undefined);
  return {
    s,
    dir,
    gems,
    async close() {
      await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const blobPath = (dir: string, key: string): string => join(dir, 'blobs', key);

const age = async (path: string, ms: number): Promise<void> => {
  const t = new Date(Date.now() - ms);
  await utimes(path, t, t);
};

describe('verifyBlobs', () => {
  it('passes a store that matches the catalog, yanked versions included', async () => {
    const p = await populated();
    try {
      const r = await verifyBlobs({ catalog: p.s.catalog, blobs: p.s.blobs, now: () => new Date() });
      assert.deepEqual(r, { referenced: 3, intact: 3, problems: [], orphans: [], tempFiles: [], ok: true });
    } finally {
      await p.close();
    }
  });

  it('names a missing and a corrupt blob by file and key, and lists an orphan without removing it', async () => {
    const p = await populated();
    try {
      const alphaKey = gemBlobKey(sha(p.gems.alpha));
      const betaKey = gemBlobKey(sha(p.gems.beta));
      await p.s.blobs.delete(alphaKey);
      const bad = Buffer.from(p.gems.beta);
      bad[bad.length - 1]! ^= 0xff;
      await writeFile(blobPath(p.dir, betaKey), bad);
      const orphanBody = randomBytes(100);
      const orphanKey = gemBlobKey(sha(orphanBody));
      await p.s.blobs.put(orphanKey, orphanBody);
      await age(blobPath(p.dir, orphanKey), 2 * HOUR);

      const r = await verifyBlobs({ catalog: p.s.catalog, blobs: p.s.blobs, now: () => new Date() });
      assert.equal(r.ok, false);
      assert.equal(r.referenced, 3);
      assert.equal(r.intact, 1);
      assert.deepEqual(
        r.problems.map((x) => [x.kind, x.file, x.key]),
        [
          ['missing', 'alpha-1.0.0.gem', alphaKey],
          ['corrupt', 'beta-2.0.0-java.gem', betaKey],
        ],
      );
      assert.equal(r.problems[1]!.actualSha256, sha(bad));
      assert.equal(r.problems[1]!.actualSize, bad.length);
      assert.deepEqual(
        r.orphans.map((o) => [o.key, o.size, o.action]),
        [[orphanKey, 100, 'kept']],
      );
      assert.ok(existsSync(blobPath(p.dir, orphanKey)), 'verify without --fix removed an orphan');
    } finally {
      await p.close();
    }
  });

  it('with fix removes only orphans and temp files older than an hour, never a referenced blob', async () => {
    const p = await populated();
    try {
      const alphaKey = gemBlobKey(sha(p.gems.alpha));
      const betaKey = gemBlobKey(sha(p.gems.beta));
      const gammaKey = gemBlobKey(sha(p.gems.gamma));
      await p.s.blobs.delete(alphaKey);
      // Referenced blobs, one corrupt, both old: they stay.
      await writeFile(blobPath(p.dir, betaKey), 'not a gem');
      await age(blobPath(p.dir, betaKey), 5 * HOUR);
      await age(blobPath(p.dir, gammaKey), 5 * HOUR);

      const oldBody = randomBytes(64);
      const oldKey = gemBlobKey(sha(oldBody));
      await p.s.blobs.put(oldKey, oldBody);
      await age(blobPath(p.dir, oldKey), HOUR + 60_000);
      const youngBody = randomBytes(64);
      const youngKey = gemBlobKey(sha(youngBody));
      await p.s.blobs.put(youngKey, youngBody);
      await age(blobPath(p.dir, youngKey), HOUR - 60_000);
      // Not a key gemBlobKey builds (the shard folder does not match), so nothing refers to it.
      const strayKey = `gems/sha256/00/${sha(Buffer.from('stray'))}.gem`;
      await p.s.blobs.put(strayKey, Buffer.from('stray'));
      await age(blobPath(p.dir, strayKey), 3 * HOUR);
      // Leftovers of interrupted writes beside a blob.
      const shard = dirname(blobPath(p.dir, gammaKey));
      const oldTmp = join(shard, '.tmp-123-0a1b2c3d4e5f');
      const youngTmp = join(shard, '.tmp-456-0a1b2c3d4e5f');
      await writeFile(oldTmp, 'partial');
      await age(oldTmp, 2 * HOUR);
      await writeFile(youngTmp, 'partial');
      // Other hidden files are not the store's temp files.
      const otherHidden = join(shard, '.keep');
      await writeFile(otherHidden, '');
      await age(otherHidden, 2 * HOUR);

      const r = await verifyBlobs(
        { catalog: p.s.catalog, blobs: p.s.blobs, now: () => new Date() },
        { fix: true },
      );
      assert.equal(r.ok, false);
      assert.deepEqual(
        r.problems.map((x) => [x.kind, x.file]),
        [
          ['missing', 'alpha-1.0.0.gem'],
          ['corrupt', 'beta-2.0.0-java.gem'],
        ],
      );
      const byKey = new Map(r.orphans.map((o) => [o.key, o.action]));
      assert.deepEqual(
        byKey,
        new Map([
          [oldKey, 'removed'],
          [youngKey, 'recent'],
          [strayKey, 'removed'],
        ]),
      );
      assert.ok(!existsSync(blobPath(p.dir, oldKey)));
      assert.ok(!existsSync(blobPath(p.dir, strayKey)));
      assert.ok(existsSync(blobPath(p.dir, youngKey)));
      assert.ok(existsSync(blobPath(p.dir, betaKey)), 'a corrupt referenced blob was removed');
      assert.ok(existsSync(blobPath(p.dir, gammaKey)), 'a referenced blob was removed');
      const shardRel = dirname(gammaKey);
      assert.deepEqual(
        r.tempFiles.map((t) => [t.path, t.action]),
        [
          [`${shardRel}/.tmp-123-0a1b2c3d4e5f`, 'removed'],
          [`${shardRel}/.tmp-456-0a1b2c3d4e5f`, 'recent'],
        ],
      );
      assert.ok(!existsSync(oldTmp));
      assert.ok(existsSync(youngTmp));
      assert.ok(existsSync(otherHidden));

      // The missing blob is still reported on the next run; nothing more is removed.
      const again = await verifyBlobs(
        { catalog: p.s.catalog, blobs: p.s.blobs, now: () => new Date() },
        { fix: true },
      );
      assert.deepEqual(
        again.problems.map((x) => [x.kind, x.file]),
        [
          ['missing', 'alpha-1.0.0.gem'],
          ['corrupt', 'beta-2.0.0-java.gem'],
        ],
      );
      assert.deepEqual(
        again.orphans.map((o) => [o.key, o.action]),
        [[youngKey, 'recent']],
      );
    } finally {
      await p.close();
    }
  });

  it('ages blobs against the clock it is given', async () => {
    let now = new Date('2024-01-01T00:00:00Z');
    const clock = () => new Date(now);
    const blobs = new MemoryBlobStore(clock);
    const live = Buffer.from('live gem bytes');
    const orphan = Buffer.from('orphan bytes');
    await blobs.put(gemBlobKey(sha(live)), live);
    await blobs.put(gemBlobKey(sha(orphan)), orphan);
    const catalog = {
      blobRefs: async (): Promise<BlobRef[]> => [
        { sha256: sha(live), size: live.length, fullName: 'live-1.0' },
      ],
    };
    now = new Date('2024-01-01T00:59:59Z');
    let r = await verifyBlobs({ catalog, blobs, now: clock }, { fix: true });
    assert.deepEqual(
      r.orphans.map((o) => [o.key, o.modified, o.action]),
      [[gemBlobKey(sha(orphan)), '2024-01-01T00:00:00.000Z', 'recent']],
    );
    now = new Date('2024-01-01T01:00:00Z');
    r = await verifyBlobs({ catalog, blobs, now: clock }, { fix: true });
    assert.deepEqual(
      r.orphans.map((o) => o.action),
      ['removed'],
    );
    assert.equal(await blobs.get(gemBlobKey(sha(orphan))), null);
    assert.ok((await blobs.get(gemBlobKey(sha(live))))?.equals(live));
    assert.equal(r.ok, true);
  });

  it('keeps an orphan that a version comes to refer to while verify runs', async () => {
    const blobs = new MemoryBlobStore(() => new Date('2024-01-01T00:00:00Z'));
    const body = Buffer.from('pushed again');
    await blobs.put(gemBlobKey(sha(body)), body);
    let calls = 0;
    const catalog = {
      // The first read predates the push; the second, just before deleting, sees it.
      blobRefs: async (): Promise<BlobRef[]> =>
        calls++ === 0 ? [] : [{ sha256: sha(body), size: body.length, fullName: 'again-1.0' }],
    };
    const r = await verifyBlobs(
      { catalog, blobs, now: () => new Date('2024-01-02T00:00:00Z') },
      { fix: true },
    );
    assert.equal(calls, 2);
    assert.deepEqual(
      r.orphans.map((o) => o.action),
      ['referenced'],
    );
    assert.ok(await blobs.head(gemBlobKey(sha(body))));
  });

  it('reports a blob the store fails to read as unreadable, and goes on', async () => {
    const inner = new MemoryBlobStore();
    const a = Buffer.from('a');
    const b = Buffer.from('b');
    await inner.put(gemBlobKey(sha(a)), a);
    await inner.put(gemBlobKey(sha(b)), b);
    const failing: BlobStore = {
      get: (k) => (k === gemBlobKey(sha(a)) ? Promise.reject(new Error('EIO: disk on fire')) : inner.get(k)),
      head: (k) => inner.head(k),
      put: (k, v) => inner.put(k, v),
      delete: (k) => inner.delete(k),
      list: (prefix, o) => inner.list(prefix, o),
    };
    const catalog = {
      blobRefs: async (): Promise<BlobRef[]> => [
        { sha256: sha(a), size: 1, fullName: 'a-1' },
        { sha256: sha(b), size: 1, fullName: 'b-1' },
      ],
    };
    const r = await verifyBlobs({ catalog, blobs: failing, now: () => new Date() });
    assert.equal(r.ok, false);
    assert.equal(r.intact, 1);
    assert.deepEqual(
      r.problems.map((x) => [x.kind, x.file, x.error]),
      [['unreadable', 'a-1.gem', 'EIO: disk on fire']],
    );
  });
});
