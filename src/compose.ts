/**
 * The composition root: config -> drivers -> services -> http. The only module that knows which
 * drivers exist.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { blobStoreFromUrl } from './blobs/from-url.ts';
import type { BlobStore } from './blobs/types.ts';
import { openCatalog } from './catalog/open.ts';
import type { Config } from './config/schema.ts';
import { QuarryError } from './errors.ts';
import type { AppDeps } from './http/app.ts';
import { DownloadCounter } from './services/downloads.ts';
import { GemBodies } from './services/gem-bodies.ts';
import { GemReaderPool } from './services/gem-reader-pool.ts';
import { GemService } from './services/gems.ts';
import { IndexView } from './services/index-view.ts';
import { KeyService } from './services/keys.ts';
import { MergedIndex } from './services/merged-index.ts';
import { Metrics } from './services/metrics.ts';
import { Mirror } from './services/mirror.ts';
import { UpstreamSource } from './services/upstream-source.ts';
import { UpstreamClient } from './upstream/client.ts';
import { then } from './util/maybe.ts';

/** Bumped when the data directory's layout changes incompatibly. */
export const DATA_LAYOUT = 1;

/** A clock that tests (POST /set_time) may move; production code only reads it. */
export class SettableClock {
  private offset = 0;
  constructor(private readonly base: () => Date) {}
  readonly now = (): Date => new Date(this.base().getTime() + this.offset);
  set(at: Date): void {
    this.offset = at.getTime() - this.base().getTime();
  }
}

export interface Services extends AppDeps {
  blobs: BlobStore;
  clock: SettableClock;
  upstreams: UpstreamSource[];
  /** Where the proxy logs upstream trouble (the server's logger). */
  setLogger(fn: (msg: string, detail: Record<string, unknown>) => void): void;
  close(): Promise<void>;
}

function checkLayout(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  const marker = join(dataDir, 'quarry-layout.json');
  let found: { layout?: number } | null = null;
  try {
    found = JSON.parse(readFileSync(marker, 'utf8')) as { layout?: number };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new QuarryError('config', `${marker} is unreadable: ${(e as Error).message}`);
    }
  }
  if (found === null) {
    writeFileSync(marker, `${JSON.stringify({ layout: DATA_LAYOUT })}\n`);
  } else if (found.layout !== DATA_LAYOUT) {
    throw new QuarryError(
      'config',
      `data directory ${dataDir} has layout ${found.layout}; this Quarry uses layout ${DATA_LAYOUT}`,
    );
  }
}

export async function composeServices(
  config: Config,
  baseClock: () => Date,
  options: {
    metricsDefaults?: boolean;
    /** The environment, for upstream credentials (BUNDLE_<HOST>). */
    env?: Readonly<Record<string, string | undefined>>;
  } = {},
): Promise<Services> {
  const dataDir = resolve(config.data);
  checkLayout(dataDir);
  const clock = new SettableClock(baseClock);
  const blobs = await blobStoreFromUrl(config.storage, {
    dataDir,
    s3: {
      region: config.s3.region,
      endpoint: config.s3.endpoint,
      forcePathStyle: config.s3.force_path_style,
    },
  });
  const info = { createdAt: config.index.info_created_at };
  const catalog = await openCatalog(
    config.catalog ?? `sqlite:${join(dataDir, 'catalog.sqlite3')}`,
    clock.now,
    info,
  );
  const index = new IndexView(catalog, info, clock.now, config.index.refresh_ms);
  const gemBodies = new GemBodies(blobs, config.cache.gem_bytes);
  const metrics = new Metrics(options.metricsDefaults ?? true);
  const readers = new GemReaderPool();
  const gems = new GemService({
    catalog,
    blobs,
    now: clock.now,
    read: (bytes) => readers.read(bytes),
    onChange: () => index.invalidate(),
  });
  await gems.ensureVersionsBase();
  const keys = new KeyService(catalog, clock.now);
  const log: { fn?: (msg: string, detail: Record<string, unknown>) => void } = {};
  const upstreams = config.upstreams.map(
    (u) =>
      new UpstreamSource({
        client: new UpstreamClient(u, options.env ?? {}),
        blobs,
        catalog,
        now: clock.now,
        offline: config.offline,
        onEvent: (event, _what, ms) => {
          metrics.upstream.inc({ upstream: u.name, event });
          if (ms !== undefined) metrics.upstreamLatency.observe({ upstream: u.name }, ms / 1000);
        },
        log: (msg, detail) => log.fn?.(msg, detail),
      }),
  );
  let proxy: Services['proxy'];
  if (upstreams.length > 0) {
    const merged = upstreams.map((u) => new MergedIndex(index, u));
    const bySource = new Map<string, MergedIndex>();
    for (const m of merged) bySource.set(m.upstream.config.url.replace(/\/+$/, ''), m);
    proxy = {
      root: merged[0]!,
      // Bundler names the Gemfile's source in X-Gemfile-Source: with several upstreams, it picks one.
      pick: (h) => {
        const src = h['x-gemfile-source'];
        return (typeof src === 'string' && bySource.get(src.replace(/\/+$/, ''))) || merged[0]!;
      },
      prefixed: [
        ['/private', index],
        ...upstreams.map((u): [string, MergedIndex] => [
          `/upstream/${u.name}`,
          new MergedIndex(index, u, true),
        ]),
      ],
    };
  }
  return {
    config,
    catalog,
    readModel: catalog,
    blobs,
    index,
    gems,
    gemBodies,
    keys,
    metrics,
    clock,
    proxy,
    upstreams,
    setLogger: (fn) => {
      log.fn = fn;
    },
    close: async () => {
      await Promise.all(upstreams.map((u) => u.close()));
      await readers.close();
      await catalog.close();
      blobs.close?.();
    },
  };
}

/**
 * The mirror of one upstream (`quarry mirror`): its own client (keep-alive, `concurrency`
 * connections) and a copy of the upstream's index that stays valid until its /versions says a
 * name changed.
 */
export function composeMirror(
  s: Services,
  upstream: Config['upstreams'][number],
  env: Readonly<Record<string, string | undefined>>,
): Mirror {
  const client = new UpstreamClient({ ...upstream, max_age_ms: 100 * 365 * 86_400_000 }, env);
  const source = new UpstreamSource({
    client,
    blobs: s.blobs,
    catalog: s.catalog,
    now: s.clock.now,
    offline: false,
    // Each /info is read about once (a closure's shared dependencies more often): a few hundred
    // cover that, where a server's hot set is thousands.
    memory: { docs: 256, parsed: 256 },
  });
  s.upstreams.push(source);
  return new Mirror({ source, client, catalog: s.catalog, gems: s.gems, now: s.clock.now });
}

async function removeStaleTempFiles(blobs: BlobStore, olderThan: number): Promise<void> {
  if (!blobs.tempFiles || !blobs.removeTempFile) return;
  for await (const t of blobs.tempFiles()) {
    if (t.modified.getTime() < olderThan) await blobs.removeTempFile(t.path);
  }
}

export async function composeServer(
  config: Config,
  baseClock: () => Date,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<{ app: FastifyInstance; services: Services; downloads: DownloadCounter }> {
  const services = await composeServices(config, baseClock, { env });
  // Leftovers of writes interrupted by a crash: removed at start-up once an hour old (a younger
  // one may belong to a push under way on another process sharing the store).
  void removeStaleTempFiles(services.blobs, baseClock().getTime() - 3_600_000).catch(() => {});
  // Downloads are counted in memory and written in one batch every downloads.flush_ms, and at close.
  const log: { app?: FastifyInstance } = {};
  const downloads = new DownloadCounter({
    resolve: (file) =>
      then(services.index.gemFile(file), (v) =>
        // Yanked since it was downloaded: the catalog still knows it.
        v ? v.id : services.catalog.findByFullName(file).then((r) => r?.id ?? null),
      ),
    addDownloads: (counts) => services.readModel.addDownloads(counts),
    flushMs: config.downloads.flush_ms,
    log: (msg, detail) => log.app?.log.warn(detail, msg),
  });
  // Loaded here, not at the top: commands that compose services without a server (mirror, import,
  // verify) do not load Fastify and the routes.
  const { buildApp } = await import('./http/app.ts');
  const app = await buildApp({ ...services, downloads, setTime: (at) => services.clock.set(at) });
  log.app = app;
  services.setLogger((msg, detail) => app.log.warn(detail, msg));
  // After the last request (Fastify runs onClose once in-flight requests are done).
  app.addHook('onClose', async () => {
    await downloads.close().catch((err: unknown) => app.log.error({ err }, 'download counts lost at close'));
    await services.close();
  });
  downloads.start();
  return { app, services, downloads };
}
