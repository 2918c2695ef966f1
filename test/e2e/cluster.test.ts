/**
 * Three `quarry serve` nodes (A, B, C: three processes on their own ports, each with its own data
 * directory) sharing one PostgreSQL catalog and one S3 bucket, driven by the real clients:
 *   - the gem_server_conformance sequence against node B (started with --test-hooks), over HTTP,
 *     after which A and C serve B's index files byte for byte;
 *   - `gem push` to A, then `gem install` and `bundle install` from B;
 *   - `gem yank` on C, which A shows (the version leaves /info, /versions gets its `-` line) within
 *     refresh_ms.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Cluster, IndexSnapshot } from '../support/cluster.ts';
import { eventually, getFile, indexSnapshot, LEGACY_LISTS, md5, startCluster } from '../support/cluster.ts';
import { conformanceSequence, httpTarget } from '../support/conformance-sequence.ts';
import type { Corpus } from '../support/corpus.ts';
import { buildCorpus } from '../support/corpus.ts';
import type { PgServer } from '../support/postgres.ts';
import { startPostgres } from '../support/postgres.ts';
import type { RubySandbox } from '../support/ruby.ts';
import { describeRun, requireRuby, rubySandbox } from '../support/ruby.ts';
import type { S3TestServer } from '../support/s3-server.ts';
import { startS3Server } from '../support/s3-server.ts';
import type { QuarryServer } from '../support/server.ts';
import { startQuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 120_000 };
const REFRESH_MS = 200;
/** Slack on top of refresh_ms for a loaded machine (request latency, a busy event loop). */
const SLACK_MS = 1_500;
const show = (s: QuarryServer, from: number) =>
  s.logs
    .slice(from)
    .filter((l) => l['msg'] === 'request')
    .map((l) => `${l['method']} ${l['url']} -> ${l['status']}`)
    .join('\n');

function installedSpecs(gemDir: string): string[] {
  const dir = join(gemDir, 'specifications');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.gemspec'))
    .map((f) => f.slice(0, -'.gemspec'.length))
    .sort();
}

describe('a cluster of 3 nodes sharing PostgreSQL and S3', () => {
  let root: string;
  let pg: PgServer | undefined;
  let s3: S3TestServer | undefined;
  let cluster: Cluster;
  let corpus: Corpus;
  let A: QuarryServer;
  let B: QuarryServer;
  let C: QuarryServer;
  const bucket = `quarry-cluster-${randomBytes(4).toString('hex')}`;
  const sandboxes: RubySandbox[] = [];
  const sandbox = () => {
    const s = rubySandbox('quarry-cluster-');
    sandboxes.push(s);
    return s;
  };
  /** The pushed files, by file name. */
  const pushed = new Map<string, Buffer>();

  before(async () => {
    requireRuby();
    root = mkdtempSync(join(tmpdir(), 'quarry-cluster-'));
    corpus = buildCorpus(join(root, 'corpus'));
    [pg, s3] = await Promise.all([startPostgres(), startS3Server([bucket])]);
    cluster = await startCluster({
      root,
      nodes: 3,
      catalog: await pg.createDatabase(),
      s3: { server: s3, bucket },
      refreshMs: REFRESH_MS,
      testHooks: [1],
    });
    [A, B, C] = cluster.nodes as [QuarryServer, QuarryServer, QuarryServer];
  });
  after(async () => {
    await cluster?.stop();
    await Promise.all([pg?.stop(), s3?.close()]);
    for (const s of sandboxes) s.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  describe('the gem_server_conformance sequence against node B', () => {
    conformanceSequence(async () => httpTarget(B.url, cluster.key));
  });

  /** A node's index snapshot, without the legacy lists' Last-Modified unless `withLegacyDates`. */
  const snapshot = async (n: QuarryServer, withLegacyDates: boolean) => {
    const snap = await indexSnapshot(n);
    if (!withLegacyDates)
      for (const p of LEGACY_LISTS) if (snap[p]) snap[p] = { ...snap[p], lastModified: null };
    return snap;
  };
  const snapshots = (withLegacyDates: boolean) =>
    Promise.all([A, B, C].map((n) => snapshot(n, withLegacyDates)));

  test('after the sequence, nodes A and C serve what B serves', TIMEOUT, async () => {
    await eventually(REFRESH_MS + SLACK_MS, async () => {
      const [a, b, c] = await snapshots(false);
      assert.equal(b!['/versions']?.status, 200);
      assert.deepEqual(a, b, 'node A serves what node B serves (bytes, ETag, Last-Modified)');
      assert.deepEqual(c, b, 'node C serves what node B serves (bytes, ETag, Last-Modified)');
    });
  });

  // B built the lists after every step of the sequence; A and C built them once, at the end. The
  // date comes from the catalog (the generation's modifiedAt), so all three agree.
  test('after the sequence, the legacy lists have the same Last-Modified on every node', {
    ...TIMEOUT,
  }, async () => {
    const [a, b, c] = await snapshots(true);
    for (const p of LEGACY_LISTS) {
      assert.equal(a![p]?.lastModified, b![p]?.lastModified, `${p}: Last-Modified on A and B`);
      assert.equal(c![p]?.lastModified, b![p]?.lastModified, `${p}: Last-Modified on C and B`);
    }
  });

  test('gem push to node A', TIMEOUT, async () => {
    const s = sandbox();
    for (const file of [
      'edge-base-1.0.0.gem',
      'edge-base-2.0.0.gem',
      'power_assert-2.0.1.gem',
      'edge-deps-1.0.0.gem',
    ]) {
      const g = corpus.gem(file);
      const r = await s.gem(['push', g.path, '--host', A.url], { env: { GEM_HOST_API_KEY: cluster.key } });
      assert.equal(r.status, 0, describeRun(`gem push ${file} to A`, r));
      assert.match(r.stdout, /Successfully registered gem/);
      pushed.set(file, readFileSync(g.path));
    }
  });

  test('gem install and bundle install from node B', TIMEOUT, async () => {
    // B notices A's pushes within refresh_ms.
    await eventually(REFRESH_MS + SLACK_MS, async () => {
      assert.equal((await getFile(B, '/info/edge-deps')).status, 200);
    });
    const s = sandbox();
    const from = B.logs.length;
    const r = await s.gem(['install', 'edge-deps', '--clear-sources', '--source', `${B.url}/`]);
    assert.equal(r.status, 0, `${describeRun('gem install edge-deps from B', r)}\n${show(B, from)}`);
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-base-2.0.0', 'edge-deps-1.0.0', 'power_assert-2.0.1']);
    for (const f of readdirSync(join(s.gemHome, 'cache')))
      assert.ok(readFileSync(join(s.gemHome, 'cache', f)).equals(pushed.get(f)!), `${f} is the pushed file`);

    const app = join(s.root, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'Gemfile'), `source "${B.url}/"\n\ngem "edge-deps"\n`);
    const bundlePath = join(s.root, 'bundle');
    const b = await s.bundle(['install'], { cwd: app, env: { BUNDLE_PATH: bundlePath } });
    assert.equal(b.status, 0, `${describeRun('bundle install from B', b)}\n${show(B, from)}`);
    const lock = readFileSync(join(app, 'Gemfile.lock'), 'utf8');
    for (const line of ['edge-base (2.0.0)', 'edge-deps (1.0.0)', 'power_assert (2.0.1)'])
      assert.ok(lock.includes(`    ${line}\n`), `Gemfile.lock lacks ${line}:\n${lock}`);
    assert.ok(lock.includes(`remote: ${B.url}/`), lock);
  });

  // Behind a load balancer nodes restart at will: one that starts with empty caches must answer
  // with the validators of the nodes that have been up (which cached files before the last pushes).
  const withoutDates = (snap: IndexSnapshot): IndexSnapshot =>
    Object.fromEntries(Object.entries(snap).map(([p, f]) => [p, { ...f, lastModified: null }]));
  let late: { fresh: IndexSnapshot; up: IndexSnapshot[] } | undefined;

  test('a node started later serves the same bytes and ETags as the others', TIMEOUT, async () => {
    mkdirSync(join(root, 'node-late'));
    const D = await startQuarryServer({ data: join(root, 'node-late'), env: cluster.env });
    try {
      await eventually(REFRESH_MS + SLACK_MS, async () => {
        const up = await Promise.all([A, B, C].map((n) => indexSnapshot(n)));
        const fresh = await indexSnapshot(D);
        late = { fresh, up };
        assert.ok(fresh['/info/edge-deps'], 'the snapshot covers the pushed gems');
        for (const [i, snap] of up.entries())
          assert.deepEqual(
            withoutDates(snap),
            withoutDates(fresh),
            `node ${'ABC'[i]} serves what the new node serves`,
          );
      });
    } finally {
      await D.stop().catch(() => D.kill());
    }
  });

  // /info is dated by the gem's last push or yank, legacy lists by the catalog's last change: a
  // node that has been up and one started since agree.
  test('a node started later serves the same Last-Modified as the others', {
    ...TIMEOUT,
  }, () => {
    assert.ok(late, 'the previous test took the snapshots');
    for (const [i, snap] of late.up.entries())
      for (const [p, f] of Object.entries(late.fresh))
        assert.equal(
          snap[p]?.lastModified,
          f.lastModified,
          `${p}: Last-Modified on node ${'ABC'[i]} and the new node`,
        );
  });

  test('gem yank on node C shows on node A within refresh_ms', TIMEOUT, async (t) => {
    const listed = (info: Buffer) => /^1\.0\.0 /m.test(info.toString());
    assert.ok(listed((await getFile(A, '/info/edge-base')).body), 'A lists edge-base 1.0.0');
    // While gem yank runs, /info/edge-base is read from A and from C every few ms: A keeps its view
    // cached (fresh for refresh_ms after each catalog check), C sees its own write at once. The lag
    // from the first read that shows the yank on C to the first on A is A's staleness.
    const seen: { A?: number; C?: number } = {};
    let polling = true;
    const poll = (async () => {
      while (polling && seen.A === undefined) {
        const [a, c] = await Promise.all([getFile(A, '/info/edge-base'), getFile(C, '/info/edge-base')]);
        const at = performance.now();
        if (seen.C === undefined && !listed(c.body)) seen.C = at;
        if (seen.A === undefined && !listed(a.body)) seen.A = at;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const s = sandbox();
    const r = await s
      .gem(['yank', 'edge-base', '-v', '1.0.0', '--host', C.url], { env: { GEM_HOST_API_KEY: cluster.key } })
      .finally(() => {
        // Stop polling a while after gem yank is done, whatever happened.
        setTimeout(() => {
          polling = false;
        }, REFRESH_MS + SLACK_MS).unref();
      });
    assert.equal(r.status, 0, describeRun('gem yank on C', r));
    assert.match(r.stdout, /Successfully deleted gem: edge-base \(1\.0\.0\)/);
    await poll;
    assert.ok(seen.C !== undefined, 'C shows its own yank');
    assert.ok(
      seen.A !== undefined,
      `A shows the yank within ${REFRESH_MS + SLACK_MS} ms of gem yank returning`,
    );
    const lag = Math.round(seen.A - seen.C);
    t.diagnostic(`node A showed the yank made on node C ${lag} ms after C did (refresh_ms ${REFRESH_MS})`);
    assert.ok(lag <= REFRESH_MS + 100, `A lagged C by ${lag} ms; refresh_ms is ${REFRESH_MS}`);

    // And on A, /versions ends the gem with the yank line, carrying the MD5 of A's /info.
    const info = await getFile(A, '/info/edge-base');
    const last = (await getFile(A, '/versions')).body
      .toString()
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('edge-base '))
      .at(-1);
    assert.equal(last, `edge-base -1.0.0 ${md5(info.body)}`, 'the yank line on A');
    assert.equal((await getFile(A, '/gems/edge-base-1.0.0.gem')).status, 404, 'the yanked .gem is gone on A');
  });

  test('no node logged an error or answered 5xx', TIMEOUT, async () => {
    for (const n of [A, B, C]) {
      await n.flushLog();
      const errors = n.logs.filter((l) => Number(l['level']) >= 50 || Number(l['status']) >= 500);
      assert.deepEqual(errors, [], `${n.url} logged errors`);
    }
  });
});
