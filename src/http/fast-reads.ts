/**
 * The fast path for hot reads: GET and HEAD of /versions, /names, /info/NAME, the legacy index
 * files, quick specs, /gems/FILE.gem and /api/v1/dependencies?gems=..., answered from the same
 * ReadRoutes as the Fastify routes, in front of Fastify. Two layers use it:
 * - the wire responder (wire.ts) answers plain keep-alive requests on the socket itself;
 * - connections it hands over reach node:http, whose handler (handle) tries this path with
 *   `writeHead` + `end` before Fastify.
 * Everything else (other methods and paths, request bodies, percent-encoded or unusual URLs,
 * unexpected errors, a closing server) goes on to Fastify untouched. Requests answered here are
 * counted in the same metrics and logged like Fastify's.
 */

import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyBaseLogger, FastifyServerFactory } from 'fastify';
import { isQuarryError } from '../errors.ts';
import type { HttpStats, RouteStats } from '../services/metrics.ts';
import type { Maybe } from '../util/maybe.ts';
import { errorAnswer } from './errors.ts';
import type { ReadKind } from './read-table.ts';
import { answerRead, READ_ROUTES } from './read-table.ts';
import type { ReadRoutes } from './reads.ts';
import type { Answer } from './representation.ts';
import { textAnswer } from './representation.ts';
import { Wire } from './wire.ts';

type Kind = ReadKind;

/** A matched request: which route, its metrics, and its one parameter. */
export interface Match {
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
/** As Fastify's maxParamLength in app.ts: gem file names up to the publishing limits. */
const MAX_PARAM = 1024;
/** Percent-encoding (Fastify decodes it) or a fragment (Fastify drops it). */
const ENCODED = /[%#]/;
/** Characters of `gems=` values taken as they are (anything else goes to Fastify's query parser). */
const PLAIN_GEMS = /^[A-Za-z0-9._,-]*$/;

export class FastReads {
  /** Set when the app starts closing: Fastify then answers 503 to new requests. */
  closing = false;
  /** The responder below node:http, once the server exists. */
  wire: Wire<Match> | null = null;
  /** Request logging (one line per request, as Fastify's onResponse hook writes), when on. */
  log: FastifyBaseLogger | null = null;
  /** Told of each .gem sent whole (GET, 200): the download counter (services/downloads.ts). */
  downloads: { count(fullName: string): void } | null = null;
  /** Paths without parameters (the dependency API's query aside), as ready matches. */
  private readonly exact = new Map<string, Match>();
  /** Routes with one path parameter: the text before it, and their kind and metrics. */
  private readonly withParams: { prefix: string; suffix: string; kind: Kind; stats: RouteStats }[] = [];

  constructor(
    private readonly reads: ReadRoutes,
    http: HttpStats,
    /** Use the wire responder (config `wire`). */
    private readonly useWire = true,
  ) {
    // Metric labels are Fastify's route patterns, so both paths count under the same names.
    for (const r of READ_ROUTES) {
      if (r.param)
        this.withParams.push({
          prefix: r.param.prefix,
          suffix: r.param.suffix ?? '',
          kind: r.kind,
          stats: http.route(r.path),
        });
      else this.exact.set(r.path, { kind: r.kind, stats: http.route(r.path), param: r.path.slice(1) });
    }
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
    // Plain keep-alive reads are answered on the socket (wire.ts); a per-socket request limit is
    // node:http's to keep.
    else if (this.useWire) this.wire = new Wire(server, this, server.keepAliveTimeout);
    return server;
  };

  /** The app is closing: new requests go to Fastify (503) and idle connections are closed. */
  startClosing(): void {
    this.closing = true;
    this.wire?.closeIdle();
  }

  /** Which fast route a request is for, or null to leave it to Fastify. */
  match(method: string, url: string, h: IncomingHttpHeaders): Match | null {
    if (method !== 'GET' && method !== 'HEAD') return null;
    if (this.closing || h['content-length'] !== undefined || h['transfer-encoding'] !== undefined)
      return null;
    if (ENCODED.test(url)) return null;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const hit = this.exact.get(path);
    if (hit) {
      if (hit.kind !== 'deps') return hit;
      const query = q < 0 ? '' : url.slice(q + 1);
      if (query === '') return { kind: 'deps', stats: hit.stats, param: '' };
      if (!query.startsWith('gems=') || !PLAIN_GEMS.test(query.slice(5))) return null;
      return { kind: 'deps', stats: hit.stats, param: query.slice(5) };
    }
    // A route with one path parameter, as Fastify's router would match it.
    for (const r of this.withParams) {
      if (!path.startsWith(r.prefix)) continue;
      const p = path.slice(r.prefix.length);
      if (p === '' || p.length > MAX_PARAM || p.includes('/')) return null;
      // Only /gems/*.gem is a file: /gems/NAME is the gem's web page.
      if (r.suffix && (p.length <= r.suffix.length || !p.endsWith(r.suffix))) return null;
      return { kind: r.kind, stats: r.stats, param: p };
    }
    return null;
  }

  /** The answer, at once when it comes from memory (see util/maybe.ts). May throw. */
  answer(m: Match, h: IncomingHttpHeaders): Maybe<Answer> {
    if (this.reads.protectedReads) return this.reads.guard(h.authorization).then(() => this.route(m, h));
    return this.route(m, h);
  }

  private route(m: Match, h: IncomingHttpHeaders): Maybe<Answer> {
    return answerRead(this.reads, m.kind, m.param, h);
  }

  /** The answer to an error: expected errors are answered here; null leaves it to Fastify. */
  recover(err: unknown): Answer | null {
    if (isQuarryError(err)) return errorAnswer(err, this.reads.protectedReads);
    // Answered here, once: handing it on would run the same failing read again (against a
    // struggling upstream, three times over).
    this.log?.error({ err }, 'unhandled error');
    return textAnswer(500, 'Server error. Please try again.\n');
  }

  /**
   * Counts an answered request in the metrics and logs it (as Fastify's onResponse hook does); a
   * .gem sent whole (GET, 200; not HEAD, not 304) counts as a download.
   */
  record(m: Match, method: string, url: string, status: number, ua: string | undefined, t0: number): void {
    if (m.kind === 'gem' && status === 200 && method === 'GET') this.downloads?.count(m.param.slice(0, -4));
    const ms = performance.now() - t0;
    m.stats.record(method, status, ms / 1000);
    this.log?.info({ method, url, status, ms: Math.round(ms * 100) / 100, ua }, 'request');
  }

  /** A request that node:http parsed (connections the wire responder handed over). */
  handle(req: IncomingMessage, res: ServerResponse, fallback: Handler): void {
    const method = req.method ?? '';
    const url = req.url ?? '';
    const m = this.match(method, url, req.headers);
    if (!m) {
      fallback(req, res);
      return;
    }
    const t0 = performance.now();
    const failed = (err: unknown): void => {
      const a = this.recover(err);
      if (a) send(a);
      else fallback(req, res);
    };
    const send = (a: Answer) => {
      if (a.stream && method !== 'HEAD') {
        a.stream().then((body) => {
          res.writeHead(a.status, a.headers);
          pipeline(Readable.from(body), res).catch(() => res.destroy());
          this.record(m, method, url, a.status, req.headers['user-agent'], t0);
        }, failed);
        return;
      }
      res.writeHead(a.status, a.headers);
      if (a.body === null || method === 'HEAD') res.end();
      else res.end(a.body);
      this.record(m, method, url, a.status, req.headers['user-agent'], t0);
    };

    let a: Maybe<Answer>;
    try {
      a = this.answer(m, req.headers);
    } catch (err) {
      failed(err);
      return;
    }
    if (a instanceof Promise) a.then(send, failed);
    else send(a);
  }
}
