/** `quarry publish s3://BUCKET[/PREFIX] [--from DIR] [--dry-run] [--json]` */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { BlobStore } from '../blobs/types.ts';
import { clockFromEnv } from '../config/clock.ts';
import type { Config } from '../config/schema.ts';
import { QuarryError } from '../errors.ts';
import type { PublishResult } from '../services/publish.ts';
import type { PublishSource } from '../services/publish-sources.ts';
import type { CommonOptions } from './common.ts';
import { configFrom, withCommon } from './common.ts';
import { progressFor } from './progress.ts';

interface PublishFlags extends CommonOptions {
  from?: string;
  dryRun?: boolean;
  json?: boolean;
  allowEmpty?: boolean;
  concurrency?: number;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
}

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new InvalidArgumentError('must be a whole number from 1 to 256');
  return n;
};

const bytes = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 * 1024
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${(n / 1024 / 1024).toFixed(1)} MiB`;

async function targetStore(url: string, config: Config, flags: PublishFlags): Promise<BlobStore> {
  const { blobStoreFromUrl, parseStorageUrl } = await import('../blobs/from-url.ts');
  const where = parseStorageUrl(url);
  if (where.kind === 'memory')
    throw new QuarryError('config', 'publishing to memory: would write nothing anyone can read');
  return blobStoreFromUrl(url, {
    dataDir: resolve(config.data),
    s3: {
      region: flags.region ?? config.s3.region,
      endpoint: flags.endpoint ?? config.s3.endpoint,
      forcePathStyle: flags.forcePathStyle ?? config.s3.force_path_style,
    },
  });
}

function printText(out: NodeJS.WritableStream, url: string, r: PublishResult, ms: number): void {
  if (r.dryRun) {
    for (const u of r.uploads) out.write(`would upload ${u.key} (${bytes(u.size)}, ${u.reason})\n`);
    if (r.stateWritten) out.write('would upload quarry/state.json.gz\n');
    for (const k of r.deletes) out.write(`would delete ${k}\n`);
  }
  const how =
    r.mode === 'update'
      ? `update +${r.added} -${r.removed}`
      : `full build${r.fullReason ? ` (${r.fullReason})` : ''}`;
  const verb = r.dryRun ? 'dry run, would have' : '';
  out.write(
    `quarry publish ${url}: ${how}; ${r.gems} gems, ${r.names} names; ${verb}${verb ? ' ' : ''}uploaded ${r.uploads.length} (${bytes(r.uploadedBytes)}), unchanged ${r.unchanged}, deleted ${r.deletes.length} in ${ms} ms\n`,
  );
}

export function registerPublish(program: Command): void {
  withCommon(
    program
      .command('publish')
      .description(
        'write a complete static gem source (gems, quick specs, legacy indexes, info/*, names, versions) to a bucket, uploading only what changed',
      )
      .argument('<url>', 'where to publish: s3://BUCKET[/PREFIX] (or a folder)')
      .option('--from <dir>', 'publish the .gem files in DIR/gems instead of the server catalog')
      .option('--dry-run', 'print what would be uploaded and deleted; change nothing')
      .option('--json', 'print the result as JSON')
      .option('--allow-empty', 'allow a source without gems to delete every published gem')
      .option('--concurrency <n>', 'requests in flight at once (default 8)', positiveInt)
      .option('--region <region>', 'S3 region (default: s3.region, then the AWS environment or profile)')
      .option('--endpoint <url>', 'S3-compatible endpoint (default: s3.endpoint)')
      .option('--force-path-style', 'address the bucket in the path (most S3-compatible stores)'),
  ).action(async (url: string, flags: PublishFlags) => {
    const started = performance.now();
    const config = await configFrom(flags);
    const target = await targetStore(url, config, flags);
    // Loaded on use, so other verbs start without them.
    const { catalogSource, folderSource } = await import('../services/publish-sources.ts');
    const { publish } = await import('../services/publish.ts');
    let source: PublishSource;
    let close = async (): Promise<void> => {};
    if (flags.from !== undefined) {
      source = folderSource(resolve(flags.from));
    } else {
      const dataDir = resolve(config.data);
      if (config.catalog === null && !existsSync(join(dataDir, 'catalog.sqlite3'))) {
        throw new QuarryError(
          'not_found',
          `no Quarry catalog in ${dataDir}: pass --data (or --config) for a server's data, or --from DIR to publish a folder of gems`,
        );
      }
      const { composeServices } = await import('../compose.ts');
      const services = await composeServices(config, clockFromEnv(process.env), { metricsDefaults: false });
      source = catalogSource(`the catalog in ${dataDir}`, services.catalog, services.blobs);
      close = () => services.close();
    }
    const progress = progressFor(process.stderr);
    let result: PublishResult;
    try {
      result = await publish({
        target,
        source,
        now: clockFromEnv(process.env),
        dryRun: flags.dryRun === true,
        allowEmpty: flags.allowEmpty === true,
        ...(flags.concurrency !== undefined && { concurrency: flags.concurrency }),
        onProgress: (phase, done, total) => progress.update(phase, done, total),
      });
    } finally {
      progress.done();
      await close();
      (target as { destroy?: () => void }).destroy?.();
    }
    const ms = Math.round(performance.now() - started);
    if (flags.json) process.stdout.write(`${JSON.stringify({ ...result, ms })}\n`);
    else printText(process.stdout, url, result, ms);
  });
}
