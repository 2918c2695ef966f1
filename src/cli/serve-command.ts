/** `quarry serve`: the gem server on embedded defaults (port 9292, SQLite and files under ./quarry-data). */
import cluster from 'node:cluster';
import type { Command } from 'commander';
import { clockFromEnv } from '../config/clock.ts';
import type { Config } from '../config/schema.ts';
import { QuarryError } from '../errors.ts';
import type { CommonOptions } from './common.ts';
import { configFrom, withCommon } from './common.ts';

interface ServeOptions extends CommonOptions {
  port?: string;
  host?: string;
  workers?: string;
  testHooks?: boolean;
}

const number = (flag: string, v: string): number => {
  if (!/^\d+$/.test(v)) throw new QuarryError('config', `${flag} must be a number, not "${v}"`);
  return Number(v);
};

/** One server process: compose, listen, and close gracefully on SIGTERM/SIGINT. */
async function runServer(config: Config): Promise<void> {
  // Loaded on use, so other verbs start without the server stack.
  const { composeServer } = await import('../compose.ts');
  const { app } = await composeServer(config, clockFromEnv(process.env));
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
  const fork = () => {
    const w = cluster.fork();
    w.on('message', (m: { listening?: string }) => {
      if (m.listening && !announced) {
        announced = true;
        process.stdout.write(
          `${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, msg: 'quarry listening', address: m.listening, data: config.data, workers: config.workers })}\n`,
        );
      }
    });
  };
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (w, code, signal) => {
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
    .option('--test-hooks', 'enable POST /set_time and /rebuild_versions_list (conformance tests only)')
    .action(async (opts: ServeOptions) => {
      const flags: Record<string, unknown> = {};
      if (opts.port !== undefined) flags['port'] = number('--port', opts.port);
      if (opts.workers !== undefined) flags['workers'] = number('--workers', opts.workers);
      if (opts.host !== undefined) flags['host'] = opts.host;
      if (opts.testHooks) flags['testing'] = { hooks: true };
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
