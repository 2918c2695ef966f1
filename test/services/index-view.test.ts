/**
 * The derived index view: cache hits come back synchronously while the view is known to be current,
 * this node's writes show at once, other nodes' writes within refresh_ms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IndexView } from '../../src/services/index-view.ts';
import { push, startHarness } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';

const now = () => new Date('2024-01-01T00:00:00Z');

describe('IndexView', () => {
  it('answers hits synchronously while fresh, and sees its own writes at once', async () => {
    const h = await startHarness({ index: { refresh_ms: 60_000 } });
    try {
      const gem = makeGem({ name: 'alpha', version: '1.0.0' });
      assert.equal((await push(h, gem)).statusCode, 200);
      const view = h.services.index;
      const first = await view.info('alpha');
      assert.ok(first);
      const again = view.info('alpha');
      assert.ok(!(again instanceof Promise), 'a hit is not a promise');
      assert.equal(again, first);
      const versions = await view.versionsFile();
      assert.equal(view.versionsFile(), versions);
      const v = await view.gemFile('alpha-1.0.0');
      assert.ok(v && !(view.gemFile('alpha-1.0.0') instanceof Promise));
      assert.ok(Buffer.isBuffer(await h.services.gemBodies.get(v.sha256)));
      assert.ok(Buffer.isBuffer(h.services.gemBodies.get(v.sha256)), 'a body in memory comes at once');
      // A push through this node invalidates the view: the next read asks the catalog.
      assert.equal((await push(h, makeGem({ name: 'alpha', version: '1.1.0' }))).statusCode, 200);
      const after = view.info('alpha');
      assert.ok(after instanceof Promise);
      assert.match((await after)!.body.toString(), /^1\.1\.0 /m);
      assert.ok(!(view.info('alpha') instanceof Promise));
    } finally {
      await h.close();
    }
  });

  it("sees another node's writes once refresh_ms has passed", async () => {
    const h = await startHarness();
    try {
      assert.equal((await push(h, makeGem({ name: 'alpha', version: '1.0.0' }))).statusCode, 200);
      const other = new IndexView(h.services.catalog, { createdAt: false }, now, 100);
      const before = await other.versionsFile();
      assert.equal(other.versionsFile(), before);
      assert.equal((await push(h, makeGem({ name: 'beta', version: '1.0.0' }))).statusCode, 200);
      assert.equal(other.versionsFile(), before, 'not looked at the catalog yet');
      await sleep(150);
      const seen = await other.versionsFile();
      assert.notEqual(seen.md5, before.md5);
      assert.match(seen.body.toString(), /^beta 1\.0\.0 /m);
    } finally {
      await h.close();
    }
  });

  it('asks the catalog on every read with refresh_ms 0', async () => {
    const h = await startHarness();
    try {
      assert.equal((await push(h, makeGem({ name: 'alpha', version: '1.0.0' }))).statusCode, 200);
      const every = new IndexView(h.services.catalog, { createdAt: false }, now, 0);
      const first = await every.info('alpha');
      const again = every.info('alpha');
      assert.ok(again instanceof Promise);
      assert.equal(await again, first, 'unchanged generation: the same cached body');
    } finally {
      await h.close();
    }
  });
});
