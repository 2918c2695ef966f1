/**
 * A caching proxy in process, for fault tests: its own data dir (or a given one, to restart on a
 * warm cache), upstreams from the caller, and a wall clock the test can move forward (so cached
 * index data goes stale without sleeping). The upstream cache reads the base clock, so advance()
 * moves it for every service.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { gemBlobKey } from '../../src/blobs/keys.ts';
import type { Services } from '../../src/compose.ts';
import { composeServer } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load.ts';

export interface ProxyHarness {
  app: FastifyInstance;
  services: Services;
  dir: string;
  /** Moves the clock forward. */
  advance(ms: number): void;
  /** Closes the server; removes the data dir unless keepDir. */
  close(o?: { keepDir?: boolean }): Promise<void>;
}

export interface ProxyOptions {
  upstreams: Record<string, unknown>[];
  offline?: boolean;
  /** Reuse this data dir (a warm cache from an earlier proxy). */
  dir?: string;
}

export async function startProxy(o: ProxyOptions): Promise<ProxyHarness> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'quarry-proxy-')));
  let skew = 0;
  const config = loadConfig({
    env: {},
    flags: {
      data: dir,
      log: { level: 'silent' },
      upstreams: o.upstreams,
      offline: o.offline ?? false,
    } as never,
  });
  const { app, services } = await composeServer(config, () => new Date(Date.now() + skew));
  return {
    app,
    services,
    dir,
    advance(ms) {
      skew += ms;
    },
    async close(c = {}) {
      await app.close();
      if (!c.keepDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Problems in a proxy's cache: a doc record whose body is missing or does not hash to its recorded
 * sha256 (or size), a body or .gem blob whose bytes differ from its name, a cached_gems row without
 * its blob, and leftovers of interrupted writes. Empty when the cache is whole.
 */
export async function cacheProblems(p: ProxyHarness): Promise<string[]> {
  const { blobs, catalog } = p.services;
  const problems: string[] = [];
  for await (const e of blobs.list('upstream/', { md5: false })) {
    const body = await blobs.get(e.key);
    if (!body) {
      problems.push(`${e.key}: listed but unreadable`);
      continue;
    }
    const doc = /^upstream\/[^/]+\/docs\/(.+)\.json$/.exec(e.key);
    if (doc) {
      // A JSON record, followed by its body after a newline when the body is small.
      const nl = body.indexOf(10);
      let meta: { sha256?: string; size?: number };
      try {
        meta = JSON.parse(body.toString('utf8', 0, nl < 0 ? body.length : nl)) as typeof meta;
      } catch {
        problems.push(`${e.key}: not JSON`);
        continue;
      }
      const bodyKey = e.key.replace(/\/docs\/.+$/, `/bodies/${meta.sha256}`);
      const b = nl >= 0 ? body.subarray(nl + 1) : await blobs.get(bodyKey);
      if (!b) problems.push(`${e.key}: body ${bodyKey} missing`);
      else if (sha256Hex(b) !== meta.sha256) problems.push(`${e.key}: body does not hash to ${meta.sha256}`);
      else if (b.length !== meta.size)
        problems.push(`${e.key}: body is ${b.length} bytes, recorded ${meta.size}`);
      continue;
    }
    const bodyName = /^upstream\/[^/]+\/bodies\/([0-9a-f]{64})$/.exec(e.key);
    if (bodyName && sha256Hex(body) !== bodyName[1]) problems.push(`${e.key}: bytes do not match the name`);
  }
  for await (const e of blobs.list('gems/', { md5: false })) {
    const m = /([0-9a-f]{64})\.gem$/.exec(e.key);
    const body = await blobs.get(e.key);
    if (!m || !body || sha256Hex(body) !== m[1]) problems.push(`${e.key}: bytes do not match the name`);
  }
  for (const g of await catalog.listCachedGems()) {
    const body = await blobs.get(gemBlobKey(g.sha256));
    if (!body || sha256Hex(body) !== g.sha256 || body.length !== g.size) {
      problems.push(`cached_gems ${g.file}: blob missing or wrong`);
    }
  }
  if (blobs.tempFiles) for await (const t of blobs.tempFiles()) problems.push(`leftover ${t.path}`);
  for (const f of await readdir(p.dir, { recursive: true })) {
    if (/(^|\/)\.tmp-/.test(String(f))) problems.push(`leftover file ${f}`);
  }
  return problems;
}
