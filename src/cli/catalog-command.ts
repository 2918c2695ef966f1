/** `quarry catalog copy --to postgres://…`: the configured catalog into an empty PostgreSQL database. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseCatalogUrl } from '../catalog/open.ts';
import { clockFromEnv } from '../config/clock.ts';
import { QuarryError } from '../errors.ts';
import type { CommonOptions } from './common.ts';
import { configFrom, withCommon } from './common.ts';

/** The URL with its password replaced by ***. */
const redact = (url: string): string => url.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');

export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('move or inspect the catalog');
  withCommon(catalog.command('copy'))
    .description(
      'copy the configured catalog (by default the embedded SQLite one) into an empty PostgreSQL database; ' +
        'then point every node at it with catalog: (or QUARRY_CATALOG)',
    )
    .requiredOption('--to <url>', 'the target: postgres://USER[:PASSWORD]@HOST:PORT/DB, an empty database')
    .option('--json', 'print the counts as JSON')
    .action(async (opts: CommonOptions & { to: string; json?: boolean }) => {
      const to = parseCatalogUrl(opts.to);
      if (to.kind !== 'postgres') {
        throw new QuarryError(
          'bad_request',
          `--to must be a postgres:// URL, not ${JSON.stringify(opts.to)}`,
        );
      }
      const config = await configFrom(opts);
      const fromUrl = config.catalog ?? `sqlite:${join(resolve(config.data), 'catalog.sqlite3')}`;
      const from = parseCatalogUrl(fromUrl);
      if (from.kind === 'sqlite' && !existsSync(from.file)) {
        throw new QuarryError(
          'not_found',
          `there is no catalog to copy at ${from.file} (see --data, --config)`,
        );
      }
      if (from.kind === 'postgres' && from.url === to.url) {
        throw new QuarryError('bad_request', 'the configured catalog and --to are the same database');
      }
      const now = clockFromEnv(process.env);
      const info = { createdAt: config.index.info_created_at };
      const [{ openCatalog }, { copyCatalog }] = await Promise.all([
        import('../catalog/open.ts'),
        import('../catalog/copy.ts'),
      ]);
      const source = await openCatalog(fromUrl, now, info);
      try {
        // Opening the target applies the migrations, so the copy lands in the current schema.
        const target = await openCatalog(to.url, now, info);
        try {
          const counts = await copyCatalog(source, target, {
            targetLabel: `the catalog at ${redact(to.url)}`,
          });
          if (opts.json) {
            process.stdout.write(
              `${JSON.stringify({ from: redact(fromUrl), to: redact(to.url), ...counts })}\n`,
            );
            return;
          }
          process.stdout.write(
            [
              `copied ${redact(fromUrl)} to ${redact(to.url)}:`,
              `  gems          ${counts.gems}`,
              `  versions      ${counts.versions} (${counts.yanked} yanked)`,
              `  versions log  ${counts.versionsLog}`,
              `  api keys      ${counts.apiKeys}`,
              `  mirror marks  ${counts.mirrorMarks}`,
              `  meta          ${counts.meta}`,
              `point every node at it: catalog: ${redact(to.url)} in quarry.yaml, or QUARRY_CATALOG`,
              '',
            ].join('\n'),
          );
        } finally {
          await target.close();
        }
      } finally {
        await source.close();
      }
    });
}
