/** Writes: gem push, Gem in a Box uploads, yank, and gem signin. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRecord } from '../catalog/types.ts';
import { isQuarryError } from '../errors.ts';
import { isValidGemName } from '../gem/name.ts';
import { authenticateUser, parseBasicAuth } from '../services/users.ts';
import type { HttpContext } from './context.ts';
import { fail } from './context.ts';
import { keyFrom } from './reads.ts';
import { TEXT } from './representation.ts';

export async function writePlugin(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const { d, limited, limiter } = ctx;
  // Pushes: the key and its scope are checked from the headers alone, before any body is read; a
  // refused request's connection is closed rather than drained. The gem-name pattern is checked
  // once the gem is read.
  const pushKeys = new WeakMap<FastifyRequest, ApiKeyRecord>();
  /** Refused bodies up to this size are drained rather than cut off (1 MiB). */
  const SMALL_BODY = 1024 * 1024;
  const pushGuard = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > d.config.limits.body_bytes)
        fail('too_large', `Request body is larger than ${d.config.limits.body_bytes} bytes`);
      pushKeys.set(
        req,
        await limited(req, () => d.keys.authorize(keyFrom(req.headers.authorization), 'push')),
      );
    } catch (e) {
      d.metrics.pushes.inc({ result: isQuarryError(e) ? e.code : 'error' });
      // A small body is read and dropped, as clients expect an answer to a request they sent whole;
      // a large or unknown one is not read at all: the connection is closed after the answer.
      const declared = Number(req.headers['content-length'] ?? Number.NaN);
      if (!(declared <= SMALL_BODY)) ctx.closeAfter(reply);
      throw e;
    }
  };

  app.post('/api/v1/gems', { onRequest: pushGuard }, async (req, reply) => {
    let bytes: Buffer | undefined;
    if (req.isMultipart()) {
      for await (const part of req.parts()) {
        if (part.type === 'file' && part.fieldname === 'gem') bytes = await ctx.readPart(part, reply);
        else if (part.type === 'file') await ctx.readPart(part, reply);
      }
      if (!bytes) fail('bad_request', 'gem is not a file upload');
    } else {
      bytes = Buffer.isBuffer(req.body) ? req.body : undefined;
      if (!bytes || bytes.length === 0)
        fail(
          'bad_request',
          'The request body must be the .gem file (Content-Type: application/octet-stream)',
        );
    }
    const r = await ctx.push(bytes!, pushKeys.get(req));
    return reply.type(TEXT).send(r.message);
  });

  // Gem in a Box: multipart field `file`, optional `overwrite` (refused: published bytes are immutable).
  app.post('/upload', { onRequest: pushGuard }, async (req, reply) => {
    if (!req.isMultipart())
      fail('bad_request', 'No file selected: send multipart/form-data with a "file" field');
    let bytes: Buffer | undefined;
    let filename = '';
    for await (const part of req.parts()) {
      if (part.type === 'file' && part.fieldname === 'file') {
        bytes = await ctx.readPart(part, reply);
        filename = part.filename;
      } else if (part.type === 'file') await ctx.readPart(part, reply);
    }
    if (!bytes) fail('bad_request', 'No file selected');
    const r = await ctx.push(bytes!, pushKeys.get(req));
    const file = filename || `${r.name}-${r.version}${r.platform === 'ruby' ? '' : `-${r.platform}`}.gem`;
    return reply
      .type(TEXT)
      .send(
        r.alreadyPushed
          ? `Ignoring upload, you uploaded the same thing previously.\n`
          : `Gem ${file} received and indexed.\n`,
      );
  });

  const yankParams = (req: FastifyRequest) => {
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const query = req.query as Record<string, unknown>;
    const get = (k: string): string | undefined => {
      const v = body[k] ?? query[k];
      return typeof v === 'string' ? v : undefined;
    };
    const name = get('gem_name');
    const version = get('version');
    if (!name) fail('bad_request', 'gem_name is missing');
    if (!version) fail('bad_request', 'version is missing');
    if (!isValidGemName(name!)) fail('bad_request', `"${name}" is not a valid gem name`);
    return { name: name!, version: version!, platform: get('platform') };
  };
  app.delete('/api/v1/gems/yank', async (req, reply) => {
    const p = yankParams(req);
    await limited(req, () => d.keys.authorize(keyFrom(req.headers.authorization), 'yank', p.name));
    try {
      const msg = await d.gems.yank(p.name, p.version, p.platform);
      d.metrics.yanks.inc({ result: 'ok' });
      return reply.type(TEXT).send(msg);
    } catch (e) {
      d.metrics.yanks.inc({ result: isQuarryError(e) ? e.code : 'error' });
      throw e;
    }
  });

  // gem signin: basic auth with a configured user -> a new key, the body alone.
  const signin = async (req: FastifyRequest, reply: FastifyReply) => {
    limiter.check(req.ip);
    const creds = parseBasicAuth(req.headers.authorization);
    const user = creds ? await authenticateUser(d.config.auth.users, creds.name, creds.password) : null;
    if (!user) {
      limiter.fail(req.ip);
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Basic realm="Quarry"')
        .type(TEXT)
        .send('Access Denied. Invalid user name or password.\n');
    }
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const keyName = typeof body['name'] === 'string' ? body['name'] : `${user.name}-signin`;
    const created = await d.keys.create({ name: keyName, scopes: user.scopes });
    return reply.type(TEXT).send(created.key);
  };
  app.get('/api/v1/api_key', signin);
  app.post('/api/v1/api_key', signin);
}
