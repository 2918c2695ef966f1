/**
 * The protocol reads: compact index, legacy indexes, quick specs, .gem files and the dependency API.
 * FastReads (fast-reads.ts) answers these first from the same ReadRoutes (reads.ts); these Fastify
 * routes serve what it leaves to them (encoded URLs, unusual queries, errors) and inject() in tests.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { dependenciesJson } from '../index/dependencies.ts';
import type { Maybe } from '../util/maybe.ts';
import type { HttpContext } from './context.ts';
import { answerRead, fastifyPath, READ_ROUTES } from './read-table.ts';
import { ReadRoutes } from './reads.ts';
import type { Answer } from './representation.ts';
import { sendAnswer, TEXT } from './representation.ts';

type Read = FastifyRequest<{ Params: Record<string, string>; Querystring: { gems?: string } }>;

export async function readPlugin(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const { d, reads } = ctx;
  app.addHook('preHandler', ctx.readGuard);
  const get = (path: string, answer: (req: Read) => Maybe<Answer>, gemFile?: (req: Read) => string) =>
    app.get(path, async (req, reply) => {
      const a = await answer(req as Read);
      const sent = await sendAnswer(reply, a);
      // A .gem sent whole (GET, 200; not HEAD, not 304) is a download (services/downloads.ts).
      if (gemFile && a.status === 200 && req.method === 'GET') d.downloads?.count(gemFile(req as Read));
      return sent;
    });
  // `/` itself (the probe of RubyGems 3.2.3-3.5, and the web UI's home page) is the web plugin's.
  // The one table of read routes (read-table.ts), as the fast path in front builds it too.
  const readRoutes = (prefix: string, r: ReadRoutes, counted: boolean) => {
    for (const route of READ_ROUTES) {
      const param = (req: Read): string | undefined =>
        route.param
          ? req.params[route.param.name]
          : route.kind === 'deps'
            ? req.query.gems
            : route.kind === 'legacy'
              ? route.path.slice(1)
              : undefined;
      const gemFile =
        counted && route.kind === 'gem' ? (req: Read) => (param(req) ?? '').slice(0, -4) : undefined;
      get(
        `${prefix}${fastifyPath(route)}`,
        (req) => answerRead(r, route.kind, param(req), req.headers),
        gemFile,
      );
    }
  };
  // Downloads count where the catalog's versions are served: `/` (private names win there) and
  // /private; a gem from one upstream alone (/upstream/NAME) has no catalog row.
  readRoutes('', reads, true);
  // One source alone under its prefix: /private (hosted gems), /upstream/NAME (one upstream).
  for (const [prefix, index] of d.proxy?.prefixed ?? []) {
    app.get(`${prefix}/`, async (_req, reply) => reply.type(TEXT).send('Quarry gem server\n'));
    readRoutes(prefix, new ReadRoutes({ ...d, index }), prefix === '/private');
  }
  app.get<{ Querystring: { gems?: string } }>('/api/v1/dependencies.json', async (req, reply) =>
    reply
      .type('application/json')
      .send(
        dependenciesJson(await ctx.indexFor(req.headers).dependencies(reads.dependencyNames(req.query.gems))),
      ),
  );
}
