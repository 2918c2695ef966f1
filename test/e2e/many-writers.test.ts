/**
 * Many writers at once, over HTTP, against real `quarry serve` processes:
 *   - one SQLite file shared by `quarry serve --workers 4`;
 *   - three nodes (three processes on their own ports) sharing one PostgreSQL database and one S3
 *     bucket, pushes spread over the nodes.
 * Each gets 10 gems pushed 4 times at once (identical bytes: every push answers 200, exactly one
 * registers), 5 versions pushed at once with 3 different contents each (one wins, the others get
 * 409), then 240 distinct versions pushed at once (60 gems × 4 versions: writers of one gem
 * race for its lock). Then every pushed .gem must download with its SHA-256 from every node, every
 * /versions line must carry the MD5 of the /info body as it was when the line was appended, and
 * (for the nodes) every index file must be byte-identical on every node, with the same ETag and
 * Last-Modified, once refresh_ms has passed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { after, before, describe, test } from 'node:test';
import type { Cluster } from '../support/cluster.ts';
import {
  checkVersionsAgainstInfo,
  eventually,
  getFile,
  inBatches,
  indexSnapshot,
  pushTo,
  sha256,
  startCluster,
} from '../support/cluster.ts';
import { makeGem } from '../support/make-gem.ts';
import type { PgServer } from '../support/postgres.ts';
import { startPostgres } from '../support/postgres.ts';
import type { S3TestServer } from '../support/s3-server.ts';
import { startS3Server } from '../support/s3-server.ts';
import type { QuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 120_000 };
const REFRESH_MS = 200;
/** How long nodes may take to agree after the last write: refresh_ms plus generous slack for CI. */
const CONVERGE_MS = REFRESH_MS + 10_000;

interface Gem {
  name: string;
  version: string;
  bytes: Buffer;
  sha256: string;
}
const gem = (name: string, version: string): Gem => {
  const bytes = makeGem({ name, version, summary: `${name} ${version}` });
  return { name, version, bytes, sha256: sha256(bytes) };
};

/** 10 gems, each to be pushed 4 times at once. */
const SAME = Array.from({ length: 10 }, (_, i) => gem(`same-${i}`, '1.0.0'));
/** 5 versions, each pushed at once with 3 different contents: one wins, two are refused. */
const RIVALS = Array.from({ length: 5 }, (_, i) =>
  [0, 1, 2].map((k) => ({ ...gem(`rival-${i}`, '1.0.0'), ...rivalBytes(`rival-${i}`, k) })),
);
function rivalBytes(name: string, k: number): { bytes: Buffer; sha256: string } {
  const bytes = makeGem({ name, version: '1.0.0', summary: `contender ${k}` });
  return { bytes, sha256: sha256(bytes) };
}
/** 240 distinct versions: 60 gems × 4 versions, pushed all at once. */
const MANY = Array.from({ length: 240 }, (_, i) => gem(`many-${i % 60}`, `1.${Math.floor(i / 60)}.0`));

/** Answers counted by status and first line (names and versions left out), one kind a line. */
const summary = (answers: { status: number; body: string }[]) => {
  const by = new Map<string, number>();
  for (const a of answers) {
    const k = `${a.status} ${a.body.split('\n')[0]?.replace(/[a-z]+-\d+|\([^)]*\)/g, '…')}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  return [...by].map(([k, n]) => `${n} × ${k}`).join('\n');
};

/** Every gem downloads from every node with the pushed SHA-256. */
async function checkDownloads(nodes: QuarryServer[], gems: Gem[]): Promise<void> {
  const bad: string[] = [];
  await inBatches(
    16,
    nodes.flatMap((n) =>
      gems.map((g) => async () => {
        const f = await getFile(n, `/gems/${g.name}-${g.version}.gem`);
        if (f.status !== 200 || sha256(f.body) !== g.sha256)
          bad.push(`${n.url}/gems/${g.name}-${g.version}.gem: ${f.status}, sha256 ${sha256(f.body)}`);
      }),
    ),
  );
  assert.deepEqual(bad, [], 'every pushed .gem downloads with its SHA-256 from every node');
}

/** No node logged an error or answered 5xx (stderr holds only the AWS SDK's Node version notice). */
async function checkLogs(nodes: QuarryServer[]): Promise<void> {
  for (const n of nodes) {
    await n.flushLog();
    const errors = n.logs.filter((l) => Number(l['level']) >= 50 || Number(l['status']) >= 500);
    assert.deepEqual(errors, [], `${n.url} logged errors`);
  }
}

/**
 * The scenario, with pushes spread round-robin over the nodes. After the writes every node must
 * converge: /versions agrees with /info, every name is listed, and (with several nodes) every
 * index file is the same on every node.
 */
async function manyWriters(t: TestContext, nodes: QuarryServer[], key: string): Promise<void> {
  const node = (i: number) => nodes[i % nodes.length]!;

  // 1. Identical pushes, 4 of each gem at once.
  let t0 = performance.now();
  const same = await Promise.all(
    SAME.flatMap((g, i) => [0, 1, 2, 3].map((k) => pushTo(node(i + k), key, g.bytes))),
  );
  t.diagnostic(`40 identical pushes: ${Math.round(performance.now() - t0)} ms`);
  for (const line of summary(same).split('\n')) t.diagnostic(`  ${line}`);
  assert.deepEqual(
    same.filter((a) => a.status !== 200),
    [],
    `every identical push answers 200:\n${summary(same)}`,
  );
  const registered = same.filter((a) => a.body.startsWith('Successfully registered gem:')).length;
  assert.equal(registered, SAME.length, `exactly one push of each gem registers it:\n${summary(same)}`);
  await checkDownloads(nodes, SAME);

  // 2. Different bytes for one version, at once: one push wins, the others get 409, and the winner's
  // bytes are what every node serves.
  const rivals = await Promise.all(
    RIVALS.flatMap((contenders, i) => contenders.map((g, k) => pushTo(node(i + k), key, g.bytes))),
  );
  for (const line of summary(rivals).split('\n')) t.diagnostic(`rival pushes: ${line}`);
  const winners: Gem[] = [];
  RIVALS.forEach((contenders, i) => {
    const answers = rivals.slice(i * 3, i * 3 + 3);
    const won = answers.flatMap((a, k) => (a.status === 200 ? [contenders[k]!] : []));
    assert.equal(won.length, 1, `one push of rival-${i} wins:\n${summary(answers)}`);
    assert.deepEqual(
      answers.filter((a) => a.status !== 200).map((a) => a.status),
      [409, 409],
      `the others are refused:\n${summary(answers)}`,
    );
    winners.push(won[0]!);
  });
  await checkDownloads(nodes, winners);

  // 3. Distinct pushes, all at once.
  t0 = performance.now();
  const many = await Promise.all(MANY.map((g, i) => pushTo(node(i), key, g.bytes)));
  const ms = Math.round(performance.now() - t0);
  const failed = many.filter((a) => a.status !== 200);
  t.diagnostic(`240 concurrent distinct pushes: ${ms} ms, ${failed.length} failed`);
  for (const line of summary(many).split('\n')) t.diagnostic(`  ${line}`);
  assert.deepEqual(failed, [], `no push fails:\n${summary(many)}`);
  await checkDownloads(nodes, [...SAME, ...MANY]);

  // The pushes reached several processes (workers of one node, or the nodes).
  const pushers = new Set<unknown>();
  for (const n of nodes) {
    await n.flushLog();
    for (const l of n.logs) if (l['msg'] === 'request' && l['method'] === 'POST') pushers.add(l['pid']);
  }
  t.diagnostic(`pushes answered by ${pushers.size} processes`);
  assert.ok(pushers.size >= 2, `pushes answered by ${pushers.size} process(es)`);

  // 4. Converged: /versions agrees with /info on every node, and lists every gem.
  const names = [...new Set([...SAME, ...winners, ...MANY].map((g) => g.name))].sort();
  t0 = performance.now();
  for (const n of nodes) {
    await eventually(CONVERGE_MS, async () => {
      const lines = await checkVersionsAgainstInfo(n, { pushesOnly: true });
      assert.equal(lines, SAME.length + winners.length + MANY.length, `/versions lines on ${n.url}`);
      const listed = (await getFile(n, '/names')).body.toString('utf8').split('\n').slice(1, -1);
      assert.deepEqual(listed, names, `/names on ${n.url}`);
    });
  }
  t.diagnostic(`/versions agrees with /info everywhere after ${Math.round(performance.now() - t0)} ms`);

  // 5. Several nodes: the same bytes, ETags and Last-Modified on each.
  if (nodes.length > 1) {
    t0 = performance.now();
    await eventually(CONVERGE_MS, async () => {
      const [first, ...rest] = await Promise.all(nodes.map((n) => indexSnapshot(n)));
      assert.equal(Object.keys(first!).length, names.length + 5, 'files in the snapshot');
      for (const [path, f] of Object.entries(first!)) assert.equal(f.status, 200, path);
      for (const [i, s] of rest.entries())
        assert.deepEqual(s, first, `node ${i + 1} serves what node 0 serves (bytes, ETag, Last-Modified)`);
    });
    t.diagnostic(`every node serves identical index files after ${Math.round(performance.now() - t0)} ms`);
  }
  await checkLogs(nodes);
}

describe('many writers: one SQLite catalog, quarry serve --workers 4', () => {
  let root: string;
  let cluster: Cluster | undefined;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'quarry-many-sqlite-'));
    cluster = await startCluster({
      root,
      nodes: 1,
      workers: 4,
      catalog: `sqlite:${join(root, 'catalog.sqlite3')}`,
      refreshMs: REFRESH_MS,
    });
  });
  after(async () => {
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('concurrent identical and distinct pushes all succeed, and the indexes agree', TIMEOUT, async (t) => {
    assert.ok(cluster, 'the server started');
    await manyWriters(t, cluster.nodes, cluster.key);
  });
});

describe('many writers: 3 nodes sharing PostgreSQL and S3', () => {
  let root: string;
  let pg: PgServer | undefined;
  let s3: S3TestServer | undefined;
  let cluster: Cluster | undefined;
  const bucket = `quarry-many-${randomBytes(4).toString('hex')}`;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'quarry-many-pg-'));
    [pg, s3] = await Promise.all([startPostgres(), startS3Server([bucket])]);
    cluster = await startCluster({
      root,
      nodes: 3,
      catalog: await pg.createDatabase(),
      s3: { server: s3, bucket, prefix: 'gems-prefix' },
      refreshMs: REFRESH_MS,
    });
  });
  after(async () => {
    await cluster?.stop();
    await Promise.all([pg?.stop(), s3?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  test(
    'concurrent pushes over 3 nodes all succeed, and every node serves the same indexes',
    TIMEOUT,
    async (t) => {
      assert.ok(cluster, 'the nodes started');
      await manyWriters(t, cluster.nodes, cluster.key);
    },
  );
});
