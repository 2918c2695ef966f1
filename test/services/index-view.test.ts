/**
 * The derived index view: cache hits come back synchronously while the view is known to be current,
 * this node's writes show at once, other nodes' writes within refresh_ms (another process writing to
 * the same SQLite file stands in for another node), or at once when the catalog announces changes
 * (PostgreSQL LISTEN/NOTIFY).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openCatalog } from '../../src/catalog/open.ts';
import { IndexView } from '../../src/services/index-view.ts';
import { push, startHarness } from '../http/harness.ts';
import { startCatalogWriter } from '../support/catalog-writer.ts';
import { makeGem } from '../support/make-gem.ts';
import { startPostgres } from '../support/postgres.ts';

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

  it("sees another process's writes to a shared SQLite file once refresh_ms has passed", async () => {
    // The writer is another process with its own connection to the file, as another node (or a
    // `quarry serve --workers N` worker) would be; this process only reads.
    const dir = await mkdtemp(join(tmpdir(), 'quarry-view-'));
    const url = `sqlite:${join(dir, 'catalog.sqlite3')}`;
    const writer = await startCatalogWriter(url);
    const catalog = await openCatalog(url, now, {});
    try {
      await writer.push('alpha', '1.0.0');
      const REFRESH_MS = 300;
      const view = new IndexView(catalog, { createdAt: false }, now, REFRESH_MS);
      const checkedFrom = performance.now();
      const before = await view.versionsFile();
      assert.match(before.body.toString(), /^alpha 1\.0\.0 /m);

      await writer.push('beta', '1.0.0');
      const wrote = performance.now();
      // Polled without sleeping a fixed time: while the view is fresh a read is a synchronous hit on
      // the old body; the first read after refresh_ms asks the catalog and finds beta.
      let seenAt = 0;
      while (seenAt === 0) {
        const r = view.versionsFile();
        if (!(r instanceof Promise)) {
          assert.equal(r, before, 'a hit serves what the view had');
          assert.ok(performance.now() - checkedFrom < REFRESH_MS + 1_000, 'a hit long past refresh_ms');
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        const seen = await r;
        if (/^beta 1\.0\.0 /m.test(seen.body.toString())) seenAt = performance.now();
        else assert.ok(performance.now() - wrote < REFRESH_MS + 5_000, 'beta never showed');
      }
      assert.ok(
        seenAt - checkedFrom >= REFRESH_MS - 2,
        `the write showed ${Math.round(seenAt - checkedFrom)} ms after the check, before refresh_ms`,
      );
      assert.ok(
        seenAt - wrote < REFRESH_MS + 1_000,
        `the write showed ${Math.round(seenAt - wrote)} ms after it committed (refresh_ms ${REFRESH_MS})`,
      );
      // /info of the new gem, and its /versions line's MD5.
      const info = await view.info('beta');
      assert.ok(info);
      const versions = await view.versionsFile();
      assert.match(versions.body.toString(), new RegExp(`^beta 1\\.0\\.0 ${info.md5}$`, 'm'));
    } finally {
      await catalog.close();
      await writer.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("sees another process's writes to PostgreSQL at once, through LISTEN/NOTIFY", async () => {
    const pg = await startPostgres();
    try {
      const url = await pg.createDatabase();
      const writer = await startCatalogWriter(url);
      const catalog = await openCatalog(url, now, {});
      try {
        await writer.push('alpha', '1.0.0');
        // A poll a minute away: only the notification can make the view look sooner.
        const view = new IndexView(catalog, { createdAt: false }, now, 60_000);
        const before = await view.versionsFile();
        assert.match(before.body.toString(), /^alpha 1\.0\.0 /m);
        assert.equal(view.versionsFile(), before, 'a hit while fresh');
        await writer.push('beta', '1.0.0');
        const wrote = performance.now();
        for (;;) {
          const r = view.versionsFile();
          const seen = r instanceof Promise ? await r : r;
          if (/^beta 1\.0\.0 /m.test(seen.body.toString())) break;
          assert.ok(performance.now() - wrote < 10_000, 'no notification within 10 s');
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        // The view is fresh again: hits until the next change.
        const after = await view.versionsFile();
        assert.equal(view.versionsFile(), after);
      } finally {
        await catalog.close();
        await writer.stop();
      }
    } finally {
      await pg.stop();
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
