/**
 * The HTTP layer: one route table for every protocol clients use. Thin: it validates parameters at
 * the edge, calls services, and alone maps errors to statuses (src/http/errors.ts).
 */

import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import formbody from '@fastify/formbody';
import type { MultipartFile } from '@fastify/multipart';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Fastify, { LogController } from 'fastify';
import type { ApiKeyRecord, Catalog } from '../catalog/types.ts';
import type { Config } from '../config/schema.ts';
import { asStorageFull, isQuarryError, QuarryError } from '../errors.ts';
import { isValidGemName } from '../gem/name.ts';
import { dependenciesJson } from '../index/dependencies.ts';
import type { GemBodies } from '../services/gem-bodies.ts';
import type { GemService } from '../services/gems.ts';
import type { IndexView } from '../services/index-view.ts';
import { byPosition, gemJson, mostRecent, versionJson } from '../services/json-api.ts';
import type { KeyService } from '../services/keys.ts';
import type { MergedIndex, ReadIndex } from '../services/merged-index.ts';
import type { Metrics } from '../services/metrics.ts';
import { FailureLimiter } from '../services/rate-limit.ts';
import { authenticateUser, parseBasicAuth } from '../services/users.ts';
import type { Maybe } from '../util/maybe.ts';
import { errorAnswer } from './errors.ts';
import { FastReads } from './fast-reads.ts';
import { answerRead, READ_ROUTES } from './read-table.ts';
import { keyFrom, ReadRoutes } from './reads.ts';
import type { Answer } from './representation.ts';
import { sendAnswer, TEXT } from './representation.ts';

export interface AppDeps {
  config: Config;
  catalog: Catalog;
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
  /** Test hooks (POST /set_time): only when config.testing.hooks is on. */
  setTime?: (at: Date) => void;
}

const fail = (code: ConstructorParameters<typeof QuarryError>[0], message: string): never => {
  throw new QuarryError(code, message);
};

export async function buildApp(d: AppDeps): Promise<FastifyInstance> {
  const reads = new ReadRoutes(
    d.proxy ? { ...d, index: d.proxy.root, pick: d.proxy.pick } : { ...d, index: d.index },
  );
  const indexFor = (h: IncomingHttpHeaders): ReadIndex => (d.proxy ? d.proxy.pick(h) : d.index);
  // Hot GET/HEAD reads are answered in front of Fastify, from the same ReadRoutes.
  const fast = new FastReads(reads, d.metrics.http, d.config.wire);
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
  app.addHook('preClose', async () => {
    fast.startClosing();
  });
  app.addHook('onResponse', async (req, reply) => {
    d.metrics.http
      .route(req.routeOptions.url ?? 'unmatched')
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

  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .type(TEXT)
      .send(`Not found: ${req.url.split('?')[0]}\n`),
  );

  // Failed key checks and sign-ins per client address: past the limit, 429 before any work.
  const limiter = new FailureLimiter({
    max: d.config.limits.auth_failures,
    windowMs: d.config.limits.auth_window_ms,
    now: () => performance.now(),
  });
  const limited = <T>(req: FastifyRequest, fn: () => Promise<T>): Promise<T> => limiter.guard(req.ip, fn);

  // Protected reads: a key with the read scope, sent as basic auth (as Bundler does) or raw.
  const readGuard = async (req: FastifyRequest): Promise<void> => {
    if (reads.protectedReads) await limited(req, () => reads.guard(req.headers.authorization));
  };

  // Pushes: the key and its scope are checked from the headers alone, before any body is read; a
  // refused request's connection is closed rather than drained. The gem-name pattern is checked
  // once the gem is read.
  const pushKeys = new WeakMap<FastifyRequest, ApiKeyRecord>();
  /** Answers, then closes the connection instead of reading the rest of the request's body. */
  const closeAfter = (reply: FastifyReply): void => {
    reply.header('connection', 'close');
    reply.raw.once('finish', () => reply.request.raw.socket?.destroy());
  };
  const pushGuard = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > d.config.limits.body_bytes)
        fail('too_large', `Request body is larger than ${d.config.limits.body_bytes} bytes`);
      pushKeys.set(
        req,
        await limited(req, () => d.keys.authorize(keyFrom(req.headers.authorization), 'push')),
      );
    } catch (e) {
      closeAfter(reply);
      throw e;
    }
  };
  /** A multipart file, read up to the body limit: past it, 413 at once and the connection closed. */
  const readPart = async (part: MultipartFile, reply: FastifyReply): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Busboy stops passing data at the limit but would go on reading to the part's end: stop now.
    part.file.once('limit', () => {
      closeAfter(reply);
      part.file.destroy(
        new QuarryError('too_large', `Request body is larger than ${d.config.limits.body_bytes} bytes`),
      );
    });
    for await (const chunk of part.file as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > d.config.limits.body_bytes || part.file.truncated) {
        closeAfter(reply);
        fail('too_large', `Request body is larger than ${d.config.limits.body_bytes} bytes`);
      }
      chunks.push(chunk);
    }
    if (part.file.truncated) {
      closeAfter(reply);
      fail('too_large', `Request body is larger than ${d.config.limits.body_bytes} bytes`);
    }
    return Buffer.concat(chunks);
  };

  // ---- operations -------------------------------------------------------------------------
  app.get('/health', async (_req, reply) => {
    await d.catalog.state();
    return reply.type('application/json').send({ status: 'ok' });
  });
  // The whole server's metrics: under --workers N the primary sums every worker's (serve-command.ts).
  const metricsToken = d.config.metrics.token ? Buffer.from(`Bearer ${d.config.metrics.token}`) : null;
  const metricsGuard = async (req: FastifyRequest): Promise<void> => {
    if (!metricsToken && !d.config.auth.protected_reads) return;
    const given = Buffer.from(req.headers.authorization ?? '');
    if (metricsToken && given.length === metricsToken.length && timingSafeEqual(given, metricsToken)) return;
    if (!d.config.auth.protected_reads)
      fail('unauthorized', 'Access Denied. /metrics needs Authorization: Bearer <metrics.token>.');
    await readGuard(req);
  };
  app.get('/metrics', { onRequest: metricsGuard }, async (req, reply) => {
    let scrape: Awaited<ReturnType<Metrics['scrape']>>;
    try {
      scrape = await d.metrics.scrape();
    } catch (err) {
      req.log.warn({ err }, 'metrics unavailable');
      return reply
        .code(503)
        .type(TEXT)
        .send(`Metrics unavailable: ${(err as Error).message}\n`);
    }
    return reply.type(scrape.contentType).send(scrape.body);
  });

  // ---- compact index, legacy indexes, quick specs, gems, dependency API ---------------------
  // FastReads (fast-reads.ts) answers these first from the same ReadRoutes (reads.ts); the Fastify
  // routes serve what it leaves to them (encoded URLs, unusual queries, errors) and inject() in tests.
  type Read = FastifyRequest<{ Params: Record<string, string>; Querystring: { gems?: string } }>;
  const get = (path: string, answer: (req: Read) => Maybe<Answer>) =>
    app.get(path, { preHandler: readGuard }, async (req, reply) =>
      sendAnswer(reply, await answer(req as Read)),
    );
  // RubyGems 3.2.3-3.5 probe `HEAD /`, 3.6+ probe `HEAD /versions`: 200 turns the compact index on.
  app.get('/', { preHandler: readGuard }, async (_req, reply) =>
    reply.type(TEXT).send('Quarry gem server\n'),
  );
  // The one table of read routes (read-table.ts), as the fast path in front builds it too.
  const readRoutes = (prefix: string, r: ReadRoutes) => {
    for (const route of READ_ROUTES) {
      const param = (req: Read): string | undefined =>
        route.param
          ? req.params[route.param.name]
          : route.kind === 'deps'
            ? req.query.gems
            : route.kind === 'legacy'
              ? route.path.slice(1)
              : undefined;
      get(`${prefix}${route.path}`, (req) => answerRead(r, route.kind, param(req), req.headers));
    }
  };
  readRoutes('', reads);
  // One source alone under its prefix: /private (hosted gems), /upstream/NAME (one upstream).
  for (const [prefix, index] of d.proxy?.prefixed ?? []) {
    app.get(`${prefix}/`, { preHandler: readGuard }, async (_req, reply) =>
      reply.type(TEXT).send('Quarry gem server\n'),
    );
    readRoutes(prefix, new ReadRoutes({ ...d, index }));
  }
  app.get<{ Querystring: { gems?: string } }>(
    '/api/v1/dependencies.json',
    { preHandler: readGuard },
    async (req, reply) =>
      reply
        .type('application/json')
        .send(
          dependenciesJson(await indexFor(req.headers).dependencies(reads.dependencyNames(req.query.gems))),
        ),
  );

  // ---- JSON API -----------------------------------------------------------------------------
  const baseUrl = (req: FastifyRequest): string =>
    d.config.base_url?.replace(/\/$/, '') ?? `${req.protocol}://${req.host}`;
  app.get<{ Params: { file: string } }>(
    '/api/v1/gems/:file',
    { preHandler: readGuard },
    async (req, reply) => {
      const m = /^(.+)\.json$/.exec(req.params.file);
      if (!m || !isValidGemName(m[1]!))
        return reply.code(404).type(TEXT).send('This rubygem could not be found.\n');
      const v = mostRecent(await d.catalog.liveVersions(m[1]!));
      if (!v) {
        // Through the proxy: an upstream gem, said to come from there.
        const root = d.proxy?.pick(req.headers);
        const up =
          root && 'describe' in root ? await (root as MergedIndex).describe(m[1]!, baseUrl(req)) : null;
        if (up) return reply.type('application/json').send(up);
        return reply.code(404).type(TEXT).send('This rubygem could not be found.\n');
      }
      return reply.type('application/json').send(gemJson(v, baseUrl(req)));
    },
  );
  app.get<{ Params: { file: string } }>(
    '/api/v1/versions/:file',
    { preHandler: readGuard },
    async (req, reply) => {
      const m = /^(.+)\.json$/.exec(req.params.file);
      const live = m && isValidGemName(m[1]!) ? await d.catalog.liveVersions(m[1]!) : [];
      if (live.length === 0) return reply.code(404).type(TEXT).send('This rubygem could not be found.\n');
      return reply.type('application/json').send(live.sort(byPosition).map(versionJson));
    },
  );
  app.get<{ Params: { name: string } }>(
    '/api/v1/versions/:name/latest.json',
    { preHandler: readGuard },
    async (req, reply) => {
      const live = isValidGemName(req.params.name) ? await d.catalog.liveVersions(req.params.name) : [];
      const v = mostRecent(live);
      return reply.type('application/json').send({ version: v ? v.number : 'unknown' });
    },
  );

  // ---- writes -------------------------------------------------------------------------------
  const push = async (bytes: Buffer, req: FastifyRequest) => {
    const t0 = performance.now();
    try {
      const r = await d.gems.push(bytes, async (gemName) => {
        const key = pushKeys.get(req);
        if (!key) return fail('unauthorized', 'an API key is required');
        d.keys.checkGem(key, gemName);
        return key;
      });
      d.metrics.pushes.inc({ result: r.alreadyPushed ? 'unchanged' : 'ok' });
      d.metrics.indexUpdate.observe((performance.now() - t0) / 1000);
      return r;
    } catch (e) {
      d.metrics.pushes.inc({ result: isQuarryError(e) ? e.code : 'error' });
      throw e;
    }
  };

  app.post('/api/v1/gems', { onRequest: pushGuard }, async (req, reply) => {
    let bytes: Buffer | undefined;
    if (req.isMultipart()) {
      for await (const part of req.parts()) {
        if (part.type === 'file' && part.fieldname === 'gem') bytes = await readPart(part, reply);
        else if (part.type === 'file') await readPart(part, reply);
      }
      if (!bytes) fail('bad_request', 'gem is not a file upload');
    } else {
      bytes = Buffer.isBuffer(req.body) ? req.body : undefined;
      if (!bytes || bytes.length === 0)
        fail(
          'bad_request',
          'The request body must be the .gem file (Content-Type: application/octet-stream)',
        );
    }
    const r = await push(bytes!, req);
    return reply.type(TEXT).send(r.message);
  });

  // Gem in a Box: multipart field `file`, optional `overwrite` (refused: published bytes are immutable).
  app.post('/upload', { onRequest: pushGuard }, async (req, reply) => {
    if (!req.isMultipart())
      fail('bad_request', 'No file selected: send multipart/form-data with a "file" field');
    let bytes: Buffer | undefined;
    let filename = '';
    for await (const part of req.parts()) {
      if (part.type === 'file' && part.fieldname === 'file') {
        bytes = await readPart(part, reply);
        filename = part.filename;
      } else if (part.type === 'file') await readPart(part, reply);
    }
    if (!bytes) fail('bad_request', 'No file selected');
    const r = await push(bytes!, req);
    const file = filename || `${r.name}-${r.version}${r.platform === 'ruby' ? '' : `-${r.platform}`}.gem`;
    return reply
      .type(TEXT)
      .send(
        r.alreadyPushed
          ? `Ignoring upload, you uploaded the same thing previously.\n`
          : `Gem ${file} received and indexed.\n`,
      );
  });

  const yankParams = (req: FastifyRequest) => {
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const query = req.query as Record<string, unknown>;
    const get = (k: string): string | undefined => {
      const v = body[k] ?? query[k];
      return typeof v === 'string' ? v : undefined;
    };
    const name = get('gem_name');
    const version = get('version');
    if (!name) fail('bad_request', 'gem_name is missing');
    if (!version) fail('bad_request', 'version is missing');
    if (!isValidGemName(name!)) fail('bad_request', `"${name}" is not a valid gem name`);
    return { name: name!, version: version!, platform: get('platform') };
  };
  app.delete('/api/v1/gems/yank', async (req, reply) => {
    const p = yankParams(req);
    await limited(req, () => d.keys.authorize(keyFrom(req.headers.authorization), 'yank', p.name));
    try {
      const msg = await d.gems.yank(p.name, p.version, p.platform);
      d.metrics.yanks.inc({ result: 'ok' });
      return reply.type(TEXT).send(msg);
    } catch (e) {
      d.metrics.yanks.inc({ result: isQuarryError(e) ? e.code : 'error' });
      throw e;
    }
  });

  // gem signin: basic auth with a configured user -> a new key, the body alone.
  const signin = async (req: FastifyRequest, reply: FastifyReply) => {
    limiter.check(req.ip);
    const creds = parseBasicAuth(req.headers.authorization);
    const user = creds ? await authenticateUser(d.config.auth.users, creds.name, creds.password) : null;
    if (!user) {
      limiter.fail(req.ip);
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Basic realm="Quarry"')
        .type(TEXT)
        .send('Access Denied. Invalid user name or password.\n');
    }
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const keyName = typeof body['name'] === 'string' ? body['name'] : `${user.name}-signin`;
    const created = await d.keys.create({ name: keyName, scopes: user.scopes });
    return reply.type(TEXT).send(created.key);
  };
  app.get('/api/v1/api_key', signin);
  app.post('/api/v1/api_key', signin);

  // ---- conformance hooks --------------------------------------------------------------------
  if (d.config.testing.hooks) {
    app.post('/set_time', async (req, reply) => {
      const body = req.body as Record<string, unknown> | string | undefined;
      const raw =
        typeof body === 'string'
          ? body
          : typeof body === 'object' && body
            ? (body['time'] as string)
            : undefined;
      const at = raw ? new Date(raw) : new Date(Number.NaN);
      if (Number.isNaN(at.getTime())) fail('bad_request', 'set_time needs an ISO 8601 time');
      d.setTime?.(at);
      return reply.type(TEXT).send('OK');
    });
    app.post('/rebuild_versions_list', async (_req, reply) => {
      await d.gems.rebuildVersionsList();
      return reply.type(TEXT).send('OK');
    });
  }

  return app;
}
