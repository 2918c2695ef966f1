/**
 * Mirrored gems staged, then recorded in one batch: a gem's row is written only once its bytes are
 * stored, and a gem whose store failed is answered with that failure while the others are recorded.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { gemBlobKey } from '../../src/blobs/keys.ts';
import { MemoryBlobStore } from '../../src/blobs/memory.ts';
import { openCatalog } from '../../src/catalog/open.ts';
import { GemService } from '../../src/services/gems.ts';
import { sha256Hex } from '../../src/upstream/checks.ts';
import { makeGem } from '../support/make-gem.ts';

/** A store whose writes of one key fail, and that says when each write finished. */
class FlakyStore extends MemoryBlobStore {
  readonly finished: string[] = [];
  constructor(private readonly failing: string) {
    super();
  }
  override async put(key: string, body: Uint8Array): Promise<void> {
    await new Promise((r) => setTimeout(r, 5));
    if (key === this.failing) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    await super.put(key, body);
    this.finished.push(key);
  }
}

it('records each staged gem after its bytes are stored, and fails only the one whose store failed', async () => {
  const now = () => new Date('2026-01-01T00:00:00Z');
  const catalog = await openCatalog(':memory:', now, { createdAt: false });
  const good = [makeGem({ name: 'alpha', version: '1.0.0' }), makeGem({ name: 'beta', version: '1.0.0' })];
  const bad = makeGem({ name: 'gamma', version: '1.0.0' });
  const blobs = new FlakyStore(gemBlobKey(sha256Hex(bad)));
  const gems = new GemService({ catalog, blobs, now });
  await gems.ensureVersionsBase();
  const staged = [
    await gems.stageMirrored(good[0]!, 'up'),
    await gems.stageMirrored(bad, 'up'),
    await gems.stageMirrored(good[1]!, 'up'),
  ];
  // Staging does not wait for the store.
  assert.equal(blobs.finished.length, 0);
  const results = await gems.recordStaged(staged);
  assert.ok(!(results[0] instanceof Error), String(results[0]));
  assert.ok(results[1] instanceof Error);
  assert.match(String(results[1]), /space|storage/i);
  assert.ok(!(results[2] instanceof Error), String(results[2]));
  assert.deepEqual(
    (await catalog.liveTuples()).map((t) => t.name),
    ['alpha', 'beta'],
  );
  for (const g of good) assert.ok(await blobs.get(gemBlobKey(sha256Hex(g))));
  await catalog.close();
});
