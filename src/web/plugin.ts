/** The web UI: server-rendered pages over the read model. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpContext } from '../http/context.ts';
import { TEXT } from '../http/representation.ts';

export interface WebUi {
  plugin: (app: FastifyInstance) => Promise<void>;
  /** A browser navigation (Accept: text/html), not a gem client. */
  wantsHtml(req: FastifyRequest): boolean;
  notFound(req: FastifyRequest, reply: FastifyReply): FastifyReply;
}

export function webUi(ctx: HttpContext): WebUi {
  const wantsHtml = (req: FastifyRequest) => (req.headers.accept ?? '').includes('text/html');
  return {
    wantsHtml,
    notFound: (req, reply) =>
      reply
        .code(404)
        .type(TEXT)
        .send(`Not found: ${req.url.split('?')[0]}\n`),
    async plugin(app) {
      // RubyGems 3.2.3-3.5 probe `HEAD /`, 3.6+ probe `HEAD /versions`: 200 turns the compact index on.
      app.get('/', { preHandler: ctx.readGuard }, async (_req, reply) =>
        reply.type(TEXT).send('Quarry gem server\n'),
      );
    },
  };
}
