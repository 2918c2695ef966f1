/** The rubygems.org-shaped JSON API: gems, versions, latest version, search and activity. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { VersionRecord } from '../catalog/types.ts';
import { isValidGemName } from '../gem/name.ts';
import { byPosition, downloadsOf, gemJson, mostRecent, versionJson } from '../services/json-api.ts';
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
    const counts = await d.readModel.downloads(v.name);
    return reply.type('application/json').send(gemJson(v, ctx.baseUrl(req), downloadsOf(v, counts)));
  });
  app.get<{ Params: { file: string } }>('/api/v1/versions/:file', async (req, reply) => {
    const m = /^(.+)\.json$/.exec(req.params.file);
    const live = m && isValidGemName(m[1]!) ? await d.catalog.liveVersions(m[1]!) : [];
    if (live.length === 0) return reply.code(404).type(TEXT).send('This rubygem could not be found.\n');
    const counts = await d.readModel.downloads(live[0]!.name);
    return reply
      .type('application/json')
      .send(live.sort(byPosition).map((v) => versionJson(v, counts.get(v.id) ?? 0)));
  });
  app.get<{ Params: { name: string } }>('/api/v1/versions/:name/latest.json', async (req, reply) => {
    const live = isValidGemName(req.params.name) ? await d.catalog.liveVersions(req.params.name) : [];
    const v = mostRecent(live);
    return reply.type('application/json').send({ version: v ? v.number : 'unknown' });
  });

  // Search and activity (rubygems.org's shapes: arrays of the gem object), from the read model.
  const PER_PAGE = 30;
  const gemObjects = async (req: FastifyRequest, versions: (VersionRecord | null)[]) => {
    const found = versions.filter((v): v is VersionRecord => v !== null);
    const counts = await d.readModel.downloadsOf(found.map((v) => v.name));
    return found.map((v) => gemJson(v, ctx.baseUrl(req), downloadsOf(v, counts.get(v.name))));
  };
  app.get<{ Querystring: { query?: string; page?: string } }>('/api/v1/search.json', async (req, reply) => {
    const page = Math.max(1, Math.min(1000, Number.parseInt(req.query.page ?? '1', 10) || 1));
    const found = await d.readModel.searchGems(
      String(req.query.query ?? ''),
      (page - 1) * PER_PAGE,
      PER_PAGE,
    );
    const versions = await Promise.all(
      found.items.map((g) => d.catalog.findVersion(g.name, g.number, g.platform)),
    );
    return reply.type('application/json').send(await gemObjects(req, versions));
  });
  app.get('/api/v1/activity/latest.json', async (req, reply) =>
    reply.type('application/json').send(await gemObjects(req, await d.readModel.newestGems(50))),
  );
  app.get('/api/v1/activity/just_updated.json', async (req, reply) =>
    reply.type('application/json').send(await gemObjects(req, await d.readModel.recentVersions(50))),
  );
}
