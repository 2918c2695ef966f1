/**
 * Download counts under `quarry serve --workers 2`: several clients download .gem files at once, on
 * fresh and keep-alive connections, mixed with HEADs and conditional GETs (not downloads). Each worker
 * counts its own and flushes them (every downloads.flush_ms, and at SIGTERM); the sums are exact
 * after a graceful stop, whether the counts went in many racing flushes or in the last one alone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, pushTo } from '../support/cluster.ts';
import { makeGem } from '../support/make-gem.ts';
import type { QuarryServer } from '../support/server.ts';
import { createKey, startQuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 120_000 };

const GEMS = [
  { file: 'alpha-1.0.0', gem: makeGem({ name: 'alpha', version: '1.0.0' }) },
  { file: 'alpha-2.0.0', gem: makeGem({ name: 'alpha', version: '2.0.0' }) },
  { file: 'beta-0.1.0', gem: makeGem({ name: 'beta', version: '0.1.0' }) },
];

/** One request; `agent` false: a connection of its own, which the cluster may give to either worker. */
function send(
  url: string,
  method: string,
  agent: http.Agent | false,
  headers: Record<string, string> = {},
): Promise<{ status: number; bytes: number; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, bytes, etag: res.headers.etag as string | undefined }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Downloads of one client: `rounds` times each gem, on its own keep-alive pool or fresh connections. */
async function client(
  server: QuarryServer,
  n: number,
  rounds: number,
): Promise<{ counted: Map<string, number>; extra: number }> {
  const agent = n % 2 === 0 ? new http.Agent({ keepAlive: true, maxSockets: 2 }) : false;
  const counted = new Map<string, number>();
  let extra = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      const { file, gem } = GEMS[(n + r) % GEMS.length]!;
      const url = `${server.url}/gems/${file}.gem`;
      const got = await send(url, 'GET', agent);
      assert.equal(got.status, 200);
      assert.equal(got.bytes, gem.length);
      counted.set(file, (counted.get(file) ?? 0) + 1);
      // Not downloads: a HEAD, and a GET for a file the client already holds.
      if (r % 4 === 0) {
        assert.equal((await send(url, 'HEAD', agent)).status, 200);
        assert.equal((await send(url, 'GET', agent, { 'if-none-match': got.etag! })).status, 304);
        extra += 2;
      }
    }
  } finally {
    if (agent) agent.destroy();
  }
  return { counted, extra };
}

async function bothWorkersListen(server: QuarryServer): Promise<void> {
  await eventually(30_000, async () => {
    const body = await (await server.fetch('/metrics', { headers: { connection: 'close' } })).text();
    assert.match(body, /^quarry_cluster_workers 2$/m, 'both workers listen');
  });
}

describe('download counts with --workers 2', () => {
  let root: string;
  const servers: QuarryServer[] = [];
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'quarry-downloads-'));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop().catch(() => s.kill())));
    rmSync(root, { recursive: true, force: true });
  });

  const run = async (name: string, flushMs: number) => {
    const data = join(root, `data-${name}`);
    const config = join(root, `${name}.yaml`);
    writeFileSync(config, `workers: 2\ndownloads:\n  flush_ms: ${flushMs}\n`);
    const key = createKey(data, ['push']);
    const server = await startQuarryServer({ data, config });
    servers.push(server);
    await bothWorkersListen(server);
    for (const { gem } of GEMS) assert.equal((await pushTo(server, key, gem)).status, 200);

    const clients = await Promise.all(Array.from({ length: 6 }, (_, n) => client(server, n, 40 + n)));
    const expected = new Map<string, number>();
    for (const c of clients) for (const [f, k] of c.counted) expected.set(f, (expected.get(f) ?? 0) + k);
    assert.equal(
      [...expected.values()].reduce((a, b) => a + b, 0),
      6 * 40 + 15,
    );

    await server.flushLog();
    const pids = new Set(
      server.logs
        .filter((l) => l['msg'] === 'request' && String(l['url']).endsWith('.gem') && l['status'] === 200)
        .map((l) => l['pid']),
    );
    assert.equal(pids.size, 2, `both workers served downloads (pids ${[...pids].join(', ')})`);

    const stopped = await server.stop('SIGTERM');
    assert.deepEqual(stopped, { code: 0, signal: null }, server.stderr());

    // A fresh single process reads what the two wrote.
    const check = await startQuarryServer({ data });
    servers.push(check);
    try {
      for (const name of ['alpha', 'beta']) {
        const versions = (await (await check.fetch(`/api/v1/versions/${name}.json`)).json()) as {
          number: string;
          downloads_count: number;
        }[];
        for (const v of versions)
          assert.equal(v.downloads_count, expected.get(`${name}-${v.number}`), `${name} ${v.number}`);
        const gem = (await (await check.fetch(`/api/v1/gems/${name}.json`)).json()) as { downloads: number };
        const total = [...expected].filter(([f]) => f.startsWith(`${name}-`)).reduce((a, [, k]) => a + k, 0);
        assert.equal(gem.downloads, total, `${name} in all`);
      }
    } finally {
      await check.stop();
    }
  };

  test('counts are exact when the workers flush often, racing each other and the clients', TIMEOUT, () =>
    run('often', 20),
  );

  test('counts are exact when the graceful stop writes them all', TIMEOUT, () => run('at-stop', 3_600_000));
});
