/**
 * quarry mirror --all from the mark of an earlier complete run: only the names on /versions lines
 * after it are resolved; the mark is recorded only by a run that completed with no failure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { composeMirror } from '../../src/compose.ts';
import type { MirrorOptions, MirrorPlan } from '../../src/services/mirror.ts';
import { changedNames, planKey } from '../../src/services/mirror-runs.ts';
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

  const run = (services: Harness['services'], o: Partial<MirrorOptions> = {}, plan = ALL) =>
    composeMirror(services, upstreamAt(url), {}).run(plan, { ...OPTS, ...o });

  it('a first run resolves every name and marks where /versions stood', async () => {
    const r = await run(mirror.services);
    assert.deepEqual([r.planned, r.fetched, r.failed.length, r.changedSince], [3, 3, 0, null]);
    const mark = await mirror.services.catalog.mirrorMark('up', KEY);
    const versions = (await upstream.app.inject({ url: '/versions' })).rawPayload;
    assert.equal(mark?.versionsSize, versions.length);
    assert.match(mark?.versionsCreatedAt ?? '', /^\d{4}-\d\d-\d\dT/);
  });

  it('a run with nothing new upstream resolves no name', async () => {
    const r = await run(mirror.services);
    assert.deepEqual([r.planned, r.fetched, r.present, r.changedSince?.names], [0, 0, 0, 0]);
  });

  it('after a push and a yank upstream, resolves those two names only; --sync-yanks has a mark of its own', async () => {
    assert.equal((await push(upstream, makeGem({ name: 'b', version: '2.0.0' }))).statusCode, 200);
    assert.equal((await yank(upstream, 'gem_name=c&version=1.0.0')).statusCode, 200);
    const r = await run(mirror.services);
    assert.deepEqual([r.changedSince?.names, r.planned, r.fetched, r.present], [2, 2, 1, 1]);
    // With --sync-yanks the plan differs: no mark yet, so every name, and the yank is synced.
    const s = await run(mirror.services, { syncYanks: true });
    assert.equal(s.changedSince, null);
    assert.deepEqual(s.yanked, ['c-1.0.0']);
    assert.ok(await mirror.services.catalog.mirrorMark('up', planKey(ALL, true)));
    assert.equal((await mirror.app.inject({ url: '/gems/c-1.0.0.gem' })).statusCode, 404);
  });

  it('--recheck resolves every name, and marks again', async () => {
    const before = await mirror.services.catalog.mirrorMark('up', KEY);
    const r = await run(mirror.services, { recheck: true });
    assert.equal(r.changedSince, null);
    // a 1.0.0, b 1.0.0, b 2.0.0: c has no live version upstream.
    assert.deepEqual([r.planned, r.present, r.fetched], [3, 3, 0]);
    const after = await mirror.services.catalog.mirrorMark('up', KEY);
    assert.ok(after && before && after.recordedAt >= before.recordedAt);
  });

  it('a mark of another /versions (rewritten upstream, or not a line start) is not used', async () => {
    const mark = (await mirror.services.catalog.mirrorMark('up', KEY))!;
    for (const stale of [
      { ...mark, versionsCreatedAt: '2000-01-01T00:00:00Z' },
      { ...mark, versionsSize: mark.versionsSize - 3 },
      { ...mark, versionsSize: mark.versionsSize + 1 },
    ]) {
      await mirror.services.catalog.recordMirrorMark(stale);
      const r = await run(mirror.services);
      assert.equal(r.changedSince, null, JSON.stringify(stale));
      assert.equal(r.planned, 3);
      const now = await mirror.services.catalog.mirrorMark('up', KEY);
      assert.deepEqual(
        [now?.versionsCreatedAt, now?.versionsSize],
        [mark.versionsCreatedAt, mark.versionsSize],
      );
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
      assert.equal(await here.services.catalog.mirrorMark('up', KEY), null);
      const again = await run(here.services);
      assert.equal(again.changedSince, null);
      assert.equal(again.planned, 3);
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
        assert.equal(r.fetched, 3);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      await run(here.services, { dryRun: true });
      await run(
        here.services,
        {},
        { ...ALL, all: false, roots: [{ name: 'a', requirement: [] }], follow: true },
      );
      assert.equal(await here.services.catalog.mirrorMark('up', KEY), null);
      const named = planKey(
        { ...ALL, all: false, roots: [{ name: 'a', requirement: [] }], follow: true },
        false,
      );
      assert.equal(await here.services.catalog.mirrorMark('up', named), null);
    } finally {
      await here.close();
    }
  });
});
