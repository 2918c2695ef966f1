/**
 * The fast read path (src/http/fast-reads.ts) over a real socket: the same answers as the Fastify
 * routes, headers on HEAD, 304, 206, 404, protected reads, and the metrics it records. Requests
 * over the socket that reach Fastify are listed by an onRequest hook, to tell which path answered
 * (inject() calls, which always go through Fastify, are left out).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { makeGem } from '../support/make-gem.ts';
import type { Harness } from './harness.ts';
import { push, startHarness, yank } from './harness.ts';

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Headers that depend on the connection or the second, not on the answer. */
const VOLATILE = new Set(['date', 'connection', 'keep-alive']);
const stable = (headers: Got['headers']) =>
  Object.fromEntries(
    Object.entries(headers)
      .filter(([k]) => !VOLATILE.has(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );

interface Served {
  h: Harness;
  /** Requests Fastify saw (the rest were answered by the fast path). */
  viaFastify: string[];
  get(path: string, headers?: Record<string, string>, method?: string): Promise<Got>;
}

async function serve(extra: Record<string, unknown> = {}): Promise<Served> {
  const h = await startHarness(extra);
  const viaFastify: string[] = [];
  h.app.addHook('onRequest', async (req) => {
    if (req.headers['user-agent'] !== 'lightMyRequest') viaFastify.push(`${req.method} ${req.url}`);
  });
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = h.app.server.address() as { port: number };
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<Got>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      });
      r.on('error', reject);
      r.end();
    });
  return { h, viaFastify, get };
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

// Through the wire responder (the default), and through node:http's handler (wire: false).
for (const wire of [true, false])
  describe(`fast read path${wire ? '' : ' (wire: false)'}`, () => {
    let s: Served;
    const alpha = makeGem({ name: 'alpha', version: '1.0.0' });
    const alphaJava = makeGem({ name: 'alpha', version: '1.1.0', platform: 'java' });
    const beta = makeGem({ name: 'beta', version: '0.1.0', deps: [['alpha', '>= 1.0']] });

    before(async () => {
      s = await serve({ wire });
      for (const g of [alpha, alphaJava, beta]) assert.equal((await push(s.h, g)).statusCode, 200);
    });
    after(() => s.h.close());

    it('answers the hot reads itself, with the same status, headers and body as the Fastify routes', async () => {
      const full = await s.get('/versions');
      const paths = [
        '/versions',
        '/names',
        '/info/alpha',
        '/info/nope',
        '/info/bad!name',
        '/specs.4.8',
        '/specs.4.8.gz',
        '/latest_specs.4.8.gz',
        '/prerelease_specs.4.8.gz',
        '/quick/Marshal.4.8/alpha-1.1.0-java.gemspec.rz',
        '/quick/Marshal.4.8/nope-1.0.gemspec.rz',
        '/gems/alpha-1.0.0.gem',
        '/gems/alpha-1.1.0-java.gem',
        '/gems/nope-1.0.gem',
        '/api/v1/dependencies',
        '/api/v1/dependencies?gems=alpha,beta',
        '/api/v1/dependencies?gems=',
        '/api/v1/dependencies?gems=,nope,,alpha',
      ];
      const variants: Record<string, string>[] = [
        {},
        { range: 'bytes=10-' },
        { range: `bytes=${full.body.length + 3}-` },
        { 'if-none-match': full.headers.etag as string },
        { 'if-none-match': '"other"', range: 'bytes=5-' },
      ];
      s.viaFastify.length = 0;
      for (const path of paths) {
        for (const headers of variants) {
          const got = await s.get(path, headers);
          const want = await s.h.app.inject({ url: path, headers });
          const label = `${path} ${JSON.stringify(headers)}`;
          assert.equal(got.status, want.statusCode, label);
          assert.deepEqual(stable(got.headers), stable(want.headers as Got['headers']), label);
          assert.ok(got.body.equals(want.rawPayload), label);
        }
      }
      assert.deepEqual(s.viaFastify, [], 'every one of these was answered before Fastify');
    });

    it('takes only /gems/*.gem as a file: /gems/NAME goes on to Fastify (the gem page)', async () => {
      s.viaFastify.length = 0;
      await s.get('/gems/alpha');
      await s.get('/gems/.gem');
      assert.deepEqual(s.viaFastify, ['GET /gems/alpha', 'GET /gems/.gem']);
      s.viaFastify.length = 0;
      await s.get('/gems/alpha-1.0.0.gem');
      assert.deepEqual(s.viaFastify, []);
    });

    it('sends every header but no body on HEAD', async () => {
      const get = await s.get('/versions');
      const head = await s.get('/versions', {}, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.deepEqual(stable(head.headers), stable(get.headers));
      assert.equal(head.headers['content-length'], String(get.body.length));
      assert.equal(head.headers.etag, `"${md5(get.body)}"`);
      assert.match(head.headers['repr-digest'] as string, /^sha-256=:[A-Za-z0-9+/]+=*:$/);
      const gem = await s.get('/gems/alpha-1.0.0.gem', {}, 'HEAD');
      assert.equal(gem.headers['content-length'], String(alpha.length));
      assert.equal(gem.body.length, 0);
      const missing = await s.get('/info/nope', {}, 'HEAD');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.length, 0);
    });

    it('answers 304 on a matching ETag and on If-Modified-Since, 206 with the tail, 200 past the end', async () => {
      const full = await s.get('/versions');
      const etag = full.headers.etag as string;
      for (const inm of [etag, etag.replace(/"/g, ''), `W/${etag}`, `"x", ${etag}`, '*']) {
        const r = await s.get('/versions', { 'if-none-match': inm, range: 'bytes=5-' });
        assert.equal(r.status, 304, inm);
        assert.equal(r.body.length, 0);
        assert.equal(r.headers.etag, etag);
        assert.equal(r.headers['content-length'], undefined);
      }
      const part = await s.get('/versions', { range: 'bytes=10-', 'if-none-match': '"stale"' });
      assert.equal(part.status, 206);
      assert.ok(part.body.equals(full.body.subarray(10)));
      assert.equal(part.headers['content-range'], `bytes 10-${full.body.length - 1}/${full.body.length}`);
      assert.equal(part.headers['content-length'], String(full.body.length - 10));
      assert.equal(part.headers['repr-digest'], full.headers['repr-digest']);
      const past = await s.get('/versions', { range: `bytes=${full.body.length}-` });
      assert.equal(past.status, 200);
      assert.ok(past.body.equals(full.body));
      const specs = await s.get('/specs.4.8.gz');
      const lm = specs.headers['last-modified'] as string;
      assert.equal((await s.get('/specs.4.8.gz', { 'if-modified-since': lm })).status, 304);
      assert.equal(
        (await s.get('/specs.4.8.gz', { range: 'bytes=3-' })).status,
        200,
        'no ranges on legacy files',
      );
    });

    it('answers 404 and 400 in plain text', async () => {
      const info = await s.get('/info/nope');
      assert.equal(info.status, 404);
      assert.equal(info.body.toString(), 'This rubygem could not be found: nope\n');
      assert.equal(info.headers['cache-control'], 'max-age=60');
      const gem = await s.get('/gems/nope-1.0.gem');
      assert.equal(gem.status, 404);
      assert.equal(gem.body.toString(), 'Not found: nope-1.0.gem\n');
      const bad = await s.get('/info/bad!name');
      assert.equal(bad.status, 400);
      assert.equal(bad.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(bad.body.toString(), '"bad!name" is not a valid gem name\n');
    });

    it('leaves other methods, encoded paths and unknown routes to Fastify', async () => {
      s.viaFastify.length = 0;
      const encoded = await s.get('/info/al%70ha');
      assert.ok(encoded.body.equals((await s.get('/info/alpha')).body));
      assert.equal((await s.get('/versions', {}, 'POST')).status, 404);
      assert.equal((await s.get('/api/v1/dependencies?gems=alpha&x=1')).status, 200);
      assert.equal((await s.get('/health')).status, 200);
      assert.deepEqual(s.viaFastify, [
        'GET /info/al%70ha',
        'POST /versions',
        'GET /api/v1/dependencies?gems=alpha&x=1',
        'GET /health',
      ]);
    });

    it('sees this node’s writes at once', async () => {
      const before = (await s.get('/versions')).body.toString();
      assert.equal((await yank(s.h, 'gem_name=alpha&version=1.1.0&platform=java')).statusCode, 200);
      const after = (await s.get('/versions')).body.toString();
      assert.ok(after.startsWith(before));
      assert.match(after, /\nalpha -1\.1\.0-java [0-9a-f]{32}\n$/);
      assert.equal((await s.get('/gems/alpha-1.1.0-java.gem')).status, 404);
    });

    it('counts its requests in /metrics under the Fastify route names', async () => {
      const count = (metrics: string, labels: string) =>
        Number(new RegExp(`^quarry_http_requests_total\\{${labels}\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
      const latency = (metrics: string, route: string) =>
        Number(
          new RegExp(`^quarry_http_request_duration_seconds_count\\{route="${route}"\\} (\\d+)$`, 'm').exec(
            metrics,
          )?.[1] ?? 0,
        );
      const ok = 'route="/info/:name",method="GET",status="200"';
      const missing = 'route="/info/:name",method="GET",status="404"';
      const head = 'route="/versions",method="HEAD",status="200"';
      const m0 = (await s.get('/metrics')).body.toString();
      for (let i = 0; i < 3; i++) await s.get('/info/beta');
      await s.get('/info/nope');
      await s.get('/versions', {}, 'HEAD');
      const m1 = (await s.get('/metrics')).body.toString();
      assert.equal(count(m1, ok) - count(m0, ok), 3);
      assert.equal(count(m1, missing) - count(m0, missing), 1);
      assert.equal(count(m1, head) - count(m0, head), 1);
      assert.equal(latency(m1, '/info/:name') - latency(m0, '/info/:name'), 4);
      assert.match(
        m1,
        /^quarry_http_request_duration_seconds_bucket\{le="\+Inf",route="\/info\/:name"\} \d+$/m,
      );
      assert.match(m1, /^quarry_http_requests_total\{route="\/metrics",method="GET",status="200"\} \d+$/m);
    });
  });

describe('fast read path: protected reads', () => {
  let s: Served;
  before(async () => {
    s = await serve({ auth: { protected_reads: true } });
    assert.equal((await push(s.h, makeGem({ name: 'alpha', version: '1.0.0' }))).statusCode, 200);
  });
  after(() => s.h.close());

  it('answers 401 with a Basic challenge without a valid key, 403 without the read scope', async () => {
    s.viaFastify.length = 0;
    const basic = (user: string, pass = '') => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    for (const path of ['/versions', '/info/alpha', '/gems/alpha-1.0.0.gem', '/specs.4.8.gz']) {
      for (const method of ['GET', 'HEAD']) {
        const anon = await s.get(path, {}, method);
        assert.equal(anon.status, 401, path);
        assert.equal(anon.headers['www-authenticate'], 'Basic realm="Quarry"', path);
        const wrong = await s.get(path, { authorization: basic('nobody') }, method);
        assert.equal(wrong.status, 401, path);
        assert.equal(wrong.headers['www-authenticate'], 'Basic realm="Quarry"', path);
        const pushOnly = await s.get(path, { authorization: s.h.pushKey }, method);
        assert.equal(pushOnly.status, 403, path);
        assert.equal(pushOnly.headers['www-authenticate'], undefined, path);
        assert.equal((await s.get(path, { authorization: basic(s.h.readKey) }, method)).status, 200, path);
        assert.equal(
          (await s.get(path, { authorization: basic('bundler', s.h.readKey) }, method)).status,
          200,
        );
        assert.equal((await s.get(path, { authorization: s.h.readKey }, method)).status, 200, path);
      }
    }
    const anon = await s.get('/info/alpha');
    assert.equal(anon.body.toString(), 'an API key is required (set GEM_HOST_API_KEY or use gem signin)\n');
    assert.deepEqual(s.viaFastify, []);
  });
});
