/**
 * The fast path for hot reads: a plain node:http handler in front of Fastify that answers GET and
 * HEAD of /versions, /names, /info/NAME, the legacy index files, quick specs, /gems/FILE.gem and
 * /api/v1/dependencies?gems=... with `writeHead` + `end`, using the same ReadRoutes as the Fastify
 * routes. Everything else (other methods and paths, request bodies, percent-encoded or unusual
 * URLs, unexpected errors, a closing server) goes on to Fastify untouched. Requests answered here
 * are counted in the same metrics and logged like Fastify's.
 */
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { FastifyBaseLogger, FastifyServerFactory } from 'fastify';
import { isQuarryError } from '../errors.ts';
import type { HttpStats, RouteStats } from '../services/metrics.ts';
import type { Maybe } from '../util/maybe.ts';
import { errorAnswer } from './errors.ts';
import type { ReadRoutes } from './reads.ts';
import { LEGACY_FILES } from './reads.ts';
import type { Answer } from './representation.ts';

type Kind = 'versions' | 'names' | 'info' | 'legacy' | 'quick' | 'gem' | 'deps';

/** A matched request: which route, its metrics, and its one parameter. */
interface Match {
  readonly kind: Kind;
  readonly stats: RouteStats;
  /** The gem name, file name (legacy files: the path without /), or `gems=` value. */
  readonly param: string;
}

/** The options Fastify passes to a server factory that its own HTTP/1 server uses. */
interface ServerOptions {
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Fastify's router refuses parameters longer than this (find-my-way's maxParamLength). */
const MAX_PARAM = 100;
/** Percent-encoding (Fastify decodes it) or a fragment (Fastify drops it). */
const ENCODED = /[%#]/;
/** Characters of `gems=` values taken as they are (anything else goes to Fastify's query parser). */
const PLAIN_GEMS = /^[A-Za-z0-9._,-]*$/;

export class FastReads {
  /** Set when the app starts closing: Fastify then answers 503 to new requests. */
  closing = false;
  /** Request logging (one line per request, as Fastify's onResponse hook writes), when on. */
  log: FastifyBaseLogger | null = null;
  /** Paths without parameters (the dependency API's query aside), as ready matches. */
  private readonly exact = new Map<string, Match>();
  private readonly stats: Record<'info' | 'quick' | 'gem', RouteStats>;

  constructor(
    private readonly reads: ReadRoutes,
    http: HttpStats,
  ) {
    // Metric labels are Fastify's route patterns, so both paths count under the same names.
    const add = (path: string, kind: Kind) =>
      this.exact.set(path, { kind, stats: http.route(path), param: path.slice(1) });
    add('/versions', 'versions');
    add('/names', 'names');
    for (const f of LEGACY_FILES) add(`/${f}`, 'legacy');
    add('/api/v1/dependencies', 'deps');
    this.stats = {
      info: http.route('/info/:name'),
      quick: http.route('/quick/Marshal.4.8/:file'),
      gem: http.route('/gems/:file'),
    };
  }

  /** For Fastify's `serverFactory`: the server Fastify would create, with this path in front. */
  readonly serverFactory: FastifyServerFactory = (fallback, options) => {
    const opts = options as ServerOptions;
    const server: Server = createServer((req, res) => this.handle(req, res, fallback));
    // As Fastify configures its own HTTP/1 server.
    server.keepAliveTimeout = opts.keepAliveTimeout ?? 72_000;
    server.requestTimeout = opts.requestTimeout ?? 0;
    server.setTimeout(opts.connectionTimeout ?? 0);
    if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    return server;
  };

  /** Which fast route a request is for, or null to leave it to Fastify. */
  match(req: IncomingMessage): Match | null {
    if (req.method !== 'GET' && req.method !== 'HEAD') return null;
    const h = req.headers;
    if (this.closing || h['content-length'] !== undefined || h['transfer-encoding'] !== undefined)
      return null;
    const url = req.url ?? '';
    if (ENCODED.test(url)) return null;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path.startsWith('/info/')) return this.withParam(path, '/info/', 'info');
    if (path.startsWith('/gems/')) return this.withParam(path, '/gems/', 'gem');
    const hit = this.exact.get(path);
    if (hit) {
      if (hit.kind !== 'deps') return hit;
      const query = q < 0 ? '' : url.slice(q + 1);
      if (query === '') return { kind: 'deps', stats: hit.stats, param: '' };
      if (!query.startsWith('gems=') || !PLAIN_GEMS.test(query.slice(5))) return null;
      return { kind: 'deps', stats: hit.stats, param: query.slice(5) };
    }
    if (path.startsWith('/quick/Marshal.4.8/')) return this.withParam(path, '/quick/Marshal.4.8/', 'quick');
    return null;
  }

  /** A route with one path parameter, as Fastify's router would match it. */
  private withParam(path: string, prefix: string, kind: 'info' | 'quick' | 'gem'): Match | null {
    const p = path.slice(prefix.length);
    if (p === '' || p.length > MAX_PARAM || p.includes('/')) return null;
    return { kind, stats: this.stats[kind], param: p };
  }

  /** The answer, at once when it comes from memory (see util/maybe.ts). May throw. */
  private answer(m: Match, req: IncomingMessage): Maybe<Answer> {
    const h = req.headers;
    if (this.reads.protectedReads) return this.reads.guard(h.authorization).then(() => this.route(m, h));
    return this.route(m, h);
  }

  private route(m: Match, h: IncomingHttpHeaders): Maybe<Answer> {
    switch (m.kind) {
      case 'versions':
        return this.reads.versions(h);
      case 'names':
        return this.reads.names(h);
      case 'info':
        return this.reads.info(m.param, h);
      case 'legacy':
        return this.reads.legacy(m.param, h);
      case 'quick':
        return this.reads.quickSpec(m.param);
      case 'gem':
        return this.reads.gem(m.param);
      case 'deps':
        return this.reads.dependencies(m.param === '' ? undefined : m.param);
    }
  }

  handle(req: IncomingMessage, res: ServerResponse, fallback: Handler): void {
    const m = this.match(req);
    if (!m) {
      fallback(req, res);
      return;
    }
    const t0 = performance.now();
    let a: Maybe<Answer>;
    try {
      a = this.answer(m, req);
    } catch (err) {
      this.failed(req, res, m, t0, fallback, err);
      return;
    }
    if (!(a instanceof Promise)) this.send(req, res, m, a, t0);
    else
      a.then(
        (x) => this.send(req, res, m, x, t0),
        (err: unknown) => this.failed(req, res, m, t0, fallback, err),
      );
  }

  /** Expected errors are answered here; anything else is Fastify's to map and log. */
  private failed(
    req: IncomingMessage,
    res: ServerResponse,
    m: Match,
    t0: number,
    fallback: Handler,
    err: unknown,
  ): void {
    if (isQuarryError(err)) this.send(req, res, m, errorAnswer(err, this.reads.protectedReads), t0);
    else fallback(req, res);
  }

  private send(req: IncomingMessage, res: ServerResponse, m: Match, a: Answer, t0: number): void {
    res.writeHead(a.status, a.headers);
    if (a.body === null || req.method === 'HEAD') res.end();
    else res.end(a.body);
    const ms = performance.now() - t0;
    m.stats.record(req.method!, a.status, ms / 1000);
    this.log?.info(
      {
        method: req.method,
        url: req.url,
        status: a.status,
        ms: Math.round(ms * 100) / 100,
        ua: req.headers['user-agent'],
      },
      'request',
    );
  }
}
