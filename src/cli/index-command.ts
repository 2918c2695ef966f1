/** `quarry index DIR [--update]` */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { clockFromEnv } from '../config/clock.ts';
import { progressFor } from './progress.ts';

export function registerIndex(program: Command): void {
  program
    .command('index')
    .description(
      'write a static gem source (compact index, legacy Marshal indexes, quick specs) for DIR/gems/*.gem into DIR',
    )
    .argument('<dir>', 'repository folder holding a gems/ subfolder')
    .option('--update', 'incremental: append new and removed gems to the existing index')
    .option('--info-created-at', 'add the compact index v2 created_at: key to info lines')
    .option('--json', 'print the summary as JSON')
    .action(async (dir: string, opts: { update?: boolean; infoCreatedAt?: boolean; json?: boolean }) => {
      const started = performance.now();
      const progress = progressFor(process.stderr);
      const { buildStaticIndex } = await import('../services/static-index.ts');
      const result = await buildStaticIndex({
        dir: resolve(dir),
        update: opts.update === true,
        now: clockFromEnv(process.env),
        info: { createdAt: opts.infoCreatedAt === true },
        onProgress: (phase, done, total) => progress.update(phase, done, total),
      });
      progress.done();
      const ms = Math.round(performance.now() - started);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...result, ms })}\n`);
        return;
      }
      const how =
        result.mode === 'update'
          ? `updated: +${result.added} -${result.removed}`
          : `full build${result.fullReason ? ` (${result.fullReason})` : ''}`;
      process.stdout.write(
        `quarry index: ${how}; ${result.gems} gems, ${result.names} names; ${result.written} files written, ${result.deleted} removed in ${ms} ms\n`,
      );
    });
}
