/**
 * The HTTP layer: the Fastify app, its shared hooks and error mapping, and one plugin per surface:
 * operations (operations.ts), protocol reads (read-plugin.ts), the JSON API (json-api-plugin.ts),
 * writes (write-plugin.ts), conformance test hooks (test-hooks.ts) and the web UI (src/web/).
 * Thin: it validates parameters at the edge, calls services, and alone maps errors to statuses
 * (src/http/errors.ts).
 */

import type { IncomingHttpHeaders } from 'node:http';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import Fastify, { LogController } from 'fastify';
import type { Catalog, CatalogReadModel } from '../catalog/types.ts';
import type { Config } from '../config/schema.ts';
import { asStorageFull, isQuarryError } from '../errors.ts';
import type { GemBodies } from '../services/gem-bodies.ts';
import type { GemService } from '../services/gems.ts';
import type { IndexView } from '../services/index-view.ts';
import type { KeyService } from '../services/keys.ts';
import type { ReadIndex } from '../services/merged-index.ts';
import type { Metrics } from '../services/metrics.ts';
import { webUi } from '../web/plugin.ts';
import { httpContext } from './context.ts';
import { errorAnswer } from './errors.ts';
import { FastReads } from './fast-reads.ts';
import { jsonApiPlugin } from './json-api-plugin.ts';
import { operationsPlugin } from './operations.ts';
import { readPlugin } from './read-plugin.ts';
import { sendAnswer, TEXT } from './representation.ts';
import { testHooksPlugin } from './test-hooks.ts';
import { writePlugin } from './write-plugin.ts';

export interface AppDeps {
  config: Config;
  catalog: Catalog;
  /** What the web UI and the JSON API's search and activity read (the catalog's drivers). */
  readModel: CatalogReadModel;
  index: IndexView;
  gems: GemService;
  gemBodies: GemBodies;
  keys: KeyService;
  metrics: Metrics;
  /**
   * The caching proxy, when upstreams are configured: the merged index at `/` (picked per request
   * by X-Gemfile-Source), and the sources under their own prefixes (/private, /upstream/NAME).
   */
  proxy?: {
    root: ReadIndex;
    pick: (h: IncomingHttpHeaders) => ReadIndex;
    prefixed: [prefix: string, index: ReadIndex][];
  };
  /** Counts .gem downloads (services/downloads.ts); none: downloads are not counted. */
  downloads?: { count(fullName: string): void };
  /** Test hooks (POST /set_time): only when config.testing.hooks is on. */
  setTime?: (at: Date) => void;
}

export async function buildApp(d: AppDeps): Promise<FastifyInstance> {
  const ctx = httpContext(d);
  // Hot GET/HEAD reads are answered in front of Fastify, from the same ReadRoutes.
  const fast = new FastReads(ctx.reads, d.metrics.http, d.config.wire);
  const app = Fastify({
    serverFactory: fast.serverFactory,
    logger: { level: d.config.log.level },
    // One log line per request comes from the onResponse hook below (FastReads logs its own).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: d.config.limits.body_bytes,
    // Gem file names (name-version-platform.gem) up to the publishing limits (src/gem/publishable.ts).
    routerOptions: { maxParamLength: 1024 },
    requestTimeout: d.config.limits.request_timeout_ms,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  await app.register(formbody);
  await app.register(multipart, { limits: { fileSize: d.config.limits.body_bytes, files: 1, fields: 10 } });
  app.addContentTypeParser(
    ['application/octet-stream', 'application/x-tar', 'application/gem'],
    { parseAs: 'buffer' },
    (_r, body, done) => done(null, body),
  );

  // Metrics and one structured log line per request (skipped cheaply when info is off).
  const logRequests = ['info', 'debug', 'trace'].includes(d.config.log.level);
  if (logRequests) fast.log = app.log;
  fast.downloads = d.downloads ?? null;
  app.addHook('preClose', async () => {
    fast.startClosing();
  });
  app.addHook('onResponse', async (req, reply) => {
    d.metrics.http
      // Labelled by the route's pattern, without a parameter's regular expression (/gems/:file).
      .route(req.routeOptions.url?.replace(/\(\^[^)]*\$\)/g, '') ?? 'unmatched')
      .record(req.method, reply.statusCode, reply.elapsedTime / 1000);
    if (!logRequests) return;
    req.log.info(
      {
        method: req.method,
        url: req.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
        ua: req.headers['user-agent'],
      },
      'request',
    );
  });

  app.setErrorHandler((err0: unknown, req, reply) => {
    // A full disk on any path (a blob write, the catalog) is 507 and logged as such.
    const err = asStorageFull(err0, 'storage');
    if (isQuarryError(err)) {
      if (err.code === 'storage_full') req.log.error({ err }, 'storage full');
      return sendAnswer(reply, errorAnswer(err, d.config.auth.protected_reads));
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      const msg =
        e.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `Request body is larger than ${d.config.limits.body_bytes} bytes`
          : e.message;
      return reply.code(e.statusCode).type(TEXT).send(`${msg}\n`);
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).type(TEXT).send('Server error. Please try again.\n');
  });

  // Plain text for clients; a browser asking for HTML gets the web UI's 404 page.
  const web = webUi(ctx);
  app.setNotFoundHandler((req, reply) =>
    web.wantsHtml(req)
      ? web.notFound(req, reply)
      : reply
          .code(404)
          .type(TEXT)
          .send(`Not found: ${req.url.split('?')[0]}\n`),
  );

  // Each surface is a plugin with its own hooks, over the shared context (context.ts).
  await app.register(operationsPlugin, ctx);
  await app.register(readPlugin, ctx);
  await app.register(jsonApiPlugin, ctx);
  await app.register(writePlugin, ctx);
  if (d.config.testing.hooks) await app.register(testHooksPlugin, ctx);
  await app.register(web.plugin);
  return app;
}
