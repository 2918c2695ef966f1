/**
 * Serving derived index bodies with the headers clients check (PROTOCOL.md 5.4): quoted-MD5 ETag,
 * Repr-Digest and Digest over the full body, Accept-Ranges, 206 for `bytes=N-`, 200 (not 416) when N
 * is past the end, 304 on If-None-Match (quotes and W/ ignored), and If-Modified-Since.
 *
 * Responses are data (an Answer), so the fast read path (fast-reads.ts) and Fastify send the same
 * bytes. The headers of a representation are formatted once, on its first request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { Representation } from '../services/index-view.ts';

export type Headers = Readonly<Record<string, string>>;

/** A whole response: status, every header (Content-Length included when there is a body), body. */
export interface Answer {
  status: number;
  headers: Headers;
  /** null: no body (304), or a streamed one. */
  body: Buffer | null;
  /**
   * A body too large to hold in memory, opened when it is sent (never for HEAD) and written with
   * backpressure. Content-Length is in headers. The socket-level responder hands such requests to
   * node:http.
   */
  stream?: () => Promise<AsyncIterable<Uint8Array>>;
}

export const TEXT = 'text/plain; charset=utf-8';
export const OCTET = 'application/octet-stream';

/** A plain response with a text body, as RubyGems prints them. */
export function textAnswer(status: number, text: string, extra: Headers = {}): Answer {
  const body = Buffer.from(text, 'utf8');
  return {
    status,
    headers: { 'content-type': TEXT, ...extra, 'content-length': String(body.length) },
    body,
  };
}

/** Sends an Answer through Fastify (the routes that tests inject into, and the fallback). */
export async function sendAnswer(reply: FastifyReply, a: Answer): Promise<FastifyReply> {
  reply.code(a.status).headers(a.headers);
  if (a.stream && reply.request.method !== 'HEAD') return reply.send(Readable.from(await a.stream()));
  return a.body === null ? reply.send() : reply.send(a.body);
}

const opaque = (tag: string): string =>
  tag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');

export function etagMatches(header: string | undefined, md5: string): boolean {
  if (!header) return false;
  // One strong tag, as Bundler sends: compared without parsing.
  if (header.charCodeAt(0) === 34 && header.charCodeAt(header.length - 1) === 34 && !header.includes(',')) {
    return header.slice(1, -1) === md5;
  }
  // The wildcard is a bare `*` (RFC 9110 13.1.2); a quoted "*" is an ordinary tag.
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim() !== '*' && opaque(t) === md5);
}

/** Parses `bytes=N-` (the only form Bundler sends); null for anything else, which is served whole. */
export function rangeStart(header: string | undefined): number | null {
  if (!header) return null;
  const m = /^bytes=(\d+)-$/.exec(header.trim());
  return m ? Number(m[1]) : null;
}

export interface ServeOptions {
  contentType: string;
  cacheControl: string;
  /** Compact index files: digests, ETag and ranges. */
  compact: boolean;
}

/** The answers of one representation, formatted once. */
interface Prepared {
  options: ServeOptions;
  /** 304: every representation header but Content-Length. */
  notModified: Answer;
  /** 200: with Content-Length. */
  ok: Answer;
  /** 206 answers by start offset: clients that are a few lines behind ask for the same tails. */
  partial: Map<number, Answer> | null;
}

/** Tails kept per representation (each a few hundred bytes of headers and a view of the body). */
const MAX_PARTIAL = 512;

/**
 * Each representation's answers, kept on it (a slot this module owns) rather than in a WeakMap: most
 * representations of a large catalog's /info bodies live for one request, and a WeakMap entry each
 * is work for the garbage collector.
 */
const PREPARED = Symbol('prepared answers');
type Served = Representation & { [PREPARED]?: Prepared };

function prepare(rep: Served, o: ServeOptions): Prepared {
  const cached = rep[PREPARED];
  if (cached && cached.options === o) return cached;
  const notModified: Record<string, string> = {
    'content-type': o.contentType,
    'cache-control': o.cacheControl,
    'last-modified': rep.modified.toUTCString(),
    etag: `"${rep.md5}"`,
  };
  if (o.compact) {
    notModified['accept-ranges'] = 'bytes';
    notModified['repr-digest'] = `sha-256=:${rep.sha256}:`;
    notModified['digest'] = `sha-256=${rep.sha256}`;
  }
  const p: Prepared = {
    options: o,
    notModified: { status: 304, headers: notModified, body: null },
    ok: {
      status: 200,
      headers: { ...notModified, 'content-length': String(rep.body.length) },
      body: rep.body,
    },
    partial: null,
  };
  rep[PREPARED] = p;
  return p;
}

/** The response to a GET (or HEAD) of a representation, given the request's headers. */
export function answerRepresentation(rep: Representation, o: ServeOptions, h: IncomingHttpHeaders): Answer {
  const p = prepare(rep, o);
  const inm = h['if-none-match'];
  if (inm && etagMatches(inm, rep.md5)) return p.notModified;
  const ims = h['if-modified-since'];
  if (!inm && ims) {
    const since = Date.parse(ims);
    if (!Number.isNaN(since) && rep.modified.getTime() <= since) return p.notModified;
  }
  const length = rep.body.length;
  const start = o.compact ? rangeStart(h.range) : null;
  if (start !== null && start > 0 && start < length) {
    p.partial ??= new Map();
    let tail = p.partial.get(start);
    if (!tail) {
      tail = {
        status: 206,
        headers: {
          ...p.notModified.headers,
          'content-range': `bytes ${start}-${length - 1}/${length}`,
          'content-length': String(length - start),
        },
        body: rep.body.subarray(start),
      };
      if (p.partial.size >= MAX_PARTIAL) p.partial.clear();
      p.partial.set(start, tail);
    }
    return tail;
  }
  return p.ok;
}
