/**
 * What the HTTP plugins share: the dependencies, the read routes, the failure limiter and the guards
 * built on it, and the push path (the API, Gem in a Box uploads and the web form all push through it).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRecord } from '../catalog/types.ts';
import { isQuarryError, QuarryError } from '../errors.ts';
import type { PushResult } from '../services/gems.ts';
import type { ReadIndex } from '../services/merged-index.ts';
import { FailureLimiter } from '../services/rate-limit.ts';
import type { AppDeps } from './app.ts';
import { ReadRoutes } from './reads.ts';

export const fail = (code: ConstructorParameters<typeof QuarryError>[0], message: string): never => {
  throw new QuarryError(code, message);
};

export interface HttpContext {
  d: AppDeps;
  /** The read routes at `/` (the merged index through the proxy). */
  reads: ReadRoutes;
  /** The index a request reads (X-Gemfile-Source picks one through the proxy). */
  indexFor(h: IncomingHttpHeaders): ReadIndex;
  limiter: FailureLimiter;
  /** Runs a key check counted per client address: past the limit, 429 before any work. */
  limited<T>(req: FastifyRequest, fn: () => Promise<T>): Promise<T>;
  /** Protected reads: a key with the read scope, sent as basic auth (as Bundler does) or raw. */
  readGuard(req: FastifyRequest): Promise<void>;
  /** The server's public URL, without a trailing slash. */
  baseUrl(req: FastifyRequest): string;
  /** Answers, then closes the connection instead of reading the rest of the request's body. */
  closeAfter(reply: FastifyReply): void;
  /** A multipart file, read up to the body limit: past it, 413 at once and the connection closed. */
  readPart(part: MultipartFile, reply: FastifyReply): Promise<Buffer>;
  /** Pushes a .gem with an authorized push key (checked against the gem's name once it is read). */
  push(bytes: Buffer, key: ApiKeyRecord | undefined): Promise<PushResult>;
}

export function httpContext(d: AppDeps): HttpContext {
  const reads = new ReadRoutes(
    d.proxy ? { ...d, index: d.proxy.root, pick: d.proxy.pick } : { ...d, index: d.index },
  );
  const limiter = new FailureLimiter({
    max: d.config.limits.auth_failures,
    windowMs: d.config.limits.auth_window_ms,
    now: () => performance.now(),
  });
  const limited = <T>(req: FastifyRequest, fn: () => Promise<T>): Promise<T> => limiter.guard(req.ip, fn);
  const tooLarge = () => `Request body is larger than ${d.config.limits.body_bytes} bytes`;
  const closeAfter = (reply: FastifyReply): void => {
    reply.header('connection', 'close');
    reply.raw.once('finish', () => reply.request.raw.socket?.destroy());
  };
  return {
    d,
    reads,
    indexFor: (h) => (d.proxy ? d.proxy.pick(h) : d.index),
    limiter,
    limited,
    async readGuard(req) {
      if (reads.protectedReads) await limited(req, () => reads.guard(req.headers.authorization));
    },
    baseUrl: (req) => d.config.base_url?.replace(/\/$/, '') ?? `${req.protocol}://${req.host}`,
    closeAfter,
    async readPart(part, reply) {
      const chunks: Buffer[] = [];
      let size = 0;
      // Busboy stops passing data at the limit but would go on reading to the part's end: stop now.
      part.file.once('limit', () => {
        closeAfter(reply);
        part.file.destroy(new QuarryError('too_large', tooLarge()));
      });
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > d.config.limits.body_bytes || part.file.truncated) {
          closeAfter(reply);
          fail('too_large', tooLarge());
        }
        chunks.push(chunk);
      }
      if (part.file.truncated) {
        closeAfter(reply);
        fail('too_large', tooLarge());
      }
      return Buffer.concat(chunks);
    },
    async push(bytes, key) {
      const t0 = performance.now();
      try {
        const r = await d.gems.push(bytes, async (gemName) => {
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
    },
  };
}
