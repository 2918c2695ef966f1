/**
 * Several `quarry serve` processes behind no load balancer, for scale-out tests: nodes that share one
 * catalog (a PostgreSQL database, or one SQLite file) and one blob store (an S3 bucket on the S3 test
 * server), each with its own data directory and port. Plus the HTTP helpers the tests of such a
 * cluster share: raw pushes, .gem downloads, and a snapshot of every index file a node serves, to
 * compare nodes byte for byte.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { S3_TEST_CREDENTIALS, type S3TestServer } from './s3-server.ts';
import type { QuarryServer } from './server.ts';
import { createKey, startQuarryServer } from './server.ts';

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
export const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

export interface ClusterOptions {
  /** A folder for the nodes' data directories and config files. */
  root: string;
  nodes: number;
  /** The shared catalog: postgres://… or sqlite:PATH. */
  catalog: string;
  /** The shared S3 bucket; without it each node keeps gems in its own data directory. */
  s3?: { server: S3TestServer; bucket: string; prefix?: string };
  /** index.refresh_ms of every node. */
  refreshMs: number;
  /** --workers of every node (default 1). */
  workers?: number;
  /** Nodes (by index) started with --test-hooks. */
  testHooks?: number[];
}

export interface Cluster {
  nodes: QuarryServer[];
  /** An API key with the push and yank scopes, valid on every node (it lives in the catalog). */
  key: string;
  /** The environment every node runs with (QUARRY_CATALOG, QUARRY_STORAGE, AWS_*, …). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts the nodes one after the other (the first creates the catalog's tables), then makes a key. */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const env: Record<string, string> = {
    QUARRY_CATALOG: o.catalog,
    QUARRY_INDEX__REFRESH_MS: String(o.refreshMs),
  };
  if (o.s3) {
    Object.assign(env, {
      QUARRY_STORAGE: `s3://${o.s3.bucket}${o.s3.prefix ? `/${o.s3.prefix}` : ''}`,
      QUARRY_S3__ENDPOINT: o.s3.server.endpoint,
      QUARRY_S3__FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    });
  }
  const nodes: QuarryServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => n.kill())));
  };
  try {
    for (let i = 0; i < o.nodes; i++) {
      const data = join(o.root, `node-${i}`);
      mkdirSync(data, { recursive: true });
      const config = join(o.root, `node-${i}.yaml`);
      writeFileSync(config, `workers: ${o.workers ?? 1}\n`);
      nodes.push(
        await startQuarryServer({ data, config, env, testHooks: o.testHooks?.includes(i) ?? false }),
      );
    }
    // A node says it listens once its first worker does: wait until the primary counts them all.
    if ((o.workers ?? 1) > 1) {
      for (const n of nodes) {
        await eventually(30_000, async () => {
          const text = await (await n.fetch('/metrics')).text();
          assert.match(
            text,
            new RegExp(`^quarry_cluster_workers ${o.workers}$`, 'm'),
            `${n.url}: workers listening`,
          );
        });
      }
    }
    const key = createKey(nodes[0]!.dataDir, ['push', 'yank'], { name: 'cluster', env });
    return { nodes, key, env, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface PushAnswer {
  status: number;
  body: string;
}

/** POST /api/v1/gems with the raw .gem body, as `gem push` sends it. Never throws for a status. */
export async function pushTo(node: QuarryServer, key: string, gem: Buffer): Promise<PushAnswer> {
  try {
    const r = await node.fetch('/api/v1/gems', {
      method: 'POST',
      headers: { authorization: key, 'content-type': 'application/octet-stream' },
      body: gem,
    });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    return { status: 0, body: `request failed: ${(e as Error).message}` };
  }
}

/** GET a path; the body as bytes, and the validators. */
export async function getFile(
  node: QuarryServer,
  path: string,
): Promise<{ status: number; body: Buffer; etag: string | null; lastModified: string | null }> {
  const r = await node.fetch(path);
  return {
    status: r.status,
    body: Buffer.from(await r.arrayBuffer()),
    etag: r.headers.get('etag'),
    lastModified: r.headers.get('last-modified'),
  };
}

/** Runs fns with at most `limit` at a time; the results in order. */
export async function inBatches<T>(limit: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const out = new Array<T>(fns.length);
  let next = 0;
  const lane = async () => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, fns.length) }, lane));
  return out;
}

/** One served file: bytes (as MD5, to keep messages short), status and validators. */
export interface ServedFile {
  status: number;
  md5: string;
  etag: string | null;
  lastModified: string | null;
}

/** What a node serves for every index file: /versions, /names, every /info, the legacy lists. */
export type IndexSnapshot = Record<string, ServedFile>;

export const LEGACY_LISTS = ['/specs.4.8.gz', '/latest_specs.4.8.gz', '/prerelease_specs.4.8.gz'] as const;

/** Fetches /versions, /names, /info/NAME of every name in /versions, and the legacy lists. */
export async function indexSnapshot(node: QuarryServer): Promise<IndexSnapshot> {
  const versions = await getFile(node, '/versions');
  const names = new Set<string>();
  for (const line of versions.body.toString('utf8').split('\n').slice(2)) {
    const name = line.split(' ')[0];
    if (name) names.add(name);
  }
  const paths = ['/names', ...[...names].sort().map((n) => `/info/${n}`), ...LEGACY_LISTS];
  const files = await inBatches(
    16,
    paths.map((p) => () => getFile(node, p)),
  );
  const out: IndexSnapshot = {};
  const put = (p: string, f: Awaited<ReturnType<typeof getFile>>) => {
    out[p] = { status: f.status, md5: md5(f.body), etag: f.etag, lastModified: f.lastModified };
  };
  put('/versions', versions);
  for (const [i, p] of paths.entries()) put(p, files[i]!);
  return out;
}

/** Polls fn until it stops throwing, or rethrows its last error after deadlineMs. */
export async function eventually<T>(deadlineMs: number, fn: () => Promise<T>, everyMs = 25): Promise<T> {
  const end = performance.now() + deadlineMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (performance.now() > end) throw e;
    }
    await sleep(everyMs);
  }
}

/**
 * Checks /versions against /info on one node: the last line of each gem carries the MD5 of the
 * /info body served, and every earlier line carries the MD5 of the /info body as it was when that
 * line was appended (with pushesOnly: every line since an empty catalog was one push, so line N
 * carries the MD5 of the header plus the gem's first N versions). Returns the number of lines checked.
 */
export async function checkVersionsAgainstInfo(
  node: QuarryServer,
  opts: { pushesOnly: boolean },
): Promise<number> {
  const versions = (await getFile(node, '/versions')).body.toString('utf8');
  const byName = new Map<string, { tokens: string; md5: string }[]>();
  for (const line of versions.split('\n').slice(2)) {
    if (line === '') continue;
    const [name, tokens, sum] = line.split(' ');
    assert.ok(name && tokens && sum, `malformed /versions line: ${line}`);
    const l = byName.get(name) ?? [];
    byName.set(name, l);
    l.push({ tokens, md5: sum });
  }
  const infos = await inBatches(
    16,
    [...byName.keys()].map((n) => () => getFile(node, `/info/${n}`)),
  );
  let checked = 0;
  [...byName].forEach(([name, lines], i) => {
    const info = infos[i]!;
    assert.equal(info.status, 200, `/info/${name} on ${node.url}`);
    assert.equal(lines.at(-1)!.md5, md5(info.body), `last /versions line of ${name} vs /info/${name}`);
    if (!opts.pushesOnly) {
      checked++;
      return;
    }
    // Pushes only, from an empty catalog: line j was appended when /info held the first j versions.
    const infoLines = info.body.toString('utf8').split('\n').slice(1, -1);
    assert.equal(lines.length, infoLines.length, `/versions lines of ${name} vs versions in /info/${name}`);
    lines.forEach((l, j) => {
      const then = `---\n${infoLines
        .slice(0, j + 1)
        .map((x) => `${x}\n`)
        .join('')}`;
      assert.equal(l.tokens, infoLines[j]!.split(' ')[0], `/versions line ${j + 1} of ${name}: version`);
      assert.equal(l.md5, md5(then), `/versions line ${j + 1} of ${name}: MD5 of /info as it was then`);
      checked++;
    });
  });
  return checked;
}
