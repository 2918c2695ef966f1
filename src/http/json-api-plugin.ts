/** The rubygems.org-shaped JSON API: gems, versions, latest version, search and activity. */
import type { FastifyInstance } from 'fastify';
import { isValidGemName } from '../gem/name.ts';
import { byPosition, gemJson, mostRecent, versionJson } from '../services/json-api.ts';
import type { MergedIndex } from '../services/merged-index.ts';
import type { HttpContext } from './context.ts';
import { TEXT } from './representation.ts';

export async function jsonApiPlugin(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const { d } = ctx;
  app.addHook('preHandler', ctx.readGuard);
  app.get<{ Params: { file: string } }>('/api/v1/gems/:file', async (req, reply) => {
    const m = /^(.+)\.json$/.exec(req.params.file);
    if (!m || !isValidGemName(m[1]!))
      return reply.code(404).type(TEXT).send('This rubygem could not be found.\n');
    const v = mostRecent(await d.catalog.liveVersions(m[1]!));
    if (!v) {
      // Through the proxy: an upstream gem, said to come from there.
      const root = d.proxy?.pick(req.headers);
      const up =
        root && 'describe' in root ? await (root as MergedIndex).describe(m[1]!, ctx.baseUrl(req)) : null;
      if (up) return reply.type('application/json').send(up);
      return reply.code(404).type(TEXT).send('This rubygem could not be found.\n');
    }
    return reply.type('application/json').send(gemJson(v, ctx.baseUrl(req)));
  });
  app.get<{ Params: { file: string } }>('/api/v1/versions/:file', async (req, reply) => {
    const m = /^(.+)\.json$/.exec(req.params.file);
    const live = m && isValidGemName(m[1]!) ? await d.catalog.liveVersions(m[1]!) : [];
    if (live.length === 0) return reply.code(404).type(TEXT).send('This rubygem could not be found.\n');
    return reply.type('application/json').send(live.sort(byPosition).map(versionJson));
  });
  app.get<{ Params: { name: string } }>('/api/v1/versions/:name/latest.json', async (req, reply) => {
    const live = isValidGemName(req.params.name) ? await d.catalog.liveVersions(req.params.name) : [];
    const v = mostRecent(live);
    return reply.type('application/json').send({ version: v ? v.number : 'unknown' });
  });
}
