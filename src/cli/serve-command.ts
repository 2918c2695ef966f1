/** `quarry serve`: the gem server on embedded defaults (port 9292, SQLite and files under ./quarry-data). */
import type { Command } from 'commander';
import { clockFromEnv } from '../config/clock.ts';
import { QuarryError } from '../errors.ts';
import type { CommonOptions } from './common.ts';
import { configFrom, withCommon } from './common.ts';

interface ServeOptions extends CommonOptions {
  port?: string;
  host?: string;
  testHooks?: boolean;
}

export function registerServe(program: Command): void {
  withCommon(program.command('serve'))
    .description('run the gem server')
    .option('--port <port>', 'TCP port (default 9292)')
    .option('--host <host>', 'interface to listen on (default 0.0.0.0)')
    .option('--test-hooks', 'enable POST /set_time and /rebuild_versions_list (conformance tests only)')
    .action(async (opts: ServeOptions) => {
      const flags: Record<string, unknown> = {};
      if (opts.port !== undefined) {
        if (!/^\d+$/.test(opts.port))
          throw new QuarryError('config', `--port must be a number, not "${opts.port}"`);
        flags['port'] = Number(opts.port);
      }
      if (opts.host !== undefined) flags['host'] = opts.host;
      if (opts.testHooks) flags['testing'] = { hooks: true };
      const config = configFrom(opts, flags);
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
      app.log.info({ address, data: config.data }, 'quarry listening');
    });
}
