/** Conformance test hooks (POST /set_time, /rebuild_versions_list): only with config.testing.hooks. */
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from './context.ts';
import { fail } from './context.ts';
import { TEXT } from './representation.ts';

export async function testHooksPlugin(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const { d } = ctx;
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
