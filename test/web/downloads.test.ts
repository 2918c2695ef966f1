/**
 * Download counts: the counter (services/downloads.ts) against fakes, and a server on loopback whose
 * .gem downloads go through each path that serves them (the socket responder, node:http, Fastify's
 * routes), counted in memory and shown on the gem page and in the JSON API after one flush.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../src/compose.ts';
import { composeServer } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';
import { DownloadCounter } from '../../src/services/downloads.ts';
import { makeGem } from '../support/make-gem.ts';

/** A fake catalog write that fails while `failing` is set, and records what it was given. */
function fakeStore() {
  const written: Map<number, number>[] = [];
  const store = {
    failing: false,
    calls: 0,
    written,
    async addDownloads(counts: ReadonlyMap<number, number>) {
      store.calls++;
      if (store.failing) throw new Error('catalog unreachable');
      written.push(new Map(counts));
    },
    /** Everything written, summed by id. */
    totals(): Map<number, number> {
      const out = new Map<number, number>();
      for (const w of written) for (const [id, n] of w) out.set(id, (out.get(id) ?? 0) + n);
      return out;
    },
  };
  return store;
}

const IDS: Record<string, number> = { 'a-1.0': 1, 'a-2.0': 2, 'b-1.0-java': 3 };

describe('download counter', () => {
  it('writes the counts of many downloads in one call, by version id; unknown names are dropped', async () => {
    const store = fakeStore();
    const c = new DownloadCounter({
      resolve: (f) => IDS[f] ?? null,
      addDownloads: (m) => store.addDownloads(m),
      flushMs: 3_600_000,
    });
    for (let i = 0; i < 250; i++) c.count('a-1.0');
    for (let i = 0; i < 7; i++) c.count('b-1.0-java');
    c.count('upstream-only-1.0');
    assert.equal(store.calls, 0, 'nothing is written per download');
    await c.flush();
    assert.equal(store.calls, 1);
    assert.deepEqual(store.written, [
      new Map([
        [1, 250],
        [3, 7],
      ]),
    ]);
    assert.equal(c.unflushed.size, 0);
    await c.flush();
    assert.equal(store.calls, 1, 'an empty flush writes nothing');
  });

  it('keeps the counts of a failed flush for the next one: none lost, none twice', async () => {
    const store = fakeStore();
    const logged: string[] = [];
    const c = new DownloadCounter({
      resolve: (f) => IDS[f] ?? null,
      addDownloads: (m) => store.addDownloads(m),
      flushMs: 3_600_000,
      log: (msg) => logged.push(msg),
    });
    for (let i = 0; i < 5; i++) c.count('a-1.0');
    c.count('a-2.0');
    store.failing = true;
    await assert.rejects(c.flush(), /catalog unreachable/);
    await assert.rejects(c.flush(), /catalog unreachable/);
    assert.equal(logged.length, 2);
    assert.deepEqual(
      new Map(c.unflushed),
      new Map([
        ['a-1.0', 5],
        ['a-2.0', 1],
      ]),
    );
    for (let i = 0; i < 3; i++) c.count('a-1.0');
    store.failing = false;
    await c.flush();
    assert.deepEqual(
      store.totals(),
      new Map([
        [1, 8],
        [2, 1],
      ]),
    );
    await c.flush();
    assert.deepEqual(store.written.length, 1, 'written once');
  });

  it('counts downloads made during a flush in the next flush, and resolution failures keep the counts', async () => {
    const store = fakeStore();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let entered: () => void = () => {};
    const inFlush = new Promise<void>((r) => {
      entered = r;
    });
    let resolveFails = true;
    const c = new DownloadCounter({
      resolve: async (f) => {
        if (resolveFails) throw new Error('lookup failed');
        entered();
        await gate;
        return IDS[f] ?? null;
      },
      addDownloads: (m) => store.addDownloads(m),
      flushMs: 3_600_000,
    });
    c.count('a-1.0');
    await assert.rejects(c.flush(), /lookup failed/);
    assert.equal(store.calls, 0);
    resolveFails = false;
    const first = c.flush();
    await inFlush;
    // The flush has taken the pending counts; these go to the next one.
    c.count('a-1.0');
    c.count('a-2.0');
    const second = c.flush();
    release();
    await Promise.all([first, second]);
    assert.deepEqual(store.written, [
      new Map([[1, 1]]),
      new Map([
        [1, 1],
        [2, 1],
      ]),
    ]);
  });

  it('flushes on its own every flushMs, and at close', async () => {
    const store = fakeStore();
    const c = new DownloadCounter({
      resolve: (f) => IDS[f] ?? null,
      addDownloads: (m) => store.addDownloads(m),
      flushMs: 10,
    });
    c.start();
    c.count('a-1.0');
    while (store.calls === 0) await new Promise((r) => setTimeout(r, 5));
    c.count('a-2.0');
    await c.close();
    assert.deepEqual(
      store.totals(),
      new Map([
        [1, 1],
        [2, 1],
      ]),
    );
  });
});

/** One request on its own connection (node:http, no keep-alive): the app's node:http path or Fastify. */
function request(
  url: string,
  method: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('download counts through the server', () => {
  let dir: string;
  let app: FastifyInstance;
  let services: Services;
  let downloads: DownloadCounter;
  let base: string;
  const rack1 = makeGem({ name: 'rack', version: '1.0.0', summary: 'counted rack' });
  const rack2 = makeGem({ name: 'rack', version: '2.0.0', summary: 'counted rack' });
  const javaGem = makeGem({ name: 'rack', version: '2.0.0', platform: 'java', summary: 'counted rack' });
  const other = makeGem({ name: 'other', version: '0.1.0', deps: [['rack', '>= 1']] });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quarry-downloads-'));
    const config = loadConfig({
      env: {},
      flags: {
        data: dir,
        log: { level: 'silent' },
        upstreams: [],
        // Only the flushes the test asks for.
        downloads: { flush_ms: 3_600_000 },
      } as never,
    });
    ({ app, services, downloads } = await composeServer(config, () => new Date('2024-01-01T00:00:00Z')));
    const key = (await services.keys.create({ name: 'push', scopes: ['push'] })).key;
    for (const g of [rack1, rack2, javaGem, other]) {
      const r = await app.inject({
        method: 'POST',
        url: '/api/v1/gems',
        headers: { authorization: key, 'content-type': 'application/octet-stream' },
        payload: g,
      });
      assert.equal(r.statusCode, 200, r.body);
    }
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  const json = async (path: string) => (await app.inject(path)).json() as unknown;

  it('counts each whole GET of a .gem once, on every path; HEAD, 304 and 404 are not downloads', async () => {
    // Keep-alive fetches: the socket responder (wire.ts).
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${base}/gems/rack-1.0.0.gem`);
      assert.equal(r.status, 200);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), rack1);
    }
    // One connection each: node:http's handler in front of Fastify.
    for (let i = 0; i < 4; i++)
      assert.equal((await request(`${base}/gems/rack-2.0.0.gem`, 'GET')).status, 200);
    // Percent-encoded: Fastify's route.
    for (let i = 0; i < 3; i++) {
      const r = await request(`${base}/gems/rack-2.0.0-jav%61.gem`, 'GET');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, javaGem);
    }
    // inject(): Fastify's route too.
    assert.equal((await app.inject('/gems/rack-2.0.0-java.gem')).statusCode, 200);
    // A Range is not honoured for .gem files: the whole file, 200, one download.
    const ranged = await request(`${base}/gems/other-0.1.0.gem`, 'GET', { range: 'bytes=0-9' });
    assert.equal(ranged.status, 200);
    assert.deepEqual(ranged.body, other);

    // Not downloads.
    assert.equal((await request(`${base}/gems/rack-1.0.0.gem`, 'HEAD')).status, 200);
    const tag = (await fetch(`${base}/gems/rack-1.0.0.gem`, { method: 'HEAD' })).headers.get('etag');
    assert.ok(tag?.startsWith('"'), `ETag ${tag}`);
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await fetch(`${base}/gems/rack-1.0.0.gem`, { headers: { 'if-none-match': tag! } })).status,
        304,
      );
      assert.equal(
        (await request(`${base}/gems/rack-1.0.0.gem`, 'GET', { 'if-none-match': tag! })).status,
        304,
      );
    }
    assert.equal(
      (await app.inject({ url: '/gems/rack-1.0.0.gem', headers: { 'if-none-match': tag! } })).statusCode,
      304,
    );
    assert.equal((await app.inject({ method: 'HEAD', url: '/gems/rack-1.0.0.gem' })).statusCode, 200);
    assert.equal((await request(`${base}/gems/rack-9.9.gem`, 'GET')).status, 404);
    assert.equal((await request(`${base}/info/rack`, 'GET')).status, 200);

    assert.deepEqual(
      new Map(downloads.unflushed),
      new Map([
        ['rack-1.0.0', 10],
        ['rack-2.0.0', 4],
        ['rack-2.0.0-java', 4],
        ['other-0.1.0', 1],
      ]),
    );
    // Counted off the hot path: nothing in the catalog before the flush.
    assert.equal(((await json('/api/v1/gems/rack.json')) as { downloads: number }).downloads, 0);

    await downloads.flush();
    assert.equal(downloads.unflushed.size, 0);
    const ids = new Map(
      (await services.catalog.allVersions('rack')).map((v) => [
        v.platform === 'ruby' ? v.number : `${v.number}-${v.platform}`,
        v.id,
      ]),
    );
    assert.deepEqual(
      await services.readModel.downloads('rack'),
      new Map([
        [ids.get('1.0.0')!, 10],
        [ids.get('2.0.0')!, 4],
        [ids.get('2.0.0-java')!, 4],
      ]),
    );
  });

  it('shows the counts in the JSON API, in rubygems.org shapes, and on the gem page', async () => {
    const gem = (await json('/api/v1/gems/rack.json')) as Record<string, unknown>;
    assert.equal(gem['version'], '2.0.0');
    assert.equal(gem['downloads'], 18);
    assert.equal(gem['version_downloads'], 4);

    const versions = (await json('/api/v1/versions/rack.json')) as Record<string, unknown>[];
    assert.deepEqual(
      versions.map((v) => [v['number'], v['platform'], v['downloads_count']]),
      [
        ['2.0.0', 'ruby', 4],
        ['2.0.0', 'java', 4],
        ['1.0.0', 'ruby', 10],
      ],
    );

    const search = (await json('/api/v1/search.json?query=rack')) as Record<string, unknown>[];
    assert.deepEqual(
      search.map((g) => [g['name'], g['downloads'], g['version_downloads']]),
      [['rack', 18, 4]],
    );
    const updated = (await json('/api/v1/activity/just_updated.json')) as Record<string, unknown>[];
    assert.deepEqual(
      updated.map((g) => [g['name'], g['version'], g['platform'], g['downloads'], g['version_downloads']]),
      [
        ['other', '0.1.0', 'ruby', 1, 1],
        ['rack', '2.0.0', 'java', 18, 4],
        ['rack', '2.0.0', 'ruby', 18, 4],
        ['rack', '1.0.0', 'ruby', 18, 10],
      ],
    );
    const latest = (await json('/api/v1/activity/latest.json')) as Record<string, unknown>[];
    assert.deepEqual(
      latest.map((g) => [g['name'], g['downloads'], g['version_downloads']]),
      [
        ['other', 1, 1],
        ['rack', 18, 4],
      ],
    );

    const page = await app.inject({ url: '/gems/rack', headers: { accept: 'text/html' } });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<dd>4 of this version, 18 in all<\/dd>/);
    const one = await app.inject({ url: '/gems/rack/versions/1.0.0', headers: { accept: 'text/html' } });
    assert.match(one.body, /<dd>10 of this version, 18 in all<\/dd>/);
  });

  it('adds to what is there: a second round of downloads and a flush sum up', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${base}/gems/rack-1.0.0.gem`)).status, 200);
    await downloads.flush();
    const v = (await json('/api/v1/versions/rack.json')) as Record<string, unknown>[];
    assert.equal(v.find((x) => x['number'] === '1.0.0')!['downloads_count'], 15);
    assert.equal(((await json('/api/v1/gems/rack.json')) as { downloads: number }).downloads, 23);
  });
});
