/**
 * quarry mirror --all from the mark of an earlier complete run: only the names on /versions lines
 * after it are resolved; the mark is recorded only by a run that completed with no failure, no
 * missing name and no /info older than /versions, and used only while /versions starts with the
 * bytes it was made from.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { composeMirror } from '../../src/compose.ts';
import type { MirrorOptions, MirrorPlan } from '../../src/services/mirror.ts';
import { changedNames, namesSinceMark, planKey } from '../../src/services/mirror-marks.ts';
import type { Harness } from '../http/harness.ts';
import { listen, push, startHarness, upstreamAt, yank } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';

const ALL: MirrorPlan = {
  roots: [],
  all: true,
  latest: 0,
  platforms: ['ruby'],
  pre: false,
  exclude: [],
  follow: false,
};
const OPTS: MirrorOptions = { concurrency: 4, retries: 1, dryRun: false, syncYanks: false };
const KEY = planKey(ALL, false);

describe('changedNames', () => {
  const body = Buffer.from(
    'created_at: 2024-01-01T00:00:00Z\n---\na 1.0.0 m1\nb 1.0.0 m2\na 2.0.0 m3\nc -1.0.0 m4\n',
  );
  const after = (line: string) => body.indexOf(line);

  it('lists each name on the lines from a line start, once, in order', () => {
    assert.deepEqual([...changedNames(body, after('b 1.0.0'))!], ['b', 'a', 'c']);
    assert.deepEqual([...changedNames(body, after('c -1.0.0'))!], ['c']);
    assert.deepEqual([...changedNames(body, body.length)!], []);
  });

  it('is null for an offset that is not a line start of this body', () => {
    for (const from of [0, -1, 1.5, after('b 1.0.0') + 1, body.length + 1, Number.NaN])
      assert.equal(changedNames(body, from), null, String(from));
  });
});

describe('namesSinceMark', () => {
  const body = Buffer.from('created_at: 2024-01-01T00:00:00Z\n---\na 1.0.0 m1\nb 1.0.0 m2\n');
  const size = body.indexOf('b 1.0.0');
  const sha = createHash('sha256').update(body.subarray(0, size)).digest('hex');

  it('gives the names after the mark while the body starts with the marked bytes', () => {
    assert.deepEqual([...namesSinceMark(body, { versionsSize: size, versionsSha256: sha })!], ['b']);
  });

  it('is null for a body that does not (same size and created_at, other lines)', () => {
    const other = Buffer.from(body.toString().replace('a 1.0.0 m1', 'x 1.0.0 m1'));
    assert.equal(namesSinceMark(other, { versionsSize: size, versionsSha256: sha }), null);
    assert.equal(namesSinceMark(body, { versionsSize: size + 1, versionsSha256: sha }), null);
  });
});

/**
 * An upstream in front of another: it answers 503 for the paths in `failing` (the mirror then
 * serves its stored copy of them), and runs a path's hook once before forwarding it.
 */
async function front(target: string): Promise<{
  url: string;
  failing: Set<string>;
  hooks: Map<string, () => Promise<void>>;
  close(): Promise<void>;
}> {
  const failing = new Set<string>();
  const hooks = new Map<string, () => Promise<void>>();
  const server: Server = createServer(async (req, res) => {
    if (failing.has(req.url ?? '')) {
      res.writeHead(503).end('down');
      return;
    }
    const hook = hooks.get(req.url ?? '');
    if (hook) {
      hooks.delete(req.url ?? '');
      await hook();
    }
    const headers: Record<string, string> = {};
    for (const h of ['range', 'if-none-match', 'accept-encoding'])
      if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
    const r = await fetch(`${target}${req.url}`, { method: req.method ?? 'GET', headers });
    const out: Record<string, string> = {};
    r.headers.forEach((v, k) => {
      if (k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
    });
    const bytes = Buffer.from(await r.arrayBuffer());
    out['content-length'] = String(bytes.length);
    res.writeHead(r.status, out).end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    failing,
    hooks,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('quarry mirror --all from the mark of a complete run', () => {
  let upstream: Harness;
  let mirror: Harness;
  let url: string;
  before(async () => {
    upstream = await startHarness();
    for (const name of ['a', 'b', 'c'])
      assert.equal((await push(upstream, makeGem({ name, version: '1.0.0' }))).statusCode, 200);
    url = await listen(upstream);
    mirror = await startHarness();
  });
  after(async () => {
    await mirror?.close();
    await upstream?.close();
  });

  const run = (
    services: Harness['services'],
    o: Partial<MirrorOptions> = {},
    plan = ALL,
    config = upstreamAt(url),
  ) => composeMirror(services, config, {}).run(plan, { ...OPTS, ...o });
  const versionsBody = async () => (await upstream.app.inject({ url: '/versions' })).rawPayload;
  const markOf = (h: Harness, key = KEY) => h.services.catalog.mirrorMark('up', key);
  const liveHere = async (name: string) =>
    (await mirror.services.catalog.liveVersions(name)).map((v) => v.number).sort();

  it('a first run resolves every name and marks where /versions stood', async () => {
    const r = await run(mirror.services);
    assert.deepEqual(
      [r.planned, r.fetched, r.failed, r.missing, r.stale, r.changedSince],
      [3, 3, [], [], [], null],
    );
    const body = await versionsBody();
    const mark = await markOf(mirror);
    assert.equal(mark?.versionsSize, body.length);
    assert.equal(mark?.versionsSha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(mark?.localSeq, await mirror.services.catalog.versionsLogSeq());
  });

  it('a run with nothing new upstream resolves no name', async () => {
    const r = await run(mirror.services);
    assert.deepEqual([r.planned, r.fetched, r.present, r.changedSince?.names], [0, 0, 0, 0]);
  });

  it('after a push and a yank of the last version upstream: those two names only, and the mark moves on', async () => {
    assert.equal((await push(upstream, makeGem({ name: 'b', version: '2.0.0' }))).statusCode, 200);
    assert.equal((await yank(upstream, 'gem_name=c&version=1.0.0')).statusCode, 200);
    const r = await run(mirror.services);
    assert.equal(r.changedSince?.names, 2);
    // c has no live version left upstream: nothing to resolve, and not missing.
    assert.deepEqual([r.planned, r.fetched, r.present, r.missing, r.failed], [2, 1, 1, [], []]);
    assert.equal((await markOf(mirror))?.versionsSize, (await versionsBody()).length);
    const again = await run(mirror.services);
    assert.deepEqual([again.changedSince?.names, again.planned], [0, 0]);
  });

  it('--sync-yanks has a mark of its own (a full run first), and yanks from it', async () => {
    const s = await run(mirror.services, { syncYanks: true });
    assert.equal(s.changedSince, null);
    assert.deepEqual(s.yanked, ['c-1.0.0']);
    assert.ok(await markOf(mirror, planKey(ALL, true)));
    assert.equal((await mirror.app.inject({ url: '/gems/c-1.0.0.gem' })).statusCode, 404);
    assert.equal((await yank(upstream, 'gem_name=b&version=1.0.0')).statusCode, 200);
    const t = await run(mirror.services, { syncYanks: true });
    assert.deepEqual([t.changedSince?.names, t.yanked], [1, ['b-1.0.0']]);
    assert.deepEqual(await liveHere('b'), ['2.0.0']);
  });

  it('--sync-yanks from a mark also checks what was recorded here after it (another run, late)', async () => {
    // Upstream: d 0.9.0 live, d 1.0.0 pushed and yanked, both before the mirror's next run.
    const d1 = makeGem({ name: 'd', version: '1.0.0' });
    for (const g of [makeGem({ name: 'd', version: '0.9.0' }), d1])
      assert.equal((await push(upstream, g)).statusCode, 200);
    assert.equal((await yank(upstream, 'gem_name=d&version=1.0.0')).statusCode, 200);
    const s = await run(mirror.services, { syncYanks: true });
    assert.deepEqual([s.fetched, s.yanked], [1, []]);
    // Another run, which read /versions before the yank, records d 1.0.0 from this upstream now.
    const staged = await mirror.services.gems.stageMirrored(d1, 'up');
    assert.equal(
      ((await mirror.services.gems.recordStaged([staged]))[0] as { kind?: string }).kind ?? 'ok',
      'ok',
    );
    assert.deepEqual(await liveHere('d'), ['0.9.0', '1.0.0']);
    // Nothing new upstream; what was recorded here after the mark is checked, and yanked.
    const t = await run(mirror.services, { syncYanks: true });
    assert.deepEqual([t.changedSince?.names, t.yanked], [0, ['d-1.0.0']]);
    assert.deepEqual(await liveHere('d'), ['0.9.0']);
  });

  it('--recheck resolves every name, and marks again', async () => {
    const r = await run(mirror.services, { recheck: true });
    assert.equal(r.changedSince, null);
    // What is live upstream: a 1.0.0, b 2.0.0, d 0.9.0; all here.
    assert.deepEqual([r.planned, r.present, r.fetched, r.missing], [3, 3, 0, []]);
    assert.equal((await markOf(mirror))?.versionsSize, (await versionsBody()).length);
  });

  it('a mark of other bytes (rewritten upstream, another server) or not at a line start is not used', async () => {
    const mark = (await markOf(mirror))!;
    for (const stale of [
      { ...mark, versionsSha256: '0'.repeat(64) },
      { ...mark, versionsSize: mark.versionsSize - 3 },
      { ...mark, versionsSize: mark.versionsSize + 1 },
    ]) {
      await mirror.services.catalog.recordMirrorMark(stale);
      const r = await run(mirror.services);
      assert.equal(r.changedSince, null, JSON.stringify(stale));
      assert.equal(r.planned, 3);
      const now = await markOf(mirror);
      assert.deepEqual([now?.versionsSize, now?.versionsSha256], [mark.versionsSize, mark.versionsSha256]);
    }
  });

  it('an /info older than /versions (the upstream failed for it) records no mark; the next run fetches what it missed', async () => {
    const f = await front(url);
    try {
      const config = { ...upstreamAt(f.url) };
      const before = (await markOf(mirror))!;
      assert.equal((await push(upstream, makeGem({ name: 'a', version: '2.0.0' }))).statusCode, 200);
      f.failing.add('/info/a');
      const r = await run(mirror.services, {}, ALL, config);
      assert.deepEqual([r.changedSince?.names, r.stale, r.fetched, r.failed], [1, ['a'], 0, []]);
      assert.deepEqual(await markOf(mirror), before, 'the mark stays');
      f.failing.clear();
      const l = await run(mirror.services, {}, ALL, config);
      assert.deepEqual([l.changedSince?.names, l.stale, l.fetched], [1, [], 1]);
      assert.deepEqual(await liveHere('a'), ['1.0.0', '2.0.0']);
    } finally {
      await f.close();
    }
  });

  it('an /info newer than /versions (a push upstream during the run) is not stale: the run is marked', async () => {
    const here = await startHarness();
    const f = await front(url);
    try {
      // a 3.0.0 is pushed upstream after the mirror read /versions, before it asks for /info/a.
      f.hooks.set('/info/a', async () => {
        assert.equal((await push(upstream, makeGem({ name: 'a', version: '3.0.0' }))).statusCode, 200);
      });
      const r = await run(here.services, {}, ALL, upstreamAt(f.url));
      assert.deepEqual([r.stale, r.missing, r.failed], [[], [], []]);
      assert.deepEqual((await here.services.catalog.liveVersions('a')).map((v) => v.number).sort(), [
        '1.0.0',
        '2.0.0',
        '3.0.0',
      ]);
      assert.ok(await markOf(here));
    } finally {
      await f.close();
      await here.close();
    }
  });

  it('a run with a failure records no mark, and the next run resolves every name again', async () => {
    const here = await startHarness();
    try {
      // a 1.0.0 was pushed here with other bytes: the mirror's copy of it fails.
      assert.equal(
        (await push(here, makeGem({ name: 'a', version: '1.0.0', summary: 'here' }))).statusCode,
        200,
      );
      const r = await run(here.services);
      assert.deepEqual(
        r.failed.map((f) => f.file),
        ['a-1.0.0'],
      );
      assert.equal(await markOf(here), null);
      const again = await run(here.services);
      assert.equal(again.changedSince, null);
      assert.ok(again.planned > 0);
      assert.equal(again.present, again.planned - 1);
    } finally {
      await here.close();
    }
  });

  it("names the upstream's configuration excludes are excluded, not missing, and the run is marked", async () => {
    const here = await startHarness();
    try {
      const r = await run(here.services, {}, ALL, { ...upstreamAt(url), exclude: ['d'] });
      assert.deepEqual([r.excluded, r.missing, r.failed], [['d'], [], []]);
      assert.ok(await markOf(here, planKey(ALL, false, ['d'])));
      // The exclude lifted: another plan, so every name is resolved and d is copied.
      const all = await run(here.services);
      assert.equal(all.changedSince, null);
      assert.equal((await here.services.catalog.liveVersions('d')).length, 1);
    } finally {
      await here.close();
    }
  });

  it('does not mark a run into a folder, a dry run, or a run of named gems', async () => {
    const here = await startHarness();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'quarry-mirror-marks-'));
      try {
        const r = await run(here.services, { to: dir });
        assert.ok(r.fetched > 0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      await run(here.services, { dryRun: true });
      const named = { ...ALL, all: false, roots: [{ name: 'a', requirement: [] }], follow: true };
      await run(here.services, {}, named);
      // planKey ignores the roots: a named run would share the key, but no named run is marked.
      assert.equal(await markOf(here), null);
    } finally {
      await here.close();
    }
  });
});
