/** An in-process server on a temp data dir, for inject() tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../src/compose.ts';
import { composeServer } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';

export interface Harness {
  app: FastifyInstance;
  services: Services;
  dir: string;
  pushKey: string;
  yankKey: string;
  readKey: string;
  close(): Promise<void>;
}

export async function startHarness(extra: Record<string, unknown> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'quarry-http-'));
  const config = loadConfig({
    env: {},
    flags: { data: dir, log: { level: 'silent' }, upstreams: [], ...extra } as never,
  });
  const { app, services } = await composeServer(config, () => new Date('2024-01-01T00:00:00Z'));
  const pushKey = (await services.keys.create({ name: 'push', scopes: ['push'] })).key;
  const yankKey = (await services.keys.create({ name: 'yank', scopes: ['yank', 'push'] })).key;
  const readKey = (await services.keys.create({ name: 'read', scopes: ['read'] })).key;
  return {
    app,
    services,
    dir,
    pushKey,
    yankKey,
    readKey,
    async close() {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const push = (h: Harness, body: Buffer, key = h.pushKey) =>
  h.app.inject({
    method: 'POST',
    url: '/api/v1/gems',
    headers: { authorization: key, 'content-type': 'application/octet-stream' },
    payload: body,
  });

export const yank = (h: Harness, form: string, key = h.yankKey) =>
  h.app.inject({
    method: 'DELETE',
    url: '/api/v1/gems/yank',
    headers: { authorization: key, 'content-type': 'application/x-www-form-urlencoded' },
    payload: form,
  });

/** Serves the harness on a free loopback port; returns its URL (no trailing slash). */
export async function listen(h: Harness): Promise<string> {
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(h.app.server.address() as { port: number }).port}`;
}

/** The configuration of an upstream at `url`, as `quarry serve` and `quarry mirror` take it. */
export const upstreamAt = (url: string, name = 'up') => ({
  name,
  url,
  timeout_ms: 5000,
  max_age_ms: 0,
  fail_timeout_ms: 0,
  exclude: [] as string[],
  tls_verify: true,
});
