/**
 * The caching proxy against a misbehaving upstream: a real upstream Quarry (in process) behind a
 * fault-injecting server (test/support/fault-upstream.ts) that hangs, answers 500, resets the
 * connection, truncates or trickles bodies and tampers with bytes, per path, and counts requests
 * and connections. The proxy's clock is moved forward to make its cache stale, instead of sleeping.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { gemBlobKey } from '../../src/blobs/keys.ts';
import type { Harness } from '../http/harness.ts';
import { push, startHarness } from '../http/harness.ts';
import type { Fault, FaultUpstream, SeenRequest } from '../support/fault-upstream.ts';
import {
  capturedOrigin,
  deadlinesInSequence,
  faulted,
  injectOrigin,
  startFaultUpstream,
  tamperBytes,
} from '../support/fault-upstream.ts';
import { makeGem } from '../support/make-gem.ts';
import type { ProxyHarness } from '../support/proxy-harness.ts';
import { cacheProblems, startProxy } from '../support/proxy-harness.ts';

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/*
 * The bound for a stale (or 503) answer, timeout_ms plus 1 s, holds when the proxy never waits
 * out two upstream deadlines one after the other for one answer (/versions, then /info). The tests
 * check that order of events at the upstream (deadlinesInSequence), not the clock: speed targets are
 * for the benchmarks.
 */

/**
 * timeout_ms of the cases that ask several things at once: long next to the proxy's own work before
 * it asks the upstream, so that requests made together begin before any of their deadlines passes.
 */
const TIMEOUT_MS = 1200;
/** timeout_ms of the other cases. */
const SHORT_TIMEOUT_MS = 400;
/** Past max_age_ms: the cached index data is stale. */
const MAX_AGE_MS = 60_000;
const STALE = MAX_AGE_MS + 1000;

/** Faults of a failing upstream (tamper is its own case for .gem files; for index data it is one more failure). */
const FAILURES: readonly Fault[] = ['hang', '500', 'reset', 'truncate', 'trickle', 'tamper'];
/** The faults met at a deadline: no whole answer in time, so the proxy gives the request up. */
const DEADLINE_FAULTS: ReadonlySet<Fault> = new Set(['hang', 'trickle']);

const GEM = '/gems/xgem-1.0.0.gem';
const QUICK = '/quick/Marshal.4.8/xgem-1.0.0.gemspec.rz';
const INFO = '/info/xgem';

/** name -> MD5 of its last line in a /versions body. */
function lastMd5s(versions: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of versions.slice(versions.indexOf('---\n') + 4).split('\n')) {
    if (!line) continue;
    const [name, , m] = line.split(' ');
    out.set(name!, m!);
  }
  return out;
}

/** Stale answers the proxy has given (its metrics). */
async function staleAnswers(p: ProxyHarness): Promise<number> {
  const m = await p.services.metrics.upstream.get();
  return m.values.filter((v) => v.labels['event'] === 'stale').reduce((n, v) => n + v.value, 0);
}

/** True when the proxy gave up on one of these upstream requests that met a fault: it waited on a deadline. */
const waitedOnDeadline = (asked: readonly SeenRequest[]) =>
  asked.some((q) => faulted(q) && q.givenUp !== null);

/**
 * The upstream paths an answer about xgem may ask for: the index data, and its own file. Answers made
 * at the same time see each other's requests; this leaves out the other answers' files.
 */
const mayAsk = (url: string) => (path: string) => path === '/versions' || path === INFO || path === url;

describe('caching proxy: upstream faults', () => {
  let upstream: Harness;
  let fault: FaultUpstream;
  const gems = {
    x: makeGem({ name: 'xgem', version: '1.0.0', deps: [['ygem', '>= 0']] }),
    y: makeGem({ name: 'ygem', version: '1.0.0' }),
    // Large enough that truncation and resets cut it mid-stream.
    big: makeGem({ name: 'biggem', version: '2.0.0', payload: Buffer.alloc(300_000, 7) }),
    acme: makeGem({ name: 'acme-x', version: '1.0.0' }),
  };
  const proxies: ProxyHarness[] = [];
  const up = (extra: Record<string, unknown> = {}) => ({
    name: 'up',
    url: fault.url,
    timeout_ms: SHORT_TIMEOUT_MS,
    max_age_ms: MAX_AGE_MS,
    // The breaker is tested elsewhere; here every request reaches the fault.
    fail_timeout_ms: 0,
    ...extra,
  });
  const proxy = async (extra: Record<string, unknown> = {}, o: { offline?: boolean; dir?: string } = {}) => {
    const p = await startProxy({ upstreams: [up(extra)], ...o });
    proxies.push(p);
    return p;
  };
  /** Fetches /versions, /info/xgem, its .gem and quick spec through the proxy: the cached bytes. */
  const warm = async (p: ProxyHarness) => {
    const out = new Map<string, Buffer>();
    for (const url of ['/versions', INFO, GEM, QUICK]) {
      const r = await p.app.inject({ url });
      assert.equal(r.statusCode, 200, `${url} warms: ${r.body}`);
      out.set(url, r.rawPayload);
    }
    assert.ok(out.get(GEM)!.equals(gems.x));
    return out;
  };
  const noProblems = async (p: ProxyHarness, when: string) => {
    assert.deepEqual(await cacheProblems(p), [], `cache is whole ${when}`);
  };
  /**
   * An answer of the proxy and the upstream requests that began while it was awaited (of those, the
   * ones `keep` accepts). Their end is seen later: await fault.idle() before reading givenUp.
   */
  const answer = async (p: ProxyHarness, url: string, keep: (path: string) => boolean = () => true) => {
    const from = fault.seen.length;
    const r = await p.app.inject({ url });
    return { r, asked: fault.seen.slice(from).filter((q) => keep(q.path)) };
  };

  before(async () => {
    upstream = await startHarness();
    for (const g of Object.values(gems)) assert.equal((await push(upstream, g)).statusCode, 200);
    // A delayed answer waits 1.5 s: the single-flight case needs its two waves of requests to
    // overlap it even on a loaded machine.
    fault = await startFaultUpstream(injectOrigin(upstream.app), { delayMs: 1500 });
  });
  after(async () => {
    for (const p of proxies) await p.close().catch(() => {});
    await fault?.close();
    await upstream?.close();
  });

  it('the fault upstream tells deadlines waited on in a row from deadlines waited on at once', async () => {
    const hung = await startFaultUpstream(capturedOrigin(new Map()));
    try {
      hung.set('*', 'hang');
      /** Sends a GET, waits for the upstream to see it begin, and returns how to give it up. */
      const send = async (path: string) => {
        const ac = new AbortController();
        const done = fetch(`${hung.url}${path}`, { signal: ac.signal }).then(
          () => assert.fail(`${path} was answered`),
          () => {},
        );
        while (!hung.seen.some((q) => q.path === path)) await new Promise((r) => setImmediate(r));
        return async () => {
          ac.abort();
          await done;
        };
      };
      // At once: two requests, then both given up (as two deadlines that run together).
      let from = hung.seen.length;
      const giveUpA = await send('/at-once-a');
      const giveUpB = await send('/at-once-b');
      await giveUpA();
      await giveUpB();
      await hung.idle();
      const atOnce = hung.seen.slice(from);
      assert.deepEqual(
        atOnce.map((q) => [q.path, q.givenUp !== null]),
        [
          ['/at-once-a', true],
          ['/at-once-b', true],
        ],
      );
      assert.deepEqual(deadlinesInSequence(atOnce), []);
      // In a row: the second is sent as soon as the first is given up, as a client would after its deadline.
      from = hung.seen.length;
      await (await send('/in-a-row-a'))();
      await (await send('/in-a-row-b'))();
      await hung.idle();
      assert.deepEqual(deadlinesInSequence(hung.seen.slice(from)), [
        '/in-a-row-b (hang) began after the client gave up on /in-a-row-a (hang)',
      ]);
    } finally {
      await hung.close();
    }
  });

  it('with a cache, each fault gives the stale answer (same bytes), after one deadline at most', async () => {
    const p = await proxy({ timeout_ms: TIMEOUT_MS });
    const cached = await warm(p);
    for (const f of FAILURES) {
      fault.set('*', f);
      p.advance(STALE);
      fault.resetCounts();
      const stale = await staleAnswers(p);
      const asked = new Map<string, SeenRequest[]>();
      for (const url of ['/versions', INFO, GEM, QUICK]) {
        const a = await answer(p, url);
        assert.equal(a.r.statusCode, 200, `${f} ${url}: ${a.r.body}`);
        assert.ok(a.r.rawPayload.equals(cached.get(url)!), `${f} ${url}: the cached bytes`);
        asked.set(url, a.asked);
      }
      await fault.idle();
      for (const [url, a] of asked) {
        assert.deepEqual(deadlinesInSequence(a), [], `${f} ${url}: no two deadlines in a row`);
      }
      // The revalidations met the fault: at a deadline exactly when the fault is one.
      for (const url of ['/versions', INFO]) {
        assert.equal(waitedOnDeadline(asked.get(url)!), DEADLINE_FAULTS.has(f), `${f} ${url}: a deadline`);
      }
      // The fault was met (revalidation failed: stale answers), and immutable things were not asked again.
      assert.ok(fault.count('/versions') >= 1, `${f}: /versions was revalidated`);
      assert.ok(fault.count(INFO) >= 1, `${f}: /info was revalidated`);
      assert.ok((await staleAnswers(p)) - stale >= 2, `${f}: /versions and /info answered stale`);
      assert.equal(fault.count(GEM) + fault.count(QUICK), 0, `${f}: cached gem and spec not asked again`);
      fault.clear();
      await noProblems(p, `after ${f}`);
    }
  });

  it('without a cache, each fault gives 503 with Retry-After (bytes that fail their digest: 502)', async () => {
    for (const f of FAILURES) {
      const p = await proxy({ timeout_ms: TIMEOUT_MS });
      fault.set('*', f);
      const urls = ['/versions', INFO, GEM, QUICK];
      // All at once: the whole upstream is down for every client.
      const answers = await Promise.all(urls.map((url) => answer(p, url, mayAsk(url))));
      await fault.idle();
      for (const [i, { r, asked }] of answers.entries()) {
        const url = urls[i]!;
        if (f === 'tamper') {
          // Whole answers whose bytes fail their Repr-Digest (or zlib checksum): refused, as a tampered .gem.
          assert.equal(r.statusCode, 502, `${f} ${url}: ${r.statusCode} ${r.body}`);
        } else {
          assert.equal(r.statusCode, 503, `${f} ${url}: ${r.statusCode} ${r.body}`);
          assert.match(String(r.headers['retry-after']), /^[1-9]\d*$/, `${f} ${url}: Retry-After`);
        }
        assert.deepEqual(deadlinesInSequence(asked), [], `${f} ${url}: no two deadlines in a row`);
        assert.equal(waitedOnDeadline(asked), DEADLINE_FAULTS.has(f), `${f} ${url}: a deadline`);
      }
      fault.clear();
      await noProblems(p, `after ${f}`);
      assert.deepEqual(await p.services.catalog.listCachedGems(), []);
      await p.close();
    }
    // The index is to be had; only the .gem (or quick spec) fails: still 503, not 502/504.
    const p = await proxy();
    for (const f of ['hang', '500', 'reset', 'truncate', 'trickle'] as const) {
      fault.set(GEM, f);
      fault.set(QUICK, f);
      for (const url of [GEM, QUICK]) {
        const { r, asked } = await answer(p, url);
        assert.equal(r.statusCode, 503, `${f} ${url} alone: ${r.statusCode} ${r.body}`);
        assert.match(String(r.headers['retry-after']), /^[1-9]\d*$/, `${f} ${url}: Retry-After`);
        await fault.idle();
        assert.deepEqual(deadlinesInSequence(asked), [], `${f} ${url} alone: no two deadlines in a row`);
        assert.equal(waitedOnDeadline(asked), DEADLINE_FAULTS.has(f), `${f} ${url} alone: a deadline`);
      }
      fault.clear();
    }
    assert.deepEqual(await p.services.catalog.listCachedGems(), []);
    await noProblems(p, 'after .gem faults');
  });

  it('no fault leaves a partial file in the cache; a later good fetch gives the right bytes', async () => {
    const p = await proxy();
    const bigGem = '/gems/biggem-2.0.0.gem';
    const urls = ['/versions', '/info/biggem', bigGem, '/quick/Marshal.4.8/biggem-2.0.0.gemspec.rz'];
    // Cold: each fault on every path, then on the .gem alone (the index answers).
    for (const f of FAILURES) {
      fault.set('*', f);
      for (const url of urls) await p.app.inject({ url });
      await noProblems(p, `after a cold ${f}`);
      fault.clear();
      fault.set(bigGem, f);
      assert.notEqual((await p.app.inject({ url: bigGem })).statusCode, 200, `${f}: the .gem is refused`);
      fault.clear();
      await noProblems(p, `after a cold ${f} on the .gem`);
      assert.deepEqual(await p.services.catalog.listCachedGems(), [], `${f}: no cached_gems row`);
      const stored = [];
      for await (const e of p.services.blobs.list('gems/', { md5: false })) stored.push(e.key);
      assert.deepEqual(stored, [], `${f}: no .gem blob`);
    }
    // Warm /versions and /info; then each fault on their revalidation (206 ranges, 304s).
    for (const url of ['/versions', '/info/biggem'])
      assert.equal((await p.app.inject({ url })).statusCode, 200);
    // The upstream moves on meanwhile, so revalidation has new bytes to (fail to) fetch.
    assert.equal((await push(upstream, makeGem({ name: 'biggem', version: '2.0.1' }))).statusCode, 200);
    for (const f of FAILURES) {
      fault.set('*', f);
      p.advance(STALE);
      for (const url of ['/versions', '/info/biggem']) {
        assert.equal((await p.app.inject({ url })).statusCode, 200, `${f} ${url}: stale`);
      }
      fault.clear();
      await noProblems(p, `after a stale ${f}`);
    }
    // A good fetch: every byte as the upstream serves it.
    p.advance(STALE);
    for (const url of ['/versions', '/info/biggem', bigGem, '/quick/Marshal.4.8/biggem-2.0.0.gemspec.rz']) {
      const via = await p.app.inject({ url });
      const direct = await upstream.app.inject({ url });
      assert.equal(via.statusCode, 200, url);
      assert.ok(via.rawPayload.equals(direct.rawPayload), `${url}: the upstream's bytes`);
    }
    assert.equal(sha256((await p.app.inject({ url: bigGem })).rawPayload), sha256(gems.big));
    assert.deepEqual(
      (await p.services.catalog.listCachedGems()).map((g) => [g.file, g.sha256]),
      [['biggem-2.0.0', sha256(gems.big)]],
    );
    await noProblems(p, 'after the good fetch');
  });

  it('a .gem tampered upstream is refused (502) and nothing is cached', async () => {
    const p = await proxy();
    fault.resetCounts();
    fault.set(GEM, 'tamper');
    const r = await p.app.inject({ url: GEM });
    assert.equal(r.statusCode, 502, r.body);
    assert.equal(fault.count(GEM), 1);
    assert.deepEqual(await p.services.catalog.listCachedGems(), []);
    assert.equal(await p.services.blobs.head(gemBlobKey(sha256(tamperBytes(gems.x)))), null);
    const stored = [];
    for await (const e of p.services.blobs.list('gems/', { md5: false })) stored.push(e.key);
    assert.deepEqual(stored, [], 'no .gem blob at all');
    // Refused again (nothing was cached), then served once the upstream is honest.
    assert.equal((await p.app.inject({ url: GEM })).statusCode, 502);
    fault.clear();
    const good = await p.app.inject({ url: GEM });
    assert.equal(good.statusCode, 200);
    assert.ok(good.rawPayload.equals(gems.x));
    assert.deepEqual(
      (await p.services.catalog.listCachedGems()).map((g) => g.sha256),
      [sha256(gems.x)],
    );
    await noProblems(p, 'after the tampered gem');
  });

  it('an exclude pattern stops every upstream request for matching names', async () => {
    const p = await proxy({ exclude: ['acme-*'] });
    fault.resetCounts();
    const asks = [
      ['/info/acme-x', 404],
      ['/gems/acme-x-1.0.0.gem', 404],
      ['/quick/Marshal.4.8/acme-x-1.0.0.gemspec.rz', 404],
      ['/api/v1/dependencies?gems=acme-x', 200],
      ['/api/v1/dependencies.json?gems=acme-x', 200],
    ] as const;
    for (const [url, status] of asks) {
      const r = await p.app.inject({ url });
      assert.equal(r.statusCode, status, `${url}: ${r.body}`);
    }
    assert.equal((await p.app.inject({ url: '/api/v1/dependencies.json?gems=acme-x' })).body, '[]');
    const v = await p.app.inject({ url: '/versions' });
    assert.doesNotMatch(v.body, /^acme-x /m);
    assert.match(v.body, /^xgem /m);
    assert.equal(
      fault.count((path) => path.includes('acme-x')),
      0,
      `no upstream request for acme-x: ${[...fault.requests.keys()].join(' ')}`,
    );
  });

  it('the upstream rewrites /versions: the proxy recovers and a client holding the old file updates', async () => {
    // An upstream of its own: this test rewrites its /versions.
    const origin = await startHarness();
    const f2 = await startFaultUpstream(injectOrigin(origin.app));
    try {
      assert.equal((await push(origin, makeGem({ name: 'rw', version: '1.0.0' }))).statusCode, 200);
      const p = await startProxy({ upstreams: [{ ...up(), url: f2.url }] });
      proxies.push(p);
      /** A client's copy of /versions: body and ETag. */
      const hold = async () => {
        const r = await p.app.inject({ url: '/versions' });
        assert.equal(r.statusCode, 200);
        return { body: r.rawPayload, etag: String(r.headers['etag']) };
      };
      const early = await hold(); // one line: a client that is far behind
      for (const v of ['1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0', '1.6.0', '1.7.0']) {
        assert.equal((await push(origin, makeGem({ name: 'rw', version: v }))).statusCode, 200);
      }
      p.advance(STALE);
      const late = await hold(); // a line per version: longer than the rewritten file
      assert.ok(late.body.length > early.body.length);
      assert.equal(late.body.toString().match(/^rw /gm)?.length, 8);

      // The monthly rewrite: more gems, a new created_at, one line per gem.
      assert.equal((await push(origin, makeGem({ name: 'rw2', version: '1.0.0' }))).statusCode, 200);
      origin.services.clock.set(new Date('2024-02-01T00:00:00Z'));
      await origin.services.gems.rebuildVersionsList();
      const fresh = (await origin.app.inject({ url: '/versions' })).rawPayload;
      const createdAt = (b: Buffer) => /^created_at: (\S+)$/m.exec(b.toString())?.[1];
      assert.notEqual(createdAt(fresh), createdAt(late.body), 'a new created_at');
      assert.equal(fresh.toString().match(/^rw /gm)?.length, 1, 'one line per gem');
      assert.ok(fresh.length < late.body.length, 'a shorter file');
      assert.ok(fresh.length > early.body.length, 'longer than the early copy');

      // The proxy recovers after max_age: the upstream's new file, byte for byte.
      p.advance(STALE);
      const served = await p.app.inject({ url: '/versions' });
      assert.equal(served.statusCode, 200);
      assert.ok(served.rawPayload.equals(fresh), 'the proxy serves the rewritten /versions');
      for (const [name, m] of lastMd5s(served.body)) {
        const info = await p.app.inject({ url: `/info/${name}` });
        assert.equal(info.statusCode, 200, name);
        assert.equal(md5(info.rawPayload), m, `/info/${name} matches /versions`);
      }

      // Clients holding an old copy update as Bundler does: a Range from size - 1 with the old
      // ETag; a 206 is appended and checked against Repr-Digest, else the whole file is fetched.
      const update = async (old: { body: Buffer; etag: string }) => {
        const r = await p.app.inject({
          url: '/versions',
          headers: { range: `bytes=${old.body.length - 1}-`, 'if-none-match': old.etag },
        });
        let body: Buffer | null = null;
        let path = String(r.statusCode);
        if (r.statusCode === 304) body = old.body;
        else if (r.statusCode === 200) body = r.rawPayload;
        else if (r.statusCode === 206) {
          const joined = Buffer.concat([old.body, r.rawPayload.subarray(1)]);
          const declared = /sha-256=:([^:]+):/.exec(String(r.headers['repr-digest']))?.[1];
          assert.ok(declared, 'a 206 declares the digest of the whole representation');
          if (
            r.rawPayload[0] === old.body[old.body.length - 1] &&
            createHash('sha256').update(joined).digest('base64') === declared
          ) {
            body = joined;
          } else path += ' mismatch, full GET';
        }
        if (body === null) {
          const full = await p.app.inject({ url: '/versions' });
          assert.equal(full.statusCode, 200);
          body = full.rawPayload;
        }
        return { body, path };
      };
      const a = await update(early);
      const b = await update(late);
      assert.ok(a.body.equals(served.rawPayload), `the early client ends with the server's file (${a.path})`);
      assert.ok(b.body.equals(served.rawPayload), `the late client ends with the server's file (${b.path})`);
      assert.equal(a.path, '206 mismatch, full GET');
      assert.equal(b.path, '200');
      await noProblems(p, 'after the rewrite');
    } finally {
      await f2.close();
      await origin.close();
    }
  });

  it('50 concurrent requests for one uncached /info make one upstream request', async () => {
    // A deadline well past the delayed answer (1.5 s), which the two waves must overlap.
    const p = await proxy({ timeout_ms: 5000 });
    fault.resetCounts();
    // The upstream is slow, so the requests overlap; they also arrive in two waves.
    fault.set('/info/ygem', 'delay');
    const wave = () => Array.from({ length: 25 }, () => p.app.inject({ url: '/info/ygem' }));
    const first = wave();
    await new Promise((r) => setTimeout(r, 30));
    const all = await Promise.all([...first, ...wave()]);
    fault.clear();
    const direct = (await upstream.app.inject({ url: '/info/ygem' })).rawPayload;
    for (const r of all) {
      assert.equal(r.statusCode, 200);
      assert.ok(r.rawPayload.equals(direct));
    }
    assert.equal(fault.count('/info/ygem'), 1, 'one upstream request for /info/ygem');
    assert.equal(fault.count('/versions'), 1, 'one upstream request for /versions');
  });

  it('--offline answers from a warm cache, 503 for the rest, and opens no connection', async () => {
    const warmProxy = await startProxy({ upstreams: [up()] });
    const cached = await warm(warmProxy);
    await warmProxy.close({ keepDir: true });
    const connections = fault.connections();
    fault.resetCounts();
    const p = await proxy({}, { offline: true, dir: warmProxy.dir });
    p.advance(30 * 86_400_000); // long stale: offline still answers
    for (const url of ['/versions', INFO, GEM, QUICK]) {
      const r = await p.app.inject({ url });
      assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
      assert.ok(r.rawPayload.equals(cached.get(url)!), `${url}: the cached bytes`);
    }
    for (const url of ['/info/ygem', '/gems/ygem-1.0.0.gem', '/quick/Marshal.4.8/ygem-1.0.0.gemspec.rz']) {
      const r = await p.app.inject({ url });
      assert.equal(r.statusCode, 503, `${url}: ${r.statusCode} ${r.body}`);
      assert.match(String(r.headers['retry-after']), /^[1-9]\d*$/);
    }
    assert.equal(fault.connections(), connections, 'no connection to the upstream');
    assert.equal(fault.requests.size, 0);
  });
});
