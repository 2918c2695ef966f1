import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, inflateSync } from 'node:zlib';
import { loadSpecTuples } from '../../src/marshal/rubygems.ts';
import { makeGem } from '../support/make-gem.ts';
import type { Harness } from './harness.ts';
import { push, startHarness, yank } from './harness.ts';

const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function snapshot(h: Harness) {
  const get = async (url: string) => (await h.app.inject({ url })).body;
  const blobs: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else blobs.push(join(d, e.name));
    }
  };
  await walk(join(h.dir, 'blobs'));
  return {
    versions: await get('/versions'),
    names: await get('/names'),
    specs: await get('/specs.4.8'),
    blobs: blobs.sort(),
  };
}

describe('server: push, yank and the read protocols', () => {
  let h: Harness;
  const alpha1 = makeGem({ name: 'alpha', version: '1.0.0' });
  const alpha11java = makeGem({ name: 'alpha', version: '1.1.0', platform: 'java' });
  const beta = makeGem({
    name: 'beta',
    version: '0.1.0',
    deps: [['alpha', '>= 1.0', '< 2']],
    devDeps: [['rake', '~> 13.0']],
  });
  const betaPre = makeGem({ name: 'beta', version: '0.2.0.rc1', deps: [['alpha', '~> 1.1']] });

  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('accepts pushes and says so as RubyGems expects', async () => {
    const r = await push(h, alpha1);
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.body, 'Successfully registered gem: alpha (1.0.0)');
    assert.equal((await push(h, alpha11java)).body, 'Successfully registered gem: alpha (1.1.0-java)');
    assert.equal((await push(h, beta)).statusCode, 200);
    assert.equal((await push(h, betaPre)).statusCode, 200);
  });

  it('serves /info with deps, checksum and rubygems constraint, in publication order', async () => {
    const r = await h.app.inject({ url: '/info/beta' });
    assert.equal(r.statusCode, 200);
    assert.equal(
      r.body,
      `---\n0.1.0 alpha:< 2&>= 1.0|checksum:${sha256(beta)}\n0.2.0.rc1 alpha:~> 1.1|checksum:${sha256(betaPre)},rubygems:> 1.3.1\n`,
    );
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers.etag, `"${md5(r.body)}"`);
    const digest = createHash('sha256').update(r.body).digest('base64');
    assert.equal(r.headers['repr-digest'], `sha-256=:${digest}:`);
    assert.equal(r.headers.digest, `sha-256=${digest}`);
    assert.equal(r.headers['accept-ranges'], 'bytes');
  });

  it('appends one /versions line per push, each with the MD5 of the info served for it', async () => {
    const r = await h.app.inject({ url: '/versions' });
    const lines = r.body.split('\n');
    assert.equal(lines[0], 'created_at: 2024-01-01T00:00:00Z');
    assert.equal(lines[1], '---');
    const info = async (n: string) => (await h.app.inject({ url: `/info/${n}` })).body;
    assert.deepEqual(
      lines.slice(2, -1).map((l) => l.split(' ').slice(0, 2).join(' ')),
      ['alpha 1.0.0', 'alpha 1.1.0-java', 'beta 0.1.0', 'beta 0.2.0.rc1'],
    );
    assert.equal(lines.at(-2)!.split(' ')[2], md5(await info('beta')));
    assert.equal(lines[3]!.split(' ')[2], md5(await info('alpha')));
  });

  it('answers ranges with 206 and the full-body digests, 200 past the end, 304 on a matching ETag', async () => {
    const full = await h.app.inject({ url: '/versions' });
    const etag = full.headers.etag as string;
    const part = await h.app.inject({ url: '/versions', headers: { range: 'bytes=10-' } });
    assert.equal(part.statusCode, 206);
    assert.equal(part.body, full.body.slice(10));
    assert.equal(part.headers['content-range'], `bytes 10-${full.body.length - 1}/${full.body.length}`);
    assert.equal(part.headers.etag, etag);
    assert.equal(part.headers['repr-digest'], full.headers['repr-digest']);
    const past = await h.app.inject({
      url: '/versions',
      headers: { range: `bytes=${full.body.length + 5}-` },
    });
    assert.equal(past.statusCode, 200);
    assert.equal(past.body, full.body);
    for (const inm of [etag, etag.replace(/"/g, ''), `W/${etag}`]) {
      const nm = await h.app.inject({
        url: '/versions',
        headers: { 'if-none-match': inm, range: 'bytes=5-' },
      });
      assert.equal(nm.statusCode, 304, inm);
      assert.equal(nm.body, '');
    }
    const head = await h.app.inject({ method: 'HEAD', url: '/versions' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers.etag, etag);
  });

  it('serves /names, the legacy indexes and quick specs', async () => {
    assert.equal((await h.app.inject({ url: '/names' })).body, '---\nalpha\nbeta\n');
    const specs = await h.app.inject({ url: '/specs.4.8.gz' });
    assert.equal(specs.statusCode, 200);
    assert.equal(specs.headers['content-encoding'], undefined);
    assert.equal(specs.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(loadSpecTuples(gunzipSync(specs.rawPayload)), [
      { name: 'alpha', version: '1.0.0', platform: 'ruby' },
      { name: 'alpha', version: '1.1.0', platform: 'java' },
      { name: 'beta', version: '0.1.0', platform: 'ruby' },
    ]);
    const pre = await h.app.inject({ url: '/prerelease_specs.4.8.gz' });
    assert.deepEqual(loadSpecTuples(gunzipSync(pre.rawPayload)), [
      { name: 'beta', version: '0.2.0.rc1', platform: 'ruby' },
    ]);
    const lm = specs.headers['last-modified'] as string;
    assert.equal(
      (await h.app.inject({ url: '/specs.4.8.gz', headers: { 'if-modified-since': lm } })).statusCode,
      304,
    );
    const q = await h.app.inject({ url: '/quick/Marshal.4.8/alpha-1.1.0-java.gemspec.rz' });
    assert.equal(q.statusCode, 200);
    assert.equal(inflateSync(q.rawPayload).subarray(0, 3).toString('latin1'), '\x04\bu');
    assert.equal((await h.app.inject({ url: '/quick/Marshal.4.8/nope-1.0.gemspec.rz' })).statusCode, 404);
  });

  it('serves the exact pushed bytes from /gems', async () => {
    const r = await h.app.inject({ url: '/gems/alpha-1.1.0-java.gem' });
    assert.equal(r.statusCode, 200);
    assert.ok(r.rawPayload.equals(alpha11java));
    assert.equal((await h.app.inject({ url: '/gems/alpha-9.gem' })).statusCode, 404);
  });

  it('answers the dependency API in Marshal and JSON, runtime deps only', async () => {
    const probe = await h.app.inject({ url: '/api/v1/dependencies' });
    assert.equal(probe.statusCode, 200);
    const json = await h.app.inject({ url: '/api/v1/dependencies.json?gems=beta%2Cnone' });
    assert.deepEqual(JSON.parse(json.body), [
      { name: 'beta', number: '0.1.0', platform: 'ruby', dependencies: [['alpha', '>= 1.0, < 2']] },
      { name: 'beta', number: '0.2.0.rc1', platform: 'ruby', dependencies: [['alpha', '~> 1.1']] },
    ]);
    const m = await h.app.inject({ url: '/api/v1/dependencies?gems=alpha' });
    assert.equal(m.rawPayload.subarray(0, 2).toString('hex'), '0408');
  });

  it('answers the JSON API', async () => {
    const g = JSON.parse((await h.app.inject({ url: '/api/v1/gems/beta.json' })).body);
    assert.equal(g.name, 'beta');
    assert.equal(g.version, '0.1.0');
    assert.equal(g.sha, sha256(beta));
    assert.deepEqual(g.dependencies, {
      development: [{ name: 'rake', requirements: '~> 13.0' }],
      runtime: [{ name: 'alpha', requirements: '>= 1.0, < 2' }],
    });
    const v = JSON.parse((await h.app.inject({ url: '/api/v1/versions/alpha.json' })).body);
    assert.deepEqual(
      v.map((x: { number: string; platform: string }) => `${x.number}-${x.platform}`),
      ['1.1.0-java', '1.0.0-ruby'],
    );
    assert.equal((await h.app.inject({ url: '/api/v1/gems/nope.json' })).statusCode, 404);
  });

  it('refuses bad input with the right status and a message, leaving everything unchanged', async () => {
    const before = await snapshot(h);
    const corrupt = Buffer.from(alpha1);
    corrupt.fill(0x41, 600, 900);
    const cases: [string, () => ReturnType<typeof push>, number, RegExp][] = [
      ['corrupt gem', () => push(h, corrupt), 422, /metadata|gzip|checksum|corrupt/i],
      ['not a gem', () => push(h, Buffer.from('hello world')), 422, /./],
      [
        'duplicate push',
        () => push(h, makeGem({ name: 'alpha', version: '1.0.0', summary: 'other bytes' })),
        409,
        /Repushing/,
      ],
      [
        'canonical duplicate',
        () => push(h, makeGem({ name: 'alpha', version: '1.0' })),
        409,
        /already exists/,
      ],
      ['case change', () => push(h, makeGem({ name: 'Alpha', version: '5.0' })), 409, /case/],
      ['wrong key', () => push(h, makeGem({ name: 'gamma', version: '1.0' }), 'nope'), 401, /Access Denied/],
      [
        'missing key',
        () => push(h, makeGem({ name: 'gamma', version: '1.0' }), ''),
        401,
        /API key is required/,
      ],
      [
        'wrong scope',
        () => push(h, makeGem({ name: 'gamma', version: '1.0' }), h.readKey),
        403,
        /push scope/,
      ],
      ['yank without scope', () => yank(h, 'gem_name=alpha&version=1.0.0', h.pushKey), 403, /yank scope/],
      ['yank unknown version', () => yank(h, 'gem_name=alpha&version=9.9'), 404, /does not exist/],
      ['yank unknown gem', () => yank(h, 'gem_name=nope&version=1.0'), 404, /could not be found/],
      ['yank missing version', () => yank(h, 'gem_name=alpha'), 400, /version is missing/],
      ['malformed info name', () => h.app.inject({ url: '/info/..%2Fetc' }), 400, /not a valid gem name/],
    ];
    for (const [label, run, status, message] of cases) {
      const r = await run();
      assert.equal(r.statusCode, status, `${label}: ${r.body}`);
      assert.match(r.headers['content-type'] as string, /^text\/plain/, label);
      assert.match(r.body, message, label);
    }
    assert.deepEqual(await snapshot(h), before);
  });

  it('treats an identical re-push as already pushed and changes nothing', async () => {
    const before = await snapshot(h);
    const r = await push(h, alpha1);
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /already pushed/);
    assert.deepEqual(await snapshot(h), before);
  });

  it('yanks with the platform respected, appends -VERSION, and stops serving the files', async () => {
    const r = await yank(h, 'gem_name=alpha&version=1.1.0&platform=java');
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.body, 'Successfully deleted gem: alpha (1.1.0-java)');
    const info = (await h.app.inject({ url: '/info/alpha' })).body;
    assert.equal(info, `---\n1.0.0 |checksum:${sha256(alpha1)}\n`);
    const last = (await h.app.inject({ url: '/versions' })).body.trimEnd().split('\n').at(-1);
    assert.equal(last, `alpha -1.1.0-java ${md5(info)}`);
    assert.equal((await h.app.inject({ url: '/gems/alpha-1.1.0-java.gem' })).statusCode, 404);
    assert.equal(
      (await h.app.inject({ url: '/quick/Marshal.4.8/alpha-1.1.0-java.gemspec.rz' })).statusCode,
      404,
    );
    // Re-pushing a yanked version is refused.
    const again = await push(h, alpha11java);
    assert.equal(again.statusCode, 409);
    assert.match(again.body, /yanked version already exists/);
    assert.equal((await yank(h, 'gem_name=alpha&version=1.1.0&platform=java')).statusCode, 400);
  });

  it('unyank restores the version and appends it again', async () => {
    await h.services.gems.unyank('alpha', '1.1.0', 'java');
    const last = (await h.app.inject({ url: '/versions' })).body.trimEnd().split('\n').at(-1)!;
    assert.match(last, /^alpha 1\.1\.0-java [0-9a-f]{32}$/);
    assert.equal((await h.app.inject({ url: '/gems/alpha-1.1.0-java.gem' })).statusCode, 200);
  });

  it('rebuild compacts /versions to one line per gem', async () => {
    await h.services.gems.rebuildVersionsList();
    const body = (await h.app.inject({ url: '/versions' })).body;
    const infoA = (await h.app.inject({ url: '/info/alpha' })).body;
    const infoB = (await h.app.inject({ url: '/info/beta' })).body;
    assert.equal(
      body,
      `created_at: 2024-01-01T00:00:00Z\n---\nalpha 1.0.0,1.1.0-java ${md5(infoA)}\nbeta 0.1.0,0.2.0.rc1 ${md5(infoB)}\n`,
    );
  });
});

describe('server: concurrency', () => {
  it('lands 50 concurrent pushes of different gems, each /versions MD5 matching the /info served', async () => {
    const h = await startHarness();
    try {
      const gems = Array.from({ length: 50 }, (_, i) =>
        makeGem({ name: `conc${i % 10}`, version: `1.${Math.floor(i / 10)}.0` }),
      );
      const results = await Promise.all(gems.map((g) => push(h, g)));
      for (const r of results) assert.equal(r.statusCode, 200, r.body);
      const versions = (await h.app.inject({ url: '/versions' })).body.split('\n').slice(2, -1);
      assert.equal(versions.length, 50);
      const lastMd5 = new Map<string, string>();
      for (const l of versions) {
        const [name, , m] = l.split(' ');
        lastMd5.set(name!, m!);
      }
      assert.equal(lastMd5.size, 10);
      for (const [name, m] of lastMd5) {
        const info = (await h.app.inject({ url: `/info/${name}` })).body;
        assert.equal(md5(info), m, name);
        assert.equal(info.split('\n').length - 2, 5, name);
      }
    } finally {
      await h.close();
    }
  });
});

describe('server: protected reads and health', () => {
  it('requires a read key via basic auth when reads are protected', async () => {
    const h = await startHarness({ auth: { protected_reads: true } });
    try {
      const anon = await h.app.inject({ url: '/versions' });
      assert.equal(anon.statusCode, 401);
      assert.match(anon.headers['www-authenticate'] as string, /^Basic/);
      const basic = `Basic ${Buffer.from(`${h.readKey}:`).toString('base64')}`;
      assert.equal(
        (await h.app.inject({ url: '/versions', headers: { authorization: basic } })).statusCode,
        200,
      );
      const wrong = `Basic ${Buffer.from('nobody:').toString('base64')}`;
      assert.equal(
        (await h.app.inject({ url: '/versions', headers: { authorization: wrong } })).statusCode,
        401,
      );
      assert.equal((await h.app.inject({ url: '/health' })).statusCode, 200);
      // /metrics is a read like any other: it needs the key too.
      assert.equal((await h.app.inject({ url: '/metrics' })).statusCode, 401);
      const metrics = await h.app.inject({ url: '/metrics', headers: { authorization: basic } });
      assert.match(metrics.body, /quarry_http_requests_total/);
    } finally {
      await h.close();
    }
  });
});
