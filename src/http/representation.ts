/**
 * Serving derived index bodies with the headers clients check (PROTOCOL.md 5.4): quoted-MD5 ETag,
 * Repr-Digest and Digest over the full body, Accept-Ranges, 206 for `bytes=N-`, 200 (not 416) when N
 * is past the end, 304 on If-None-Match (quotes and W/ ignored), and If-Modified-Since for the
 * legacy files.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Representation } from '../services/index-view.ts';

const opaque = (tag: string): string =>
  tag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');

export function etagMatches(header: string | undefined, md5: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const v = opaque(t);
    return v === '*' || v === md5;
  });
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

export function serveRepresentation(
  req: FastifyRequest,
  reply: FastifyReply,
  rep: Representation,
  o: ServeOptions,
): FastifyReply {
  reply.header('Content-Type', o.contentType).header('Cache-Control', o.cacheControl);
  reply.header('Last-Modified', rep.modified.toUTCString());
  reply.header('ETag', `"${rep.md5}"`);
  if (o.compact) {
    reply.header('Accept-Ranges', 'bytes');
    reply.header('Repr-Digest', `sha-256=:${rep.sha256}:`);
    reply.header('Digest', `sha-256=${rep.sha256}`);
  }
  if (etagMatches(req.headers['if-none-match'], rep.md5)) return reply.code(304).send();
  const ims = req.headers['if-modified-since'];
  if (!req.headers['if-none-match'] && ims) {
    const since = Date.parse(ims);
    if (!Number.isNaN(since) && rep.modified.getTime() <= since) return reply.code(304).send();
  }
  const start = o.compact ? rangeStart(req.headers.range) : null;
  if (start !== null && start > 0 && start < rep.body.length) {
    reply.code(206).header('Content-Range', `bytes ${start}-${rep.body.length - 1}/${rep.body.length}`);
    return reply.send(rep.body.subarray(start));
  }
  return reply.code(200).send(rep.body);
}
