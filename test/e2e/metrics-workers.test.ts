/**
 * GET /metrics reports the whole server: under `quarry serve --workers 2` the worker that answers
 * asks the primary, which sums every worker's metrics. Requests are sent on fresh connections, so
 * the primary spreads them (and the scrapes) over both workers; every scrape, whichever worker
 * answers it, must count every request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, inBatches } from '../support/cluster.ts';
import type { QuarryServer } from '../support/server.ts';
import { startQuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 60_000 };

/** GET on a new connection (no keep-alive), so that the cluster may hand it to any worker. */
function getFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The value of one sample in a Prometheus exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (want.every((w) => have.includes(w))) total += Number(m[3]);
  }
  return total;
}

/** The PIDs of the processes that logged a request line for path. */
const answeredBy = (server: QuarryServer, path: string) =>
  new Set(server.logs.filter((l) => l['msg'] === 'request' && l['url'] === path).map((l) => l['pid']));

async function startWith(root: string, workers: number): Promise<QuarryServer> {
  const config = join(root, `workers-${workers}.yaml`);
  writeFileSync(config, `workers: ${workers}\n`);
  return startQuarryServer({ data: join(root, `data-${workers}`), config });
}

describe('GET /metrics', () => {
  let root: string;
  const servers: QuarryServer[] = [];
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'quarry-metrics-'));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop().catch(() => s.kill())));
    rmSync(root, { recursive: true, force: true });
  });

  test('with --workers 2 counts every request, whichever worker answers', TIMEOUT, async () => {
    const server = await startWith(root, 2);
    servers.push(server);
    // The server says it listens once its first worker does; the primary counts a worker in a scrape
    // once it listens too, so wait for both before sending requests.
    await eventually(30_000, async () => {
      const r = await getFresh(`${server.url}/metrics`);
      assert.equal(sample(r.body, 'quarry_cluster_workers'), 2, 'both workers listen');
    });
    const N = 300;
    const answers = await inBatches(
      16,
      Array.from(
        { length: N },
        (_, i) => () => getFresh(`${server.url}${i % 3 === 0 ? '/info/no-such-gem' : '/versions'}`),
      ),
    );
    const notFound = answers.filter((a) => a.status === 404).length;
    assert.equal(notFound, N / 3);
    assert.equal(answers.filter((a) => a.status === 200).length, N - N / 3);
    await server.flushLog();
    const workers = answeredBy(server, '/versions');
    assert.equal(workers.size, 2, `both workers answered requests (pids ${[...workers].join(', ')})`);

    for (let i = 0; i < 6; i++) {
      const r = await getFresh(`${server.url}/metrics`);
      assert.equal(r.status, 200, r.body);
      assert.equal(sample(r.body, 'quarry_cluster_workers'), 2, 'both workers reported');
      const versions = sample(r.body, 'quarry_http_requests_total', { route: '/versions', status: '200' });
      const info = sample(r.body, 'quarry_http_requests_total', { route: '/info/:name', status: '404' });
      assert.equal(versions + info, N, `scrape ${i}: requests counted\n${r.body}`);
      assert.equal(info, N / 3, `scrape ${i}: 404s counted`);
      assert.equal(
        sample(r.body, 'quarry_http_request_duration_seconds_count', { route: '/versions' }),
        N - N / 3,
        'the latency histogram sums too',
      );
    }
    await server.flushLog();
    const scrapers = answeredBy(server, '/metrics');
    assert.equal(scrapers.size, 2, `both workers answered /metrics (pids ${[...scrapers].join(', ')})`);
  });

  test('with one process answers its own metrics, as before', TIMEOUT, async () => {
    const server = await startWith(root, 1);
    servers.push(server);
    await inBatches(
      8,
      Array.from({ length: 50 }, () => () => getFresh(`${server.url}/versions`)),
    );
    const r = await getFresh(`${server.url}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(sample(r.body, 'quarry_http_requests_total', { route: '/versions' }), 50);
    assert.ok(!r.body.includes('quarry_cluster_workers'), 'no cluster gauge in a single process');
    assert.ok(r.body.includes('quarry_process_cpu_user_seconds_total'), 'default process metrics');
  });
});
