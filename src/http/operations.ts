/** Operations: /health and /metrics. */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Metrics } from '../services/metrics.ts';
import type { HttpContext } from './context.ts';
import { fail } from './context.ts';
import { TEXT } from './representation.ts';

export async function operationsPlugin(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const { d } = ctx;
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
    await ctx.readGuard(req);
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
}
