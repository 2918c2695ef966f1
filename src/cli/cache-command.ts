/** `quarry cache list | prune --older-than 30d`: the .gem files cached from upstreams. */
import type { Command } from 'commander';
import { clockFromEnv } from '../config/clock.ts';
import { parseAge, pruneCachedGems } from '../services/upstream-cache-admin.ts';
import type { CommonOptions } from './common.ts';
import { configFrom, withCommon } from './common.ts';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function withServices<T>(
  opts: CommonOptions,
  fn: (s: Awaited<ReturnType<typeof import('../compose.ts')['composeServices']>>) => Promise<T>,
): Promise<T> {
  const { composeServices } = await import('../compose.ts');
  const s = await composeServices(await configFrom(opts), clockFromEnv(process.env), {
    metricsDefaults: false,
  });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export function registerCache(program: Command): void {
  const cache = program.command('cache').description('the .gem files cached from upstreams');
  withCommon(cache.command('list'))
    .description('list cached upstream gems, oldest fetch first')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOptions & { json?: boolean }) => {
      await withServices(opts, async (s) => {
        const list = await s.catalog.listCachedGems();
        if (opts.json) {
          print(JSON.stringify(list));
          return;
        }
        for (const g of list) print(`${g.upstream}\t${g.file}.gem\t${g.size}\t${g.fetchedAt}\t${g.sha256}`);
        const bytes = list.reduce((n, g) => n + g.size, 0);
        process.stderr.write(`${list.length} cached gem${list.length === 1 ? '' : 's'}, ${bytes} bytes\n`);
      });
    });
  withCommon(cache.command('prune'))
    .description('forget cached upstream gems fetched longer ago than --older-than, and free their bytes')
    .requiredOption('--older-than <age>', 'like 30d, 12h or 45m')
    .option('--upstream <name>', 'only this upstream')
    .option('--dry-run', 'say what would go, change nothing')
    .option('--json', 'print JSON')
    .action(
      async (
        opts: CommonOptions & { olderThan: string; upstream?: string; dryRun?: boolean; json?: boolean },
      ) => {
        const age = parseAge(opts.olderThan);
        await withServices(opts, async (s) => {
          const before = new Date(s.clock.now().getTime() - age);
          const r = await pruneCachedGems(s.catalog, s.blobs, before, {
            dryRun: opts.dryRun === true,
            ...(opts.upstream !== undefined ? { upstream: opts.upstream } : {}),
          });
          if (opts.json) {
            print(
              JSON.stringify({
                dryRun: opts.dryRun === true,
                forgotten: r.forgotten.map((g) => `${g.upstream}/${g.file}`),
                removedBlobs: r.removedBlobs,
                freedBytes: r.freedBytes,
              }),
            );
            return;
          }
          for (const g of r.forgotten)
            print(`${opts.dryRun ? 'would forget' : 'forgot'} ${g.upstream}/${g.file}.gem`);
          print(
            `${opts.dryRun ? 'would free' : 'freed'} ${r.freedBytes} bytes in ${r.removedBlobs} blob${r.removedBlobs === 1 ? '' : 's'} (${r.forgotten.length} cached gem${r.forgotten.length === 1 ? '' : 's'})`,
          );
        });
      },
    );
}
