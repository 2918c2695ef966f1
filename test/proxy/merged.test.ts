/**
 * The caching proxy in process: an upstream Quarry (hosted gems, the whole protocol) on loopback,
 * and a proxy in front of it that hosts gems of its own.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { load } from '../../src/marshal/reader.ts';
import type { Harness } from '../http/harness.ts';
import { listen, push, startHarness } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** name -> md5 of its last /versions line. */
function lastMd5s(versions: string): Map<string, string> {
  const out = new Map<string, string>();
  const body = versions.slice(versions.indexOf('---\n') + 4);
  for (const line of body.split('\n')) {
    if (!line) continue;
    const [name, , m] = line.split(' ');
    out.set(name!, m!);
  }
  return out;
}

describe('caching proxy: one merged source', () => {
  let upstream: Harness;
  let proxy: Harness;
  let upUrl: string;
  const gems = {
    rack: makeGem({ name: 'rack', version: '3.0.0' }),
    rack2: makeGem({ name: 'rack', version: '3.1.0' }),
    app: makeGem({ name: 'webapp', version: '1.0.0', deps: [['rack', '>= 3.0']] }),
    clash: makeGem({ name: 'acme-secret', version: '9.9.9' }),
  };

  before(async () => {
    upstream = await startHarness();
    for (const g of Object.values(gems)) assert.equal((await push(upstream, g)).statusCode, 200);
    upUrl = await listen(upstream);
    proxy = await startHarness({
      upstreams: [{ name: 'up', url: upUrl, timeout_ms: 2000, max_age_ms: 60_000, exclude: ['acme-*'] }],
    });
    assert.equal((await push(proxy, makeGem({ name: 'private-only', version: '0.1.0' }))).statusCode, 200);
    assert.equal((await push(proxy, makeGem({ name: 'rack', version: '0.0.1' }))).statusCode, 200);
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('merges /versions: upstream names, hosted names, private names win, MD5s match /info', async () => {
    const v = await proxy.app.inject({ url: '/versions' });
    assert.equal(v.statusCode, 200);
    const md5s = lastMd5s(v.body);
    assert.ok(md5s.has('webapp'));
    assert.ok(md5s.has('private-only'));
    assert.ok(!md5s.has('acme-secret'), 'excluded names never appear');
    // rack is hosted here: only the hosted line.
    assert.equal(v.body.match(/^rack /gm)?.length, 1);
    assert.match(v.body, /^rack 0\.0\.1 /m);
    for (const [name, m] of md5s) {
      const info = await proxy.app.inject({ url: `/info/${name}` });
      assert.equal(info.statusCode, 200, name);
      assert.equal(md5(info.rawPayload), m, `/info/${name} matches /versions`);
    }
  });

  it('serves upstream /info byte for byte, and hides upstream versions of a private name everywhere', async () => {
    const up = await upstream.app.inject({ url: '/info/webapp' });
    const via = await proxy.app.inject({ url: '/info/webapp' });
    assert.ok(via.rawPayload.equals(up.rawPayload));
    const rack = await proxy.app.inject({ url: '/info/rack' });
    assert.doesNotMatch(rack.body, /3\.0\.0/);
    assert.equal((await proxy.app.inject({ url: '/gems/rack-3.0.0.gem' })).statusCode, 404);
    const deps = await proxy.app.inject({ url: '/api/v1/dependencies.json?gems=rack,webapp' });
    const records = JSON.parse(deps.body) as { name: string; number: string }[];
    assert.deepEqual(
      records.map((r) => `${r.name}-${r.number}`),
      ['rack-0.0.1', 'webapp-1.0.0'],
    );
    const specs = load(
      gunzipSync((await proxy.app.inject({ url: '/specs.4.8.gz' })).rawPayload),
    ) as unknown[];
    const text = JSON.stringify(specs);
    assert.match(text, /webapp/);
    assert.doesNotMatch(text, /acme-secret/);
    assert.equal((await proxy.app.inject({ url: '/info/acme-secret' })).statusCode, 404);
  });

  it('downloads an upstream .gem, verified against the upstream checksum, and caches it', async () => {
    const r = await proxy.app.inject({ url: '/gems/webapp-1.0.0.gem' });
    assert.equal(r.statusCode, 200);
    assert.equal(sha256(r.rawPayload), sha256(gems.app));
    const cached = await proxy.services.catalog.listCachedGems();
    assert.deepEqual(
      cached.map((c) => c.file),
      ['webapp-1.0.0'],
    );
    const q = await proxy.app.inject({ url: '/quick/Marshal.4.8/webapp-1.0.0.gemspec.rz' });
    assert.equal(q.statusCode, 200);
  });

  it('/private and /upstream/NAME serve one source alone', async () => {
    const priv = await proxy.app.inject({ url: '/private/versions' });
    assert.doesNotMatch(priv.body, /webapp/);
    assert.match(priv.body, /private-only/);
    const up = await proxy.app.inject({ url: '/upstream/up/names' });
    assert.match(up.body, /webapp/);
    assert.doesNotMatch(up.body, /private-only/);
  });

  it('the JSON API says where a gem comes from', async () => {
    const own = JSON.parse((await proxy.app.inject({ url: '/api/v1/gems/private-only.json' })).body);
    assert.equal(own.source, 'hosted');
    const up = JSON.parse((await proxy.app.inject({ url: '/api/v1/gems/webapp.json' })).body);
    assert.equal(up.source, 'upstream:up');
    assert.equal(up.version, '1.0.0');
    assert.equal(up.sha, sha256(gems.app));
    assert.equal((await proxy.app.inject({ url: '/api/v1/gems/acme-secret.json' })).statusCode, 404);
  });

  it('cache prune forgets old cached gems and frees their bytes, never touching hosted gems', async () => {
    const { pruneCachedGems } = await import('../../src/services/upstream-cache-admin.ts');
    assert.equal((await proxy.app.inject({ url: '/gems/webapp-1.0.0.gem' })).statusCode, 200);
    const before = await proxy.services.catalog.listCachedGems();
    assert.ok(before.length >= 1);
    // Nothing is older than a day ago.
    const none = await pruneCachedGems(
      proxy.services.catalog,
      proxy.services.blobs,
      new Date(proxy.services.clock.now().getTime() - 86_400_000),
    );
    assert.equal(none.forgotten.length, 0);
    const dry = await pruneCachedGems(
      proxy.services.catalog,
      proxy.services.blobs,
      new Date(proxy.services.clock.now().getTime() + 60_000),
      {
        dryRun: true,
      },
    );
    assert.equal(dry.forgotten.length, before.length);
    assert.equal((await proxy.services.catalog.listCachedGems()).length, before.length);
    const r = await pruneCachedGems(
      proxy.services.catalog,
      proxy.services.blobs,
      new Date(proxy.services.clock.now().getTime() + 60_000),
    );
    assert.equal(r.forgotten.length, before.length);
    assert.equal(r.removedBlobs, before.length);
    assert.deepEqual(await proxy.services.catalog.listCachedGems(), []);
    // Hosted gems are still served; the pruned gem is fetched (and verified) again on demand.
    assert.equal((await proxy.app.inject({ url: '/gems/private-only-0.1.0.gem' })).statusCode, 200);
    const again = await proxy.app.inject({ url: '/gems/webapp-1.0.0.gem' });
    assert.equal(sha256(again.rawPayload), sha256(gems.app));
  });

  it('names lists the union', async () => {
    const n = (await proxy.app.inject({ url: '/names' })).body.split('\n');
    for (const name of ['private-only', 'rack', 'webapp']) assert.ok(n.includes(name), name);
    assert.ok(!n.includes('acme-secret'));
  });

  it('a mirrored name is private too: the upstream never adds versions to it (docs/proxy.md)', async () => {
    // corp-tool comes from a private source (mirrored as mirror:internal); someone publishes a
    // higher version of the name on the proxied upstream. shared-lib is mirrored from this very
    // upstream, one version of two. Both stay what was mirrored: a name is private by name, whatever
    // its versions' origin, so a mirror cannot open a door to dependency confusion.
    for (const g of [
      makeGem({ name: 'corp-tool', version: '99.0.0' }),
      makeGem({ name: 'shared-lib', version: '1.0.0' }),
      makeGem({ name: 'shared-lib', version: '2.0.0' }),
    ])
      assert.equal((await push(upstream, g)).statusCode, 200);
    const gemsHere = proxy.services.gems;
    const staged = [
      await gemsHere.stageMirrored(makeGem({ name: 'corp-tool', version: '1.0.0' }), 'internal'),
      await gemsHere.stageMirrored(makeGem({ name: 'shared-lib', version: '1.0.0' }), 'up'),
    ];
    for (const r of await gemsHere.recordStaged(staged)) assert.ok(!(r instanceof Error), String(r));
    for (const [name, only, not] of [
      ['corp-tool', '1.0.0', '99.0.0'],
      ['shared-lib', '1.0.0', '2.0.0'],
    ] as const) {
      const info = (await proxy.app.inject({ url: `/info/${name}` })).body;
      assert.match(info, new RegExp(`^${only.replace(/\./g, '\\.')} `, 'm'));
      assert.doesNotMatch(info, new RegExp(not.replace(/\./g, '\\.')));
      assert.equal((await proxy.app.inject({ url: `/gems/${name}-${not}.gem` })).statusCode, 404);
      assert.equal((await proxy.app.inject({ url: `/gems/${name}-${only}.gem` })).statusCode, 200);
      const versions = (await proxy.app.inject({ url: '/versions' })).body;
      assert.equal(
        versions.match(new RegExp(`^${name} `, 'gm'))?.length,
        1,
        `one ${name} line: the hosted one`,
      );
    }
  });
});
