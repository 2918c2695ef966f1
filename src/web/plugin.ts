/**
 * The web UI: server-rendered pages over the read model (CatalogReadModel) and the services, as a
 * Fastify plugin with its own hooks: security headers, the CSRF token (a double-submit cookie and a
 * hidden field on every form), the sign-in gate of protected reads, and HTML error pages.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRecord, VersionRecord } from '../catalog/types.ts';
import { isQuarryError, QuarryError } from '../errors.ts';
import { isValidGemName } from '../gem/name.ts';
import type { HttpContext } from '../http/context.ts';
import { errorAnswer } from '../http/errors.ts';
import { keyFrom } from '../http/reads.ts';
import { TEXT } from '../http/representation.ts';
import { mostRecent } from '../services/json-api.ts';
import type { MergedIndex } from '../services/merged-index.ts';
import { CSS, CSS_PATH, JS, JS_PATH } from './assets.ts';
import { signinPage, uploadPage, yankPage } from './forms.ts';
import { gemPage, upstreamGemPage } from './gem-pages.ts';
import type { Html } from './html.ts';
import type { PageCtx } from './templates.ts';
import { atomFeed, errorPage, homePage, searchPage } from './templates.ts';

export interface WebUi {
  plugin: (app: FastifyInstance) => Promise<void>;
  /** A browser navigation (Accept: text/html), not a gem client. */
  wantsHtml(req: FastifyRequest): boolean;
  notFound(req: FastifyRequest, reply: FastifyReply): FastifyReply;
}

const CSRF_COOKIE = 'quarry_csrf';
const KEY_COOKIE = 'quarry_key';
const PER_PAGE = 30;

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), interest-cohort=()',
  'cross-origin-opener-policy': 'same-origin',
};

function cookies(req: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (!out.has(k)) {
      try {
        out.set(k, decodeURIComponent(part.slice(i + 1).trim()));
      } catch {
        // A malformed cookie is no cookie.
      }
    }
  }
  return out;
}

const sameToken = (a: string | undefined, b: string | undefined): boolean => {
  if (!a || !b || a.length !== b.length || a.length < 32) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
};

export function webUi(ctx: HttpContext): WebUi {
  const { d } = ctx;
  const protectedReads = d.config.auth.protected_reads;
  const wantsHtml = (req: FastifyRequest) => (req.headers.accept ?? '').includes('text/html');
  const secure = (req: FastifyRequest) => ctx.baseUrl(req).startsWith('https:');
  const cookieAttrs = (req: FastifyRequest) =>
    `Path=/; HttpOnly; SameSite=Strict${secure(req) ? '; Secure' : ''}`;

  /** The request's CSRF token: the cookie's, or a new one set on the reply. */
  const csrfToken = (req: FastifyRequest, reply: FastifyReply): string => {
    const have = cookies(req).get(CSRF_COOKIE);
    if (have && /^[A-Za-z0-9_-]{43}$/.test(have)) return have;
    const t = randomBytes(32).toString('base64url');
    reply.header('set-cookie', `${CSRF_COOKIE}=${t}; ${cookieAttrs(req)}`);
    return t;
  };
  const checkCsrf = (req: FastifyRequest, field: unknown): void => {
    if (!sameToken(cookies(req).get(CSRF_COOKIE), typeof field === 'string' ? field : undefined))
      throw new QuarryError(
        'forbidden',
        'The form expired or did not come from this site (CSRF check failed). Reload the page and try again.',
      );
  };

  /** The key a signed-in browser holds (protected reads), or one sent as Authorization. */
  const browserKey = (req: FastifyRequest): string | undefined =>
    cookies(req).get(KEY_COOKIE) ?? keyFrom(req.headers.authorization);

  const pageCtx = (req: FastifyRequest, reply: FastifyReply, signedIn = false): PageCtx => ({
    base: ctx.baseUrl(req),
    csrf: csrfToken(req, reply),
    protectedReads,
    signedIn,
  });
  const sendPage = (reply: FastifyReply, page: Html, status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page.value);

  const renderError = (
    req: FastifyRequest,
    reply: FastifyReply,
    status: number,
    title: string,
    message: string,
  ) => sendPage(reply, errorPage(pageCtx(req, reply), status, title, message), status);

  const notFound = (req: FastifyRequest, reply: FastifyReply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    return renderError(req, reply, 404, 'Not found', `Nothing is at ${req.url.split('?')[0]}.`);
  };

  const plugin = async (app: FastifyInstance) => {
    app.addHook('onSend', async (_req, reply, payload) => {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
      return payload;
    });

    // Protected reads: nothing is shown before a key with the read scope (kept in an HttpOnly cookie).
    const signedIn = new WeakMap<FastifyRequest, boolean>();
    const gate = async (req: FastifyRequest, reply: FastifyReply) => {
      if (!protectedReads) return;
      const path = req.url.split('?')[0]!;
      if (path === '/signin' || path.startsWith('/assets/')) return;
      if (path === '/' && !wantsHtml(req)) return ctx.readGuard(req);
      try {
        await ctx.limited(req, () => d.keys.authorize(browserKey(req), 'read'));
        signedIn.set(req, true);
      } catch (e) {
        if (!isQuarryError(e) || e.code !== 'unauthorized') throw e;
        if (req.method === 'GET' && wantsHtml(req)) return reply.redirect(`/signin`, 303);
        throw e;
      }
    };
    app.addHook('preHandler', gate);
    const page = (req: FastifyRequest, reply: FastifyReply) =>
      pageCtx(req, reply, signedIn.get(req) ?? false);

    app.setErrorHandler((err: unknown, req, reply) => {
      if (!isQuarryError(err)) {
        const e = err as { statusCode?: number; message?: string };
        if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
          return renderError(req, reply, e.statusCode, 'Bad request', e.message ?? 'Bad request');
        req.log.error({ err }, 'unhandled error');
        return renderError(req, reply, 500, 'Server error', 'Something went wrong. Please try again.');
      }
      const a = errorAnswer(err, false);
      const title =
        a.status === 404 ? 'Not found' : a.status === 401 || a.status === 403 ? 'Not allowed' : 'Error';
      if (!wantsHtml(req)) return reply.code(a.status).type(TEXT).send(`${err.message}\n`);
      return renderError(req, reply, a.status, title, err.message);
    });

    // Assets: content-hashed names, cached for good.
    const asset = (type: string, body: string) => async (_req: FastifyRequest, reply: FastifyReply) =>
      reply.type(type).header('cache-control', 'public, max-age=31536000, immutable').send(body);
    app.get(CSS_PATH, asset('text/css; charset=utf-8', CSS));
    app.get(JS_PATH, asset('text/javascript; charset=utf-8', JS));

    // RubyGems 3.2.3-3.5 probe `HEAD /` (200 turns the compact index on); a browser gets the home page.
    app.get('/', async (req, reply) => {
      if (!wantsHtml(req)) return reply.type(TEXT).send('Quarry gem server\n');
      const [counts, recent] = await Promise.all([d.readModel.gemCounts(), d.readModel.recentVersions(10)]);
      return sendPage(reply, homePage(page(req, reply), counts, recent));
    });

    app.get<{ Querystring: { q?: string; page?: string } }>('/search', async (req, reply) => {
      const q = String(req.query.q ?? '').slice(0, 200);
      const n = Math.max(1, Math.min(10_000, Number.parseInt(String(req.query.page ?? '1'), 10) || 1));
      const found = q.trim()
        ? await d.readModel.searchGems(q, (n - 1) * PER_PAGE, PER_PAGE)
        : { items: [], total: 0 };
      return sendPage(reply, searchPage(page(req, reply), q, found, n, PER_PAGE));
    });

    const gemView = async (name: string) => {
      if (!isValidGemName(name)) return null;
      const versions = await d.catalog.allVersions(name);
      if (versions.length === 0) return null;
      const latest = mostRecent(versions.filter((v) => v.yankedAt === null)) ?? versions[0]!;
      const [downloads, reverse] = await Promise.all([
        d.readModel.downloads(name),
        d.readModel.reverseDependencies(name, 0, 50),
      ]);
      return { name, latest, versions, downloads, reverse };
    };
    const upstreamView = async (req: FastifyRequest, name: string) => {
      if (!d.proxy || !isValidGemName(name)) return null;
      const root = d.proxy.pick(req.headers);
      if (!('upstreamGem' in root)) return null;
      const up = await (root as MergedIndex).upstreamGem(name);
      return up ? { name, ...up } : null;
    };
    const notice = (q: { notice?: string }) =>
      q.notice === 'yanked'
        ? 'The version was yanked.'
        : q.notice === 'unyanked'
          ? 'The version was restored.'
          : undefined;

    app.get<{ Params: { name: string }; Querystring: { notice?: string } }>(
      '/gems/:name',
      async (req, reply) => {
        const name = req.params.name;
        const g = await gemView(name);
        if (g) return sendPage(reply, gemPage(page(req, reply), { ...g, notice: notice(req.query) }));
        const up = await upstreamView(req, name);
        if (up) return sendPage(reply, upstreamGemPage(page(req, reply), up));
        return renderError(req, reply, 404, 'Not found', `No gem named ${name} is here.`);
      },
    );

    const findOne = async (name: string, number: string, platform: string | undefined) =>
      isValidGemName(name) ? d.catalog.findVersion(name, number, platform || 'ruby') : null;

    app.get<{
      Params: { name: string; version: string };
      Querystring: { platform?: string; notice?: string };
    }>('/gems/:name/versions/:version', async (req, reply) => {
      const { name, version } = req.params;
      const v = await findOne(name, version, req.query.platform);
      const g = v ? await gemView(name) : null;
      if (!v || !g)
        return renderError(req, reply, 404, 'Not found', `No version ${version} of ${name} is here.`);
      return sendPage(reply, gemPage(page(req, reply), { ...g, only: v, notice: notice(req.query) }));
    });

    // Yank and unyank: a confirmation page, then a POST with the key and the CSRF token.
    for (const action of ['yank', 'unyank'] as const) {
      app.get<{ Params: { name: string; version: string }; Querystring: { platform?: string } }>(
        `/gems/:name/versions/:version/${action}`,
        async (req, reply) => {
          const v = await findOne(req.params.name, req.params.version, req.query.platform);
          if (!v) return renderError(req, reply, 404, 'Not found', 'No such version is here.');
          return sendPage(reply, yankPage(page(req, reply), v, action));
        },
      );
      app.post<{
        Params: { name: string; version: string };
        Querystring: { platform?: string };
        Body: Record<string, unknown>;
      }>(`/gems/:name/versions/:version/${action}`, async (req, reply) => {
        const body = (req.body ?? {}) as Record<string, unknown>;
        checkCsrf(req, body['_csrf']);
        const v: VersionRecord | null = await findOne(
          req.params.name,
          req.params.version,
          req.query.platform,
        );
        if (!v) return renderError(req, reply, 404, 'Not found', 'No such version is here.');
        try {
          const key = typeof body['api_key'] === 'string' ? body['api_key'].trim() : undefined;
          await ctx.limited(req, () => d.keys.authorize(key || undefined, 'yank', v.name));
          if (action === 'yank') await d.gems.yank(v.name, v.number, v.platform);
          else await d.gems.unyank(v.name, v.number, v.platform);
          d.metrics.yanks.inc({ result: 'ok' });
        } catch (e) {
          if (!isQuarryError(e)) throw e;
          if (action === 'yank') d.metrics.yanks.inc({ result: e.code });
          const a = errorAnswer(e, false);
          return sendPage(
            reply,
            yankPage(page(req, reply), v, action, { message: e.message, status: a.status }),
            a.status,
          );
        }
        const back = `/gems/${encodeURIComponent(v.name)}?notice=${action === 'yank' ? 'yanked' : 'unyanked'}`;
        return reply.redirect(back, 303);
      });
    }

    // Upload: the push path of gem push (same checks, same errors), with the key from the form.
    app.get('/upload', async (req, reply) => sendPage(reply, uploadPage(page(req, reply))));
    app.post('/upload/form', async (req, reply) => {
      if (!req.isMultipart()) throw new QuarryError('bad_request', 'Send the form as multipart/form-data');
      const fields: Record<string, string> = {};
      let bytes: Buffer | undefined;
      let status = 200;
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            const b = await ctx.readPart(part, reply);
            if (part.fieldname === 'gem') bytes = b;
          } else if (typeof part.value === 'string') fields[part.fieldname] = part.value;
        }
        checkCsrf(req, fields['_csrf']);
        const key = fields['api_key']?.trim();
        const record: ApiKeyRecord = await ctx.limited(req, () => d.keys.authorize(key || undefined, 'push'));
        if (!bytes || bytes.length === 0)
          throw new QuarryError('bad_request', 'Choose a .gem file to upload.');
        const r = await ctx.push(bytes, record);
        return sendPage(reply, uploadPage(page(req, reply), { message: r.message.trim() }));
      } catch (e) {
        if (!isQuarryError(e)) throw e;
        status = errorAnswer(e, false).status;
        return sendPage(reply, uploadPage(page(req, reply), { error: e.message, status }), status);
      }
    });

    // The Atom feed of recent pushes.
    app.get('/feed.atom', async (req, reply) => {
      const recent = await d.readModel.recentVersions(50);
      const updated = recent[0]?.createdAt ?? (await d.catalog.state()).modifiedAt;
      return reply
        .type('application/atom+xml; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(atomFeed(ctx.baseUrl(req), recent, updated));
    });

    // Protected reads: sign in with a read key, kept in an HttpOnly, SameSite=Strict cookie.
    app.get('/signin', async (req, reply) => sendPage(reply, signinPage(page(req, reply))));
    app.post<{ Body: Record<string, unknown> }>('/signin', async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      checkCsrf(req, body['_csrf']);
      const key = typeof body['api_key'] === 'string' ? body['api_key'].trim() : '';
      try {
        await ctx.limited(req, () => d.keys.authorize(key || undefined, 'read'));
      } catch (e) {
        if (!isQuarryError(e)) throw e;
        const status = errorAnswer(e, false).status;
        return sendPage(reply, signinPage(page(req, reply), e.message), status);
      }
      reply.header('set-cookie', `${KEY_COOKIE}=${encodeURIComponent(key)}; ${cookieAttrs(req)}`);
      return reply.redirect('/', 303);
    });
    app.post<{ Body: Record<string, unknown> }>('/signout', async (req, reply) => {
      checkCsrf(req, ((req.body ?? {}) as Record<string, unknown>)['_csrf']);
      reply.header('set-cookie', `${KEY_COOKIE}=; ${cookieAttrs(req)}; Max-Age=0`);
      return reply.redirect('/signin', 303);
    });
  };

  return { plugin, wantsHtml, notFound };
}
