/** `quarry serve`: the gem server on embedded defaults (port 9292, SQLite and files under ./quarry-data). */
import type { Worker } from 'node:cluster';
import cluster from 'node:cluster';
import type { Command } from 'commander';
import { clockFromEnv } from '../config/clock.ts';
import type { Config } from '../config/schema.ts';
import { QuarryError } from '../errors.ts';
import type { Metrics, MetricsSnapshot, Scrape } from '../services/metrics.ts';
import type { CommonOptions } from './common.ts';
import { boundHeapGrowth, configFrom, upstreamFromFlag, withCommon } from './common.ts';

interface ServeOptions extends CommonOptions {
  upstream?: string;
  offline?: boolean;
  port?: string;
  host?: string;
  workers?: string;
  testHooks?: boolean;
}

const number = (flag: string, v: string): number => {
  if (!/^\d+$/.test(v)) throw new QuarryError('config', `${flag} must be a number, not "${v}"`);
  return Number(v);
};

/**
 * Metrics across workers. Each worker counts only the requests it answered, so under --workers N the
 * worker that is asked GET /metrics asks the primary, which collects every ready worker's metrics
 * (as data) and sums them. Messages over the cluster IPC channel:
 *   worker -> primary  { quarry: 'metrics?', id }                 a scrape
 *   primary -> worker  { quarry: 'metrics:collect', round }       to every ready worker
 *   worker -> primary  { quarry: 'metrics:report', round, metrics | error }
 *   primary -> worker  { quarry: 'metrics!', id, scrape | error } the answer to the scrape
 */
type ClusterMessage =
  | { listening: string; quarry?: undefined }
  | { quarry: 'metrics?'; id: number }
  | { quarry: 'metrics:collect'; round: number }
  | { quarry: 'metrics:report'; round: number; metrics?: MetricsSnapshot; error?: string }
  | { quarry: 'metrics!'; id: number; scrape?: Scrape; error?: string };

/** How long the primary waits for every worker's report. */
const COLLECT_DEADLINE_MS = 2_000;
/** How long a worker waits for the primary's answer (longer, so the primary's error arrives first). */
const SCRAPE_DEADLINE_MS = 5_000;

/** In a worker: answer the primary's collections, and scrape through the primary. */
function workerMetrics(metrics: Metrics): void {
  let nextId = 0;
  const waiting = new Map<number, { resolve: (s: Scrape) => void; reject: (e: Error) => void }>();
  process.on('message', (m: ClusterMessage) => {
    if (m.quarry === 'metrics:collect') {
      metrics.snapshot().then(
        (snapshot) => process.send?.({ quarry: 'metrics:report', round: m.round, metrics: snapshot }),
        (e: Error) => process.send?.({ quarry: 'metrics:report', round: m.round, error: e.message }),
      );
    } else if (m.quarry === 'metrics!') {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (!w) return;
      if (m.scrape) w.resolve(m.scrape);
      else w.reject(new Error(m.error ?? 'no answer from the primary'));
    }
  });
  metrics.useScraper(
    () =>
      new Promise<Scrape>((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`the primary did not answer within ${SCRAPE_DEADLINE_MS} ms`));
        }, SCRAPE_DEADLINE_MS);
        waiting.set(id, {
          resolve: (s) => {
            clearTimeout(timer);
            resolve(s);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        process.send?.({ quarry: 'metrics?', id });
      }),
  );
}

/** In the primary: gathers every ready worker's metrics, with a deadline, and sums them. */
class MetricsGatherer {
  private round = 0;
  private readonly rounds = new Map<
    number,
    { wanted: Set<Worker>; got: MetricsSnapshot[]; done: (error: string | null) => void }
  >();

  constructor(private readonly ready: () => Iterable<Worker>) {}

  /** The answer to a worker's `metrics?`. */
  async answer(from: Worker, id: number): Promise<void> {
    let reply: ClusterMessage;
    try {
      const { aggregateMetrics } = await import('../services/metrics.ts');
      reply = { quarry: 'metrics!', id, scrape: await aggregateMetrics(await this.collect()) };
    } catch (e) {
      reply = { quarry: 'metrics!', id, error: (e as Error).message };
    }
    if (from.isConnected()) from.send(reply);
  }

  private collect(): Promise<MetricsSnapshot[]> {
    const round = ++this.round;
    const wanted = new Set(this.ready());
    const got: MetricsSnapshot[] = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = [...wanted].map((w) => w.process.pid).join(', ');
        done(`worker ${late} did not report its metrics within ${COLLECT_DEADLINE_MS} ms`);
      }, COLLECT_DEADLINE_MS);
      const done = (error: string | null) => {
        clearTimeout(timer);
        this.rounds.delete(round);
        if (error) reject(new Error(error));
        else resolve(got);
      };
      this.rounds.set(round, { wanted, got, done });
      if (wanted.size === 0) done(null);
      else for (const w of wanted) w.send({ quarry: 'metrics:collect', round } satisfies ClusterMessage);
    });
  }

  /** A worker's report for a round. */
  report(from: Worker, m: Extract<ClusterMessage, { quarry: 'metrics:report' }>): void {
    const r = this.rounds.get(m.round);
    if (!r?.wanted.delete(from)) return;
    if (m.error !== undefined || !m.metrics) r.done(`worker ${from.process.pid}: ${m.error}`);
    else {
      r.got.push(m.metrics);
      if (r.wanted.size === 0) r.done(null);
    }
  }

  /** A worker exited: rounds stop waiting for it (what it counted is gone with it). */
  gone(w: Worker): void {
    for (const r of this.rounds.values()) if (r.wanted.delete(w) && r.wanted.size === 0) r.done(null);
  }
}

/** One server process: compose, listen, and close gracefully on SIGTERM/SIGINT. */
async function runServer(config: Config): Promise<void> {
  boundHeapGrowth();
  // Loaded on use, so other verbs start without the server stack.
  const { composeServer } = await import('../compose.ts');
  const { app, services } = await composeServer(config, clockFromEnv(process.env), process.env);
  if (cluster.isWorker) workerMetrics(services.metrics);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  const address = await app.listen({ port: config.port, host: config.host });
  if (cluster.isPrimary) app.log.info({ address, data: config.data }, 'quarry listening');
  else process.send?.({ listening: address });
}

/**
 * Several worker processes sharing one port (node:cluster). The primary prepares the catalog
 * (migrations) once, forks the workers, restarts one that dies, and stops them all on SIGTERM.
 */
async function runPrimary(config: Config): Promise<void> {
  const { composeServices } = await import('../compose.ts');
  await (await composeServices(config, clockFromEnv(process.env), { metricsDefaults: false })).close();
  let closing = false;
  let announced = false;
  // Structured clone: metric values such as NaN survive the trip.
  cluster.setupPrimary({ serialization: 'advanced' });
  /** Workers that listen (and so answer metrics collections). */
  const ready = new Set<Worker>();
  const gatherer = new MetricsGatherer(() => ready);
  const fork = () => {
    const w = cluster.fork();
    w.on('message', (m: ClusterMessage) => {
      if (m.quarry === 'metrics?') void gatherer.answer(w, m.id);
      else if (m.quarry === 'metrics:report') gatherer.report(w, m);
      else if (m.quarry === undefined && m.listening) {
        ready.add(w);
        if (announced) return;
        announced = true;
        process.stdout.write(
          `${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, msg: 'quarry listening', address: m.listening, data: config.data, workers: config.workers })}\n`,
        );
      }
    });
  };
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    ready.delete(w);
    gatherer.gone(w);
    if (closing) return;
    process.stderr.write(`quarry: worker ${w.process.pid} exited (${signal ?? code}); starting another\n`);
    fork();
  });
  const shutdown = () => {
    if (closing) return;
    closing = true;
    const workers = Object.values(cluster.workers ?? {});
    let left = workers.length;
    if (left === 0) process.exit(0);
    for (const w of workers) {
      w?.once('exit', () => {
        if (--left === 0) process.exit(0);
      });
      w?.process.kill('SIGTERM');
    }
    setTimeout(() => process.exit(1), 15_000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

export function registerServe(program: Command): void {
  withCommon(program.command('serve'))
    .description('run the gem server')
    .option('--port <port>', 'TCP port (default 9292)')
    .option('--host <host>', 'interface to listen on (default 0.0.0.0)')
    .option('--workers <n>', 'server processes sharing the port (default 1)')
    .option('--upstream <url>', 'proxy and cache this gem source (replaces the configured upstreams)')
    .option('--offline', 'answer from the cache alone; never contact an upstream')
    .option('--test-hooks', 'enable POST /set_time and /rebuild_versions_list (conformance tests only)')
    .action(async (opts: ServeOptions) => {
      const flags: Record<string, unknown> = {};
      if (opts.port !== undefined) flags['port'] = number('--port', opts.port);
      if (opts.workers !== undefined) flags['workers'] = number('--workers', opts.workers);
      if (opts.host !== undefined) flags['host'] = opts.host;
      if (opts.testHooks) flags['testing'] = { hooks: true };
      if (opts.offline) flags['offline'] = true;
      if (opts.upstream !== undefined) flags['upstreams'] = [upstreamFromFlag(opts.upstream)];
      const config = await configFrom(opts, flags);
      if (config.workers > 1 && config.testing.hooks) {
        throw new QuarryError(
          'config',
          'testing.hooks needs workers: 1 (the test clock lives in one process)',
        );
      }
      if (config.workers > 1 && cluster.isPrimary) await runPrimary(config);
      else await runServer(config);
    });
}
