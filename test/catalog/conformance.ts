/**
 * One suite that every catalog driver runs (SQLite in memory, SQLite shared by processes,
 * PostgreSQL). The functional cases pin each outcome of the domain-level writes; the concurrency
 * case runs 200 writes from four writers (worker processes, when the target can be shared) while
 * a reader polls the /versions log, then checks what a client of /versions and /info relies on.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { baseFor, infoFor, infoFromLines, infoMd5For } from '../../src/catalog/derive.ts';
import { openCatalog } from '../../src/catalog/open.ts';
import type {
  Catalog,
  CatalogReadModel,
  NewApiKey,
  VersionRecord,
  VersionsLogRow,
} from '../../src/catalog/types.ts';
import { QuarryError } from '../../src/errors.ts';
import { normalizePlatform } from '../../src/gem/platform.ts';
import { isoSeconds } from '../../src/index/compact.ts';
import type { AgentCatalog } from './agents.ts';
import { localAgent, WorkerProcess } from './agents.ts';
import type { OpResult, ReaderReport, VersionOp } from './fixtures.ts';
import { concurrencyPlan, currentGem, INFO, newVersion, opKey, replayVersions, shaFor } from './fixtures.ts';

/** Where a fresh, empty catalog lives. */
export interface CatalogLocation {
  /** What openCatalog opens: `sqlite::memory:`, `sqlite:/path`, `postgres://…`. */
  url: string;
  cleanup(): Promise<void>;
}

export interface CatalogTarget {
  /** Whether another process opening a url sees the same catalog (not so for memory). */
  shared: boolean;
  /** A fresh, empty catalog's location. */
  locate(): Promise<CatalogLocation>;
}

/** A clock the test moves. */
class Clock {
  private t = new Date('2024-06-01T00:00:00Z');
  readonly now = (): Date => new Date(this.t);
  /** Moves on by `seconds` and returns the new time. */
  tick(seconds = 60): Date {
    this.t = new Date(this.t.getTime() + seconds * 1000);
    return this.now();
  }
}

interface Ctx {
  /** The catalog this process opened, on the test clock. */
  c: Catalog;
  clock: Clock;
  /** The same catalog as opened by another process (this one's `c` when it cannot be shared). */
  peer(): Promise<Catalog>;
}

/** The read model of a catalog (KyselyCatalog, or a worker's proxy of one). */
const readModel = (c: Catalog): CatalogReadModel => c as unknown as CatalogReadModel;

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

const tokenOf = (v: Pick<VersionRecord, 'number' | 'platform'>): string =>
  v.platform === 'ruby' ? v.number : `${v.number}-${v.platform}`;

const fullNameOf = (name: string, number: string, platform: string): string =>
  platform === 'ruby' ? `${name}-${number}` : `${name}-${number}-${platform}`;

async function created(c: Catalog, name: string, number: string, platform = 'ruby'): Promise<VersionRecord> {
  const o = await c.recordPush(newVersion(name, number, { platform }));
  assert.equal(o.kind, 'created', `${name} ${number} ${platform}: ${o.kind}`);
  return (o as { record: VersionRecord }).record;
}

const key = (hash: string, name = 'ci'): NewApiKey => ({
  name,
  prefix: hash.slice(0, 8),
  hash,
  scopes: ['push', 'yank'],
  gemPattern: 'rack*',
  expiresAt: '2030-01-01T00:00:00Z',
  createdAt: '2024-06-01T00:00:00Z',
});

export function catalogConformance(name: string, target: CatalogTarget): void {
  const { shared, locate } = target;
  describe(`catalog conformance: ${name}`, () => {
    // Worker processes live as long as the suite; the first plays the peer of the functional cases.
    const pool: Promise<WorkerProcess>[] = [];
    const workers = (n: number): Promise<WorkerProcess[]> => {
      while (pool.length < n) pool.push(WorkerProcess.start());
      return Promise.all(pool.slice(0, n));
    };
    after(async () => {
      await Promise.all(pool.map(async (w) => (await w).stop()));
    });

    const withCatalog = async (fn: (ctx: Ctx) => Promise<void>): Promise<void> => {
      const loc = await locate();
      const clock = new Clock();
      const c = await openCatalog(loc.url, clock.now, INFO);
      let peer: AgentCatalog | undefined;
      try {
        await fn({
          c,
          clock,
          peer: async () => {
            if (!shared) return c;
            peer ??= await (await workers(1))[0]!.open(loc.url);
            return peer.catalog;
          },
        });
      } finally {
        await peer?.close().catch(() => {});
        await c.close();
        await loc.cleanup();
      }
    };

    it('records a push and finds it by name, file name and platform', () =>
      withCatalog(async ({ c, peer }) => {
        const v = newVersion('rack', '1.0', { pushedBy: null });
        assert.equal(await c.previewPush(v), null);
        const o = await c.recordPush(v);
        assert.equal(o.kind, 'created');
        const r = (o as { record: VersionRecord }).record;
        assert.equal(typeof r.id, 'number');
        const { pushedBy: _, ...fields } = v;
        assert.deepEqual({ ...r, id: 0 }, { origin: null, ...fields, id: 0, yankedAt: null });
        assert.ok(r.spec.date instanceof Date);

        const win = await created(c, 'rack', '1.0', 'i386-mingw32');
        assert.equal(win.gemPlatform, 'x86-mingw32');
        const pre = await created(c, 'rack', '2.0.pre');
        assert.equal(pre.prerelease, true);

        const p = await peer();
        assert.deepEqual(await p.findVersion('rack', '1.0', 'ruby'), r);
        assert.deepEqual(await c.findByFullName('rack-1.0'), r);
        assert.deepEqual(await p.findByFullName('rack-1.0-x86-mingw32'), win);
        assert.deepEqual(await c.findByFullName('rack-1.0-i386-mingw32'), win);
        assert.equal(await c.findByFullName('rack-9.9'), null);
        assert.equal(await c.findVersion('rack', '1.0', 'java'), null);
        assert.equal(await c.findVersion('Rack', '1.0', 'ruby'), null);
        assert.deepEqual(
          (await c.liveVersions('rack')).map(tokenOf),
          ['1.0', '1.0-i386-mingw32', '2.0.pre'],
          'publication order',
        );
        assert.deepEqual(
          (await p.allVersions('rack')).map((x) => x.id),
          [pre.id, win.id, r.id],
          'newest push first',
        );
        assert.deepEqual(await c.liveNames(), ['rack']);
        const refs = await c.blobRefs();
        assert.deepEqual(new Set(refs.map((b) => b.sha256)), new Set([r.sha256, win.sha256, pre.sha256]));
        for (const b of refs) assert.equal(typeof b.size, 'number');
      }));

    it('answers a repeated push with exists, naming the stored sha256, and changes nothing', () =>
      withCatalog(async ({ c, peer }) => {
        const first = await created(c, 'rake', '13.0.6');
        const before = await c.state();
        const p = await peer();
        const again = await p.recordPush(newVersion('rake', '13.0.6'));
        assert.equal(again.kind, 'exists');
        assert.deepEqual((again as { record: VersionRecord }).record, first);
        const other = newVersion('rake', '13.0.6', { variant: 'other bytes' });
        assert.notEqual(other.sha256, first.sha256);
        for (const cat of [c, p]) {
          const o = await cat.recordPush(other);
          assert.equal(o.kind, 'exists');
          assert.equal((o as { record: VersionRecord }).record.sha256, first.sha256);
          assert.deepEqual(await cat.previewPush(other), o);
        }
        // A yanked version still exists.
        await c.recordYank('rake', '13.0.6', 'ruby', '2024-06-02T00:00:00Z');
        const yanked = await p.recordPush(newVersion('rake', '13.0.6'));
        assert.equal(yanked.kind, 'exists');
        assert.equal((yanked as { record: VersionRecord }).record.yankedAt, '2024-06-02T00:00:00Z');
        assert.equal((await c.state()).generation, before.generation + 1, 'only the yank changed anything');
        const log = await c.versionsLogSince(0);
        assert.equal(log.length, 2);
        // The newest log row's seq, as another process sees it, and the names after a seq.
        assert.equal(await p.versionsLogSeq(), log[1]!.seq);
        assert.deepEqual(await p.versionsLogNamesSince(0), ['rake']);
        assert.deepEqual(await p.versionsLogNamesSince(log[1]!.seq), []);
      }));

    it('refuses another letter case of a name, live or fully yanked, as case_conflict', () =>
      withCatalog(async ({ c, peer }) => {
        await created(c, 'Rack', '1.0');
        const p = await peer();
        const lower = newVersion('rack', '2.0');
        const live = { kind: 'case_conflict', owner: 'Rack', live: true };
        assert.deepEqual(await c.recordPush(lower), live);
        assert.deepEqual(await p.previewPush(lower), live);
        assert.equal((await c.recordYank('Rack', '1.0', 'ruby', '2024-06-02T00:00:00Z')).kind, 'done');
        const gone = { kind: 'case_conflict', owner: 'Rack', live: false };
        assert.deepEqual(await p.recordPush(lower), gone);
        assert.deepEqual(await c.recordPush(newVersion('RACK', '1.0')), gone);
        assert.deepEqual(await c.previewPush(lower), gone);
        assert.deepEqual(await c.recordYank('rack', '1.0', 'ruby', '2024-06-02T00:00:00Z'), {
          kind: 'no_gem',
        });
        assert.equal(await c.findVersion('rack', '2.0', 'ruby'), null);
        // The owner's own name still pushes.
        await created(p, 'Rack', '2.0');
      }));

    it('refuses a version equal but for trailing zeros as canonical_conflict', () =>
      withCatalog(async ({ c, peer }) => {
        const one = await created(c, 'json', '1.0');
        const p = await peer();
        for (const n of ['1.0.0', '1', '1.0.0.0']) {
          const o = await p.recordPush(newVersion('json', n));
          assert.equal(o.kind, 'canonical_conflict', n);
          assert.deepEqual((o as { record: VersionRecord }).record, one);
          assert.deepEqual(await c.previewPush(newVersion('json', n)), o);
        }
        // Another platform is another version; a yanked one still conflicts.
        await created(c, 'json', '1.0.0', 'java');
        await c.recordYank('json', '1.0', 'ruby', '2024-06-02T00:00:00Z');
        assert.equal((await c.recordPush(newVersion('json', '1.0.0'))).kind, 'canonical_conflict');
        assert.deepEqual((await c.allVersions('json')).map(tokenOf), ['1.0.0-java', '1.0']);
      }));

    it('recordPushes answers each version as recordPush would in turn, with one log row per gem', () =>
      withCatalog(async ({ c, peer }) => {
        await created(c, 'old', '1.0');
        await created(c, 'Cased', '1.0');
        const before = await c.state();
        const p = await peer();
        const batch = [
          newVersion('fresh', '1.0'),
          newVersion('fresh', '1.1', { platform: 'x86-mingw32' }),
          newVersion('old', '2.0'),
          newVersion('fresh', '1.0'), // the batch's own first version: exists
          newVersion('old', '1.0', { variant: 'other bytes' }), // exists, with the stored sha256
          newVersion('cased', '2.0'), // case_conflict
          newVersion('old', '2.0.0'), // canonical_conflict with the 2.0 just above
          newVersion('fresh', '1.1', { platform: 'i386-mingw32' }), // file_conflict with 1.1-x86-mingw32
          newVersion('fresh', '1.2'),
        ];
        const out = await p.recordPushes(batch);
        assert.deepEqual(
          out.map((o) => o.kind),
          [
            'created',
            'created',
            'created',
            'exists',
            'exists',
            'case_conflict',
            'canonical_conflict',
            'file_conflict',
            'created',
          ],
        );
        const fresh = await c.findVersion('fresh', '1.0', 'ruby');
        assert.deepEqual((out[0] as { record: VersionRecord }).record, fresh);
        assert.deepEqual((out[3] as { record: VersionRecord }).record, fresh);
        assert.equal((out[4] as { record: VersionRecord }).record.sha256, newVersion('old', '1.0').sha256);
        assert.deepEqual(out[5], { kind: 'case_conflict', owner: 'Cased', live: true });
        assert.equal((out[6] as { record: VersionRecord }).record.number, '2.0');
        assert.equal((out[7] as { record: VersionRecord }).record.platform, 'x86-mingw32');
        assert.deepEqual((await c.liveVersions('fresh')).map(tokenOf), ['1.0', '1.1-x86-mingw32', '1.2']);
        // One transaction: one generation bump, one log row per changed gem, in first-change order,
        // each with the gem's /info MD5 after the whole batch.
        assert.equal((await c.state()).generation, before.generation + 1);
        const log = (await c.versionsLogSince(0)).slice(2);
        assert.deepEqual(
          log.map(({ seq: _, ...r }) => r),
          [
            {
              name: 'fresh',
              tokens: '1.0,1.1-x86-mingw32,1.2',
              infoMd5: infoMd5For(await c.liveVersions('fresh'), INFO),
            },
            { name: 'old', tokens: '2.0', infoMd5: infoMd5For(await c.liveVersions('old'), INFO) },
          ],
        );
        // Nothing new: nothing logged, no bump.
        const again = await c.recordPushes(batch.slice(0, 3));
        assert.deepEqual(
          again.map((o) => o.kind),
          ['exists', 'exists', 'exists'],
        );
        assert.deepEqual(await c.recordPushes([]), []);
        assert.equal((await c.state()).generation, before.generation + 1);
        assert.equal((await c.versionsLogSince(0)).length, 4);
      }));

    if (shared) {
      it('recordPushes from 4 processes on overlapping gems, beside single pushes: no deadlock, each version once, the log replays to the catalog', async () => {
        const loc = await locate();
        const agents: AgentCatalog[] = [];
        let c: Catalog | undefined;
        try {
          agents.push(...(await openAll(await workers(4), loc.url)));
          c = await openCatalog(loc.url, () => new Date(), INFO);
          await c.ensureVersionsBase(new Date('2024-01-01T00:00:00Z'));
          const names = Array.from({ length: 12 }, (_, i) => `batch-${i}`);
          // Each writer: 6 batches of 8 versions over every name, in its own order; some single pushes.
          const runs = agents.map(async (a, w) => {
            const outcomes: string[] = [];
            for (let b = 0; b < 6; b++) {
              const vs = Array.from({ length: 8 }, (_, i) => {
                const name = names[(w * 5 + b * 7 + i * (w + 1)) % names.length]!;
                return newVersion(name, `${b}.${i % 4}`);
              });
              for (const o of await a.catalog.recordPushes(vs)) outcomes.push(o.kind);
              const single = await a.catalog.recordPush(newVersion(names[(w + b) % names.length]!, `9.${b}`));
              outcomes.push(single.kind);
            }
            return outcomes;
          });
          const outcomes = (await Promise.all(runs)).flat();
          assert.ok(
            outcomes.every((k) => k === 'created' || k === 'exists'),
            `only created and exists: ${[...new Set(outcomes)]}`,
          );
          let versions = 0;
          for (const n of names) versions += (await c.liveVersions(n)).length;
          assert.equal(outcomes.filter((k) => k === 'created').length, versions, 'each version created once');
          const base = await c.versionsBase();
          const log = await c.versionsLogSince(0);
          for (const [i, row] of log.entries()) if (i > 0) assert.ok(row.seq > log[i - 1]!.seq);
          const replayed = replayVersions(base!.body, log);
          for (const n of names) {
            if ((await c.liveVersions(n)).length === 0) continue;
            assert.deepEqual(
              replayed.get(n),
              await currentGem(c, n),
              `${n}: /versions replays to the catalog`,
            );
          }
        } finally {
          await Promise.all(agents.map((a) => a.close().catch(() => {})));
          await c?.close();
          await loc.cleanup();
        }
      });
    }

    it('yanks and unyanks: no_gem, no_version, unchanged and done', () =>
      withCatalog(async ({ c, peer }) => {
        const at = '2024-06-02T03:04:05Z';
        assert.deepEqual(await c.recordYank('nope', '1.0', 'ruby', at), { kind: 'no_gem' });
        assert.deepEqual(await c.recordUnyank('nope', '1.0', 'ruby'), { kind: 'no_gem' });
        const ruby = await created(c, 'yk', '1.0');
        const java = await created(c, 'yk', '1.0', 'java');
        const p = await peer();
        assert.deepEqual(await p.recordYank('yk', '2.0', 'ruby', at), { kind: 'no_version' });
        assert.deepEqual(await c.recordYank('yk', '1.0', 'x86-linux', at), { kind: 'no_version' });
        assert.deepEqual(await c.recordUnyank('yk', '2.0', 'ruby'), { kind: 'no_version' });

        assert.deepEqual(await p.recordYank('yk', '1.0', 'java', at), {
          kind: 'done',
          record: { ...java, yankedAt: at },
        });
        assert.deepEqual(await c.recordYank('yk', '1.0', 'java', '2024-07-01T00:00:00Z'), {
          kind: 'unchanged',
          record: { ...java, yankedAt: at },
        });
        assert.deepEqual(await c.recordUnyank('yk', '1.0', 'ruby'), { kind: 'unchanged', record: ruby });
        assert.deepEqual((await p.liveVersions('yk')).map(tokenOf), ['1.0']);
        assert.deepEqual((await c.findVersion('yk', '1.0', 'java'))?.yankedAt, at);
        assert.deepEqual((await c.findByFullName('yk-1.0-java'))?.yankedAt, at);

        assert.deepEqual(await c.recordUnyank('yk', '1.0', 'java'), { kind: 'done', record: java });
        assert.deepEqual(await p.recordUnyank('yk', '1.0', 'java'), { kind: 'unchanged', record: java });
        assert.deepEqual((await c.liveVersions('yk')).map(tokenOf), ['1.0', '1.0-java']);
        assert.equal((await c.allVersions('yk')).length, 2);
      }));

    it('logs every change in seq order: its tokens and the /info MD5 after it', () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        const expected: Omit<VersionsLogRow, 'seq'>[] = [];
        const expect = async (name: string, tokens: string) =>
          expected.push({ name, tokens, infoMd5: infoMd5For(await c.liveVersions(name), INFO) });

        await created(c, 'a', '1.0');
        await expect('a', '1.0');
        await created(p, 'a', '1.0', 'java');
        await expect('a', '1.0-java');
        await created(c, 'b', '0.1.pre');
        await expect('b', '0.1.pre');
        await c.recordYank('a', '1.0', 'ruby', '2024-06-02T00:00:00Z');
        await expect('a', '-1.0');
        await p.recordYank('a', '1.0', 'java', '2024-06-02T00:00:00Z');
        await expect('a', '-1.0-java');
        // No-ops log nothing.
        await c.recordYank('a', '1.0', 'java', '2024-06-02T00:00:00Z');
        await p.recordPush(newVersion('b', '0.1.pre'));
        await c.recordUnyank('a', '1.0', 'ruby');
        await expect('a', '1.0');

        const log = await p.versionsLogSince(0);
        assert.deepEqual(
          log.map(({ seq: _, ...rest }) => rest),
          expected,
        );
        assert.equal(expected.at(-2)?.infoMd5, infoMd5For([], INFO), 'a fully yanked gem has an empty /info');
        for (const [i, row] of log.entries()) {
          assert.equal(typeof row.seq, 'number');
          if (i > 0) assert.ok(row.seq > log[i - 1]!.seq, 'seq increases');
          assert.deepEqual(await c.versionsLogSince(row.seq), log.slice(i + 1));
        }
        assert.deepEqual(await c.versionsLogSince(log[0]!.seq - 1), log);
      }));

    it('bumps the generation on every change and stamps modifiedAt', () =>
      withCatalog(async ({ c, clock, peer }) => {
        let s = await c.state();
        assert.equal(typeof s.generation, 'number');
        const changes = async (what: string, fn: () => Promise<unknown>, changed = true) => {
          const at = clock.tick();
          await fn();
          const next = await c.state();
          if (changed) {
            assert.ok(next.generation > s.generation, `${what} bumps the generation`);
            assert.equal(next.modifiedAt, isoSeconds(at), `${what} stamps modifiedAt`);
          } else {
            assert.deepEqual(next, s, `${what} changes nothing`);
          }
          s = next;
        };
        await changes('a push', () => created(c, 'g', '1.0'));
        await changes('a repeated push', () => c.recordPush(newVersion('g', '1.0')), false);
        await changes('a canonical conflict', () => c.recordPush(newVersion('g', '1')), false);
        await changes('a case conflict', () => c.recordPush(newVersion('G', '2.0')), false);
        await changes('a yank', () => c.recordYank('g', '1.0', 'ruby', '2024-06-02T00:00:00Z'));
        await changes(
          'a repeated yank',
          () => c.recordYank('g', '1.0', 'ruby', '2024-06-02T00:00:00Z'),
          false,
        );
        await changes(
          'a yank of nothing',
          () => c.recordYank('h', '1.0', 'ruby', '2024-06-02T00:00:00Z'),
          false,
        );
        await changes('an unyank', () => c.recordUnyank('g', '1.0', 'ruby'));
        await changes('a repeated unyank', () => c.recordUnyank('g', '1.0', 'ruby'), false);
        await changes('a first base', () => c.ensureVersionsBase(clock.now()));
        await changes('a second ensure', () => c.ensureVersionsBase(clock.now()), false);
        await changes('a rebuild', () => c.rebuildVersionsList(clock.now()));
        await changes('a new key', () => c.createKey(key('h1')), false);
        const p = await peer();
        const before = s.generation;
        await created(p, 'g', '2.0');
        assert.ok((await c.state()).generation > before, "another process's push bumps it");
      }));

    it('ensureVersionsBase creates one base, once, even when callers race', () =>
      withCatalog(async ({ c, peer }) => {
        assert.equal(await c.versionsBase(), null);
        await created(c, 'z', '1.0');
        await created(c, 'y', '1.0');
        const p = await peer();
        const g = (await c.state()).generation;
        const dates = [1, 2, 3, 4, 5, 6].map((d) => new Date(`2024-07-0${d}T12:00:00Z`));
        await Promise.all(dates.map((d, i) => (i % 2 === 0 ? c : p).ensureVersionsBase(d)));
        const base = await c.versionsBase();
        assert.ok(base);
        const made = dates.find((d) => isoSeconds(d) === base.createdAt);
        assert.ok(made, `created_at ${base.createdAt} is one of the callers'`);
        assert.equal(base.body, baseFor(await c.allLiveVersions(), made, INFO));
        assert.equal(base.baseSeq, (await c.versionsLogSince(0)).at(-1)!.seq);
        assert.equal((await c.state()).generation, g + 1, 'written once');
        await p.ensureVersionsBase(new Date('2025-01-01T00:00:00Z'));
        assert.deepEqual(await c.versionsBase(), base);
      }));

    it('rebuildVersionsList writes one line per live gem, as base plus log implied', () =>
      withCatalog(async ({ c, clock, peer }) => {
        await c.ensureVersionsBase(clock.now());
        const empty = await c.versionsBase();
        assert.deepEqual(empty, {
          createdAt: isoSeconds(clock.now()),
          body: `created_at: ${isoSeconds(clock.now())}\n---\n`,
          baseSeq: 0,
        });
        const p = await peer();
        await created(c, 'web', '1.0');
        await created(p, 'web', '1.1');
        await created(c, 'web', '1.0', 'java');
        await created(p, 'gone', '0.1');
        await created(c, 'back', '2.0');
        await created(c, 'back', '2.1');
        await p.recordYank('gone', '0.1', 'ruby', '2024-06-02T00:00:00Z');
        await c.recordYank('back', '2.0', 'ruby', '2024-06-02T00:00:00Z');
        await p.recordUnyank('back', '2.0', 'ruby');
        await c.recordYank('back', '2.1', 'ruby', '2024-06-02T00:00:00Z');
        await created(c, 'web', '0.9');

        const names = ['web', 'gone', 'back'];
        const implied = replayVersions(empty!.body, await c.versionsLogSince(empty!.baseSeq));
        for (const n of names) assert.deepEqual(implied.get(n), await currentGem(c, n), n);

        const at = clock.tick();
        await p.rebuildVersionsList(at);
        const base = await c.versionsBase();
        assert.ok(base);
        assert.equal(base.createdAt, isoSeconds(at));
        const log = await c.versionsLogSince(0);
        assert.equal(base.baseSeq, log.at(-1)!.seq);
        assert.deepEqual(await c.versionsLogSince(base.baseSeq), []);
        assert.equal(base.body, baseFor(await c.allLiveVersions(), at, INFO));
        assert.equal(
          base.body.split('\n').find((l) => l.startsWith('web ')),
          `web 1.0,1.1,1.0-java,0.9 ${infoMd5For(await c.liveVersions('web'), INFO)}`,
          'tokens in publication order',
        );
        const rebuilt = replayVersions(base.body, []);
        assert.deepEqual([...rebuilt.keys()], ['back', 'web'], 'one line per live gem, byte order');
        for (const n of ['back', 'web']) assert.deepEqual(rebuilt.get(n), implied.get(n), n);

        await created(c, 'after', '1.0');
        const [row] = await p.versionsLogSince(base.baseSeq);
        assert.equal(row?.name, 'after');
      }));

    it('lists live versions by name in byte order (not collation), then publication order', () =>
      withCatalog(async ({ c, peer }) => {
        const names = ['alpha', 'Zeta', 'a_b', 'a.b', 'a-b', 'ab', 'a', 'B', 'b0', 'Aa'];
        const p = await peer();
        for (const v of ['2.0', '1.0', '1.5'])
          for (const [i, n] of names.entries()) await created(i % 2 ? p : c, n, v);
        await created(c, 'gone', '1.0');
        await c.recordYank('gone', '1.0', 'ruby', '2024-06-02T00:00:00Z');
        await c.recordYank('alpha', '1.0', 'ruby', '2024-06-02T00:00:00Z');

        const sorted = [...names].sort(byBytes);
        assert.deepEqual(sorted.slice(0, 4), ['Aa', 'B', 'Zeta', 'a']);
        const expected = sorted.flatMap((n) =>
          ['2.0', '1.0', '1.5']
            .filter((v) => !(n === 'alpha' && v === '1.0'))
            .map((number) => ({ name: n, number, platform: 'ruby' })),
        );
        assert.deepEqual(await c.liveTuples(), expected);
        assert.deepEqual(await p.liveTuples(), expected);
        assert.deepEqual(
          (await c.allLiveVersions()).map((v) => ({ name: v.name, number: v.number, platform: v.platform })),
          expected,
        );
        assert.deepEqual(await c.liveNames(), sorted);
      }));

    it('pages live tuples as text, by gem then publication order, each once, whatever the page size', () =>
      withCatalog(async ({ c, peer }) => {
        const names = ['zz', 'Ab', 'a-b', 'm', 'solo'];
        const p = await peer();
        for (const v of ['1.0', '2.0.pre', '1.5'])
          for (const [i, n] of names.entries())
            if (n !== 'solo' || v === '1.0') await created(i % 2 ? p : c, n, v);
        await c.recordYank('m', '2.0.pre', 'ruby', '2024-06-02T00:00:00Z');
        await c.recordYank('solo', '1.0', 'ruby', '2024-06-02T00:00:00Z');
        // Gems in the order they were first pushed, each gem's versions in the order they came.
        const expected = names
          .flatMap((n) =>
            ['1.0', '2.0.pre', '1.5']
              .filter((v) => n !== 'solo' && !(n === 'm' && v === '2.0.pre'))
              .map((v) => `${n}\t${v}\truby\n`),
          )
          .join('');
        for (const limit of [1, 3, 12, 13, 100]) {
          let text = '';
          let pages = 0;
          let lines = 0;
          let after: string | null = null;
          do {
            const page = await p.liveTuplesText(after, limit);
            assert.ok(page.count <= limit, `a page of ${page.count} lines for limit ${limit}`);
            assert.equal(page.text.split('\n').length - 1, page.count);
            text += page.text;
            lines += page.count;
            after = page.next;
            pages++;
          } while (after !== null && pages < 100);
          assert.equal(text, expected, `pages of ${limit}`);
          assert.equal(lines, 11);
        }
        const empty = await c.liveTuplesText('999999:0', 10);
        assert.deepEqual(empty, { text: '', count: 0, next: null });
      }));

    it("gives a gem's /info as stored lines that make the body of its specs, and its last change", () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        assert.equal(await p.infoLines('nothing'), null);
        await c.recordPush(newVersion('rails', '7.0', { createdAt: '2024-03-01T00:00:00Z' }));
        await c.recordPush(
          newVersion('rails', '7.1.rc1', { platform: 'java', createdAt: '2024-03-03T00:00:00Z' }),
        );
        await c.recordPush(newVersion('rails', '7.1', { createdAt: '2024-03-02T00:00:00Z' }));
        await c.recordYank('rails', '7.0', 'ruby', '2024-03-05T10:00:00Z');
        const stored = await p.infoLines('rails');
        assert.ok(stored);
        assert.equal(stored.live.length, 2);
        assert.equal(stored.changedAt, Date.parse('2024-03-05T10:00:00Z'));
        const live = await c.liveVersions('rails');
        for (const options of [{}, { createdAt: true }])
          assert.equal(infoFromLines(stored.live, options), infoFor(live, options));
        // Every version yanked: an empty /info, still a known name.
        await c.recordYank('rails', '7.1', 'ruby', '2024-03-06T00:00:00Z');
        await c.recordYank('rails', '7.1.rc1', 'java', '2024-03-06T00:00:00Z');
        assert.deepEqual(await p.infoLines('rails'), {
          live: [],
          changedAt: Date.parse('2024-03-06T00:00:00Z'),
        });
      }));

    it('records a cached gem once (the first record wins), from two processes at once', () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        const up = 'http://127.0.0.1:9/';
        const cached = (file: string, sha256: string) => ({
          upstream: up,
          file,
          name: 'rack',
          sha256,
          size: 100,
          fetchedAt: '2024-01-01T00:00:00.000Z',
        });
        const files = ['rack-1.0', 'rack-1.1', 'rack-2.0-java'];
        // The same files recorded 8 times each, half by each process, all at once.
        await Promise.all(
          Array.from({ length: 24 }, (_, i) =>
            (i % 2 ? p : c).recordCachedGem(cached(files[i % 3]!, String(i % 3).repeat(64))),
          ),
        );
        assert.deepEqual(
          (await c.listCachedGems()).map((g) => [g.file, g.sha256]).sort(),
          files.map((f, i) => [f, String(i).repeat(64)]),
        );
        await p.recordCachedGem(cached('rack-1.0', 'f'.repeat(64)));
        assert.deepEqual(await c.cachedGem(up, 'rack-1.0'), cached('rack-1.0', '0'.repeat(64)));
        assert.equal(await c.cachedGem('http://127.0.0.1:8/', 'rack-1.0'), null);
        await p.deleteCachedGem(up, 'rack-1.0');
        assert.equal(await c.cachedGem(up, 'rack-1.0'), null);
        assert.equal((await p.listCachedGems()).length, 2);
      }));

    it('keeps one mirror mark per upstream and plan, the last recorded wins, across processes', () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        const up = 'http://127.0.0.1:9/';
        const mark = (plan: string, size: number) => ({
          upstream: up,
          plan,
          versionsSize: size,
          versionsSha256: `${plan}${size}`.padEnd(64, '0'),
          localSeq: size * 2,
          recordedAt: `2024-04-02T00:00:${String(size % 60).padStart(2, '0')}.000Z`,
        });
        assert.equal(await c.mirrorMark(up, 'a'), null);
        assert.equal(await c.versionsLogSeq(), 0, 'no log row yet');
        // The names on log rows after a seq: each once, in byte order, whichever process wrote them.
        await created(c, 'zeta', '1.0');
        const first = await p.versionsLogSeq();
        await created(p, 'alpha', '1.0');
        await created(c, 'zeta', '1.1');
        await created(p, 'Beta', '1.0');
        assert.deepEqual(await c.versionsLogNamesSince(0), ['Beta', 'alpha', 'zeta']);
        assert.deepEqual(await c.versionsLogNamesSince(first), ['Beta', 'alpha', 'zeta']);
        assert.deepEqual(await p.versionsLogNamesSince((await c.versionsLogSeq()) - 1), ['Beta']);
        // Two processes record marks of two plans at once; each plan ends with one of its records.
        const sizes = [5_000_000_000, 17, 42, 99];
        await Promise.all(
          sizes.flatMap((n, i) => [
            (i % 2 ? p : c).recordMirrorMark(mark('a', n)),
            c.recordMirrorMark(mark('b', n)),
          ]),
        );
        for (const plan of ['a', 'b']) {
          const got = await p.mirrorMark(up, plan);
          assert.ok(got !== null, `a mark for plan ${plan}`);
          assert.ok(sizes.includes(got.versionsSize), `one of the recorded sizes, not ${got.versionsSize}`);
          assert.deepEqual(got, mark(plan, got.versionsSize));
        }
        await p.recordMirrorMark(mark('a', 5_000_000_001));
        assert.deepEqual(await c.mirrorMark(up, 'a'), mark('a', 5_000_000_001));
        assert.equal(await c.mirrorMark('http://127.0.0.1:8/', 'a'), null);
      }));

    it('keeps API keys: create, find by hash, list, revoke, touch', () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        const k1 = await c.createKey(key('hash-one'));
        assert.equal(typeof k1.id, 'number');
        assert.deepEqual(
          { ...k1, id: 0 },
          {
            id: 0,
            name: 'ci',
            prefix: 'hash-one',
            scopes: ['push', 'yank'],
            gemPattern: 'rack*',
            expiresAt: '2030-01-01T00:00:00Z',
            createdAt: '2024-06-01T00:00:00Z',
            revokedAt: null,
            lastUsedAt: null,
          },
        );
        const k2 = await p.createKey({
          ...key('hash-two', 'reader'),
          scopes: ['read'],
          gemPattern: null,
          expiresAt: null,
        });
        assert.deepEqual(await c.findKeyByHash('hash-two'), { ...k2, hash: 'hash-two' });
        assert.deepEqual(await p.findKeyByHash('hash-one'), { ...k1, hash: 'hash-one' });
        assert.equal(await c.findKeyByHash('hash-three'), null);
        assert.deepEqual(await c.listKeys(), [k1, k2]);

        await p.touchKey(k1.id, '2024-06-03T00:00:00Z');
        assert.equal((await c.findKeyByHash('hash-one'))?.lastUsedAt, '2024-06-03T00:00:00Z');
        assert.equal(await c.revokeKey(k2.id, '2024-06-04T00:00:00Z'), true);
        assert.equal(await p.revokeKey(k2.id, '2024-06-05T00:00:00Z'), false, 'already revoked');
        assert.equal(await c.revokeKey(k2.id + 1000, '2024-06-05T00:00:00Z'), false, 'no such key');
        assert.equal((await p.findKeyByHash('hash-two'))?.revokedAt, '2024-06-04T00:00:00Z');
        await c.touchKey(k2.id + 1000, '2024-06-05T00:00:00Z');
      }));

    it('reports a unique violation as a QuarryError conflict, not a driver error', () =>
      withCatalog(async ({ c, peer }) => {
        await c.createKey(key('same-hash'));
        const p = await peer();
        for (const cat of [c, p]) {
          await assert.rejects(cat.createKey(key('same-hash', 'again')), (e: unknown) => {
            assert.ok(e instanceof QuarryError, `${(e as Error)?.name}: ${(e as Error)?.message}`);
            assert.equal(e.code, 'conflict');
            return true;
          });
        }
        assert.equal((await c.listKeys()).length, 1);
      }));

    it('searches names and summaries: exact, prefix, substring, summary words; any case; live gems only', () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        const push = async (name: string, number: string, summary: string) => {
          const o = await p.recordPush({
            ...newVersion(name, number),
            spec: { ...newVersion(name, number).spec, summary },
          });
          assert.equal(o.kind, 'created');
        };
        await push('Rack', '1.0', 'A modular WebServer interface');
        await push('rack-test', '1.0', 'Testing');
        await push('myrack', '1.0', 'Mine');
        await push('zeta', '1.0', 'Speaks to RACK and to the web');
        await push('gone', '1.0', 'rack, gone');
        await c.recordYank('gone', '1.0', 'ruby', '2024-06-02T00:00:00Z');
        const names = async (q: string) => {
          const r = await readModel(c).searchGems(q, 0, 10);
          return [r.total, ...r.items.map((g) => g.name)];
        };
        assert.deepEqual(await names('RACK'), [4, 'Rack', 'rack-test', 'myrack', 'zeta']);
        assert.deepEqual(await names('web rack'), [1, 'zeta']);
        assert.deepEqual(await names('webserver'), [1, 'Rack']);
        assert.deepEqual(await names('gone'), [0]);
        const page = await readModel(p).searchGems('rack', 1, 2);
        assert.deepEqual([page.total, ...page.items.map((g) => g.name)], [4, 'rack-test', 'myrack']);
        // Counting stops past the count limit.
        const capped = await readModel(c).searchGems('rack', 0, 1, 2);
        assert.deepEqual([capped.total, capped.more, ...capped.items.map((g) => g.name)], [2, true, 'Rack']);
        const exact = await readModel(p).searchGems('rack', 0, 1, 4);
        assert.deepEqual([exact.total, exact.more], [4, false]);
      }));

    it("keeps the newest push's summary, from single pushes and from batches", () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        const v = (name: string, number: string, summary: string) => ({
          ...newVersion(name, number),
          spec: { ...newVersion(name, number).spec, summary },
        });
        const summaryOf = async (name: string) =>
          (await readModel(c).searchGems(name, 0, 1)).items.find((g) => g.name === name)?.summary;
        assert.equal((await p.recordPush(v('solo', '1.0', 'first words'))).kind, 'created');
        assert.equal(await summaryOf('solo'), 'first words');
        assert.equal((await p.recordPush(v('solo', '2.0', 'second words'))).kind, 'created');
        assert.equal(await summaryOf('solo'), 'second words');
        // A batch: the last created version of each gem gives its summary; an existing one changes nothing.
        const outcomes = await p.recordPushes([
          v('batch', '1.0', 'batch one'),
          v('solo', '3.0', 'third words'),
          v('batch', '2.0', 'batch two'),
          v('solo', '3.0', 'a repeat, not created'),
        ]);
        assert.deepEqual(
          outcomes.map((o) => o.kind),
          ['created', 'created', 'created', 'exists'],
        );
        assert.equal(await summaryOf('batch'), 'batch two');
        assert.equal(await summaryOf('solo'), 'third words');
      }));

    it('lists reverse dependencies of live versions and counts hosted and mirrored gems', () =>
      withCatalog(async ({ c, peer }) => {
        const p = await peer();
        const on = (dep: string, type: 'runtime' | 'development') => ({
          name: dep,
          requirement: [{ op: '>=' as const, version: '1' }],
          type,
          prerelease: false,
        });
        const push = async (name: string, number: string, deps: ReturnType<typeof on>[], origin?: string) => {
          const v = newVersion(name, number);
          const o = await p.recordPush({
            ...v,
            spec: { ...v.spec, dependencies: deps },
            origin: origin ?? null,
          });
          assert.equal(o.kind, 'created');
        };
        await push('zeta', '1.0', [on('base', 'development')]);
        await push('zeta', '2.0', [on('base', 'runtime')]);
        await push('alpha', '1.0', [on('base', 'development')], 'mirror:https://up.example');
        await push('Beta', '1.0', [on('base', 'runtime')]);
        await push('gone', '1.0', [on('base', 'runtime')]);
        await push('base', '1.0', []);
        await push('both', '1.0', [], 'mirror:https://up.example');
        await push('both', '2.0', [], 'import');
        await c.recordYank('gone', '1.0', 'ruby', '2024-06-02T00:00:00Z');
        const m = readModel(c);
        assert.deepEqual(await m.reverseDependencies('base', 0, 10), {
          items: [
            { name: 'Beta', type: 'runtime' },
            { name: 'alpha', type: 'development' },
            { name: 'zeta', type: 'runtime' },
          ],
          total: 3,
        });
        assert.deepEqual(await readModel(p).reverseDependencies('base', 1, 1), {
          items: [{ name: 'alpha', type: 'development' }],
          total: 3,
        });
        assert.deepEqual(await m.reverseDependencies('base', 5, 1), { items: [], total: 3 });
        assert.deepEqual(await m.reverseDependencies('nothing', 0, 10), { items: [], total: 0 });
        // alpha alone is only mirrored; both has a mirrored and an imported version.
        assert.deepEqual(await m.gemCounts(), { hosted: 4, mirrored: 2, cached: 0 });
      }));

    it('adds downloads per version in one write, additively from two processes at once', () =>
      withCatalog(async ({ c, peer }) => {
        const a = await created(c, 'rack', '1.0');
        const b = await created(c, 'rack', '2.0', 'java');
        const r = await created(c, 'rake', '13.0');
        const p = await peer();
        const here = readModel(c);
        const there = readModel(p);
        const before = await c.state();
        assert.deepEqual(
          await there.downloads('rack'),
          new Map([
            [a.id, 0],
            [b.id, 0],
          ]),
        );
        await here.addDownloads(new Map());
        // 25 batches from each process, all at once; an id the catalog does not have is ignored.
        await Promise.all(
          Array.from({ length: 25 }, (_, i) => [
            here.addDownloads(
              new Map([
                [b.id, i],
                [a.id, 1],
              ]),
            ),
            there.addDownloads(
              new Map([
                [a.id, 3],
                [b.id, 2],
                [r.id, 1],
                [r.id + b.id + 1000, 7],
              ]),
            ),
          ]).flat(),
        );
        const rack = new Map([
          [a.id, 25 + 75],
          [b.id, 300 + 50],
        ]);
        assert.deepEqual(await here.downloads('rack'), rack);
        assert.deepEqual(await there.downloads('rack'), rack);
        assert.deepEqual(
          await here.downloadsOf(['rack', 'rake', 'nothing']),
          new Map([
            ['rack', rack],
            ['rake', new Map([[r.id, 25]])],
            ['nothing', new Map()],
          ]),
        );
        assert.deepEqual(
          (await here.searchGems('ra', 0, 10)).items.map((g) => [g.name, g.downloads]),
          [
            ['rack', 450],
            ['rake', 25],
          ],
        );
        // Downloads are not catalog changes: no /versions row, no new generation.
        assert.equal((await c.state()).generation, before.generation);
        // A yanked version keeps its count.
        await c.recordYank('rack', '1.0', 'ruby', '2024-06-02T00:00:00Z');
        await there.addDownloads(new Map([[a.id, 1]]));
        assert.equal((await here.downloads('rack')).get(a.id), 101);
      }));

    if (shared) {
      it('processes opening a fresh catalog together all open it, migrated once', async () => {
        const ws = await workers(5);
        for (let round = 0; round < 3; round++) {
          const loc = await locate();
          const dates = ws.map((_, i) => new Date(Date.UTC(2024, 0, 1 + i)));
          let opened: AgentCatalog[] = [];
          try {
            opened = await openAll(ws, loc.url);
            await Promise.all(
              opened.map(async (a, i) => {
                await a.catalog.ensureVersionsBase(dates[i]!);
                await created(a.catalog, `g${i}`, '1.0');
              }),
            );
            const c = await openCatalog(loc.url, () => new Date(), INFO);
            try {
              const base = await c.versionsBase();
              assert.ok(dates.some((d) => isoSeconds(d) === base?.createdAt));
              assert.equal((await c.state()).generation, ws.length + 1, 'one base, one row per push');
              assert.deepEqual(await c.liveNames(), ['g0', 'g1', 'g2', 'g3', 'g4']);
            } finally {
              await c.close();
            }
          } finally {
            await Promise.all(opened.map((a) => a.close().catch(() => {})));
            await loc.cleanup();
          }
        }
      });
    }

    it(`keeps every invariant under 200 concurrent writes from 4 ${shared ? 'processes' : 'writers'} and a polling reader`, async () => {
      const loc = await locate();
      const plan = concurrencyPlan(20240601);
      assert.equal(plan.writes, 200);
      const agents: AgentCatalog[] = [];
      let c: Catalog | undefined;
      try {
        let reader: AgentCatalog;
        if (shared) {
          // Four writer processes and a reader process open the fresh catalog together.
          agents.push(...(await openAll(await workers(5), loc.url)));
          reader = agents.pop()!;
          c = await openCatalog(loc.url, () => new Date(), INFO);
        } else {
          c = await openCatalog(loc.url, () => new Date(), INFO);
          const local = c;
          agents.push(...plan.agents.map(() => localAgent(local)));
          reader = localAgent(local);
        }
        const ensureDates = agents.map((_, i) => new Date(Date.UTC(2024, 0, 1 + i)));
        await reader.startReader();
        const results = (
          await Promise.all(
            agents.map(async (a, i) => {
              await a.catalog.ensureVersionsBase(ensureDates[i]!);
              return a.run(i, plan.agents[i]!, 5);
            }),
          )
        ).flat();
        const report = await reader.stopReader();
        agents.push(reader);
        await checkInvariants(c, results, report, [...ensureDates.map(isoSeconds), ...plan.rebuilds]);
      } finally {
        await Promise.all(agents.map((a) => a.close().catch(() => {})));
        await c?.close();
        await loc.cleanup();
      }
    });
  });
}

type VersionResult = OpResult & { op: VersionOp };

/** Opens url in every worker at once; on a failure, closes the ones that opened and throws. */
async function openAll(ws: WorkerProcess[], url: string): Promise<AgentCatalog[]> {
  const got = await Promise.allSettled(ws.map((w) => w.open(url)));
  const ok = got.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = got.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((a) => a.close().catch(() => {})));
    throw failed.reason;
  }
  return ok;
}

async function checkInvariants(
  c: Catalog,
  all: OpResult[],
  report: ReaderReport,
  baseDates: string[],
): Promise<void> {
  assert.deepEqual(
    all.filter((r) => r.kind === 'error'),
    [],
    'no write failed (no busy database, deadlock or raw driver error)',
  );
  const results = all.filter((r): r is VersionResult => r.op.kind !== 'rebuild');
  const rebuilds = all.length - results.length;
  assert.equal(results.length, 200);

  // The reader never missed a row: what it gathered, poll by poll, is the whole log.
  const log = await c.versionsLogSince(0);
  assert.deepEqual(report.violations, []);
  assert.ok(report.polls >= 2, `the reader polled during the writes (${report.polls} polls)`);
  assert.deepEqual(report.rows, log, 'a reader polling versionsLogSince(last seq) saw every row');
  for (const [i, row] of log.entries()) if (i > 0) assert.ok(row.seq > log[i - 1]!.seq);

  // Group the outcomes by version.
  const byKey = new Map<string, VersionResult[]>();
  for (const r of results) {
    const k = opKey(r.op.name, r.op.number, r.op.platform);
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  const pushes = results.filter((r) => r.op.kind === 'push');
  const createdCount = pushes.filter((r) => r.kind === 'created').length;
  const flips = results.filter((r) => r.op.kind !== 'push' && r.kind === 'done').length;

  // Every push answered created, or exists with its own bytes, is downloadable with its sha256.
  for (const r of pushes) {
    if (r.op.kind !== 'push') continue;
    const { name, number, platform, variant } = r.op;
    const row = await c.findByFullName(fullNameOf(name, number, normalizePlatform(platform)));
    const mine = shaFor(name, number, platform, variant);
    if (r.kind === 'created' || (r.kind === 'exists' && r.sha256 === mine)) {
      assert.equal(row?.sha256, mine, `${name} ${number} ${platform} is stored with its sha256`);
      assert.equal(row?.platform, platform);
    } else if (r.kind === 'exists') {
      assert.equal(row?.sha256, r.sha256, 'exists names the stored sha256');
    }
  }
  // Exactly one created per version that exists, none for one that does not; and yank state
  // follows the done outcomes, each of which flips it, starting from live.
  for (const [k, rs] of byKey) {
    const [name, number, platform] = k.split('\0') as [string, string, string];
    const row = await c.findVersion(name, number, platform);
    const made = rs.filter((r) => r.kind === 'created').length;
    assert.equal(made, row ? 1 : 0, `${name} ${number} ${platform}: ${made} created`);
    const done = (kind: string) => rs.filter((r) => r.op.kind === kind && r.kind === 'done').length;
    const net = done('yank') - done('unyank');
    assert.ok(net === 0 || net === 1, `${k}: yanks minus unyanks is ${net}`);
    assert.equal(row?.yankedAt != null, net === 1, `${name} ${number} ${platform} yank state`);
  }
  for (let i = 0; i < 8; i++) {
    const rs = byKey.get(opKey(`same-${i}`, '3.0', 'ruby'))!;
    assert.deepEqual(rs.map((r) => r.kind).sort(), ['created', 'exists', 'exists', 'exists']);
    assert.equal(new Set(rs.map((r) => r.sha256)).size, 1);
  }
  const conflict = byKey.get(opKey('conflict', '1.0', 'ruby'))!;
  assert.deepEqual(conflict.map((r) => r.kind).sort(), ['created', 'exists']);
  assert.equal(conflict[0]!.sha256, conflict[1]!.sha256, "the loser is told the winner's sha256");
  const pair = (a: string, b: string, n: string) => [
    ...byKey.get(opKey(a, n === '' ? '2.0' : n, 'ruby'))!,
    ...byKey.get(opKey(b, n === '' ? '2.0.0' : n, 'ruby'))!,
  ];
  const canon = pair('canon', 'canon', '');
  assert.deepEqual(canon.map((r) => r.kind).sort(), ['canonical_conflict', 'created']);
  const canonWinner = canon.find((r) => r.kind === 'created')!;
  assert.equal(canon.find((r) => r.kind === 'canonical_conflict')?.number, canonWinner.op.number);
  const cases = pair('Case', 'case', '1.0');
  assert.deepEqual(cases.map((r) => r.kind).sort(), ['case_conflict', 'created']);
  const caseLoser = cases.find((r) => r.kind === 'case_conflict')!;
  assert.equal(caseLoser.owner, cases.find((r) => r.kind === 'created')?.op.name);
  assert.equal(caseLoser.live, true);

  // One log row per change; one generation per change, per rebuild and for the one first base.
  assert.equal(log.length, createdCount + flips);
  assert.equal((await c.state()).generation, createdCount + flips + rebuilds + 1);

  // Every gem's last log row carries the MD5 of its /info now; base plus log replays to the catalog.
  const names = [...new Set(pushes.filter((r) => r.kind === 'created').map((r) => r.op.name))];
  const base = await c.versionsBase();
  assert.ok(base, 'a base exists');
  const replayed = replayVersions(base.body, await c.versionsLogSince(base.baseSeq));
  for (const name of names) {
    const now = await currentGem(c, name);
    const last = log.findLast((r) => r.name === name);
    assert.equal(last?.infoMd5, now.infoMd5, `${name}: the last /versions MD5 is that of its /info`);
    // A gem yanked away before the last rebuild has no line at all.
    const shown = replayed.get(name) ?? (now.tokens.size === 0 ? now : undefined);
    assert.deepEqual(shown, now, `${name}: base plus log gives the live versions`);
  }
  const extra = [...replayed.keys()].filter((n) => !names.includes(n));
  assert.deepEqual(extra, [], 'no other names in /versions');

  // Every base the reader saw (some written while pushes ran) says what the log said up to it.
  const bases = [...report.bases, base];
  assert.ok(report.bases.length >= 1, 'the reader saw a base');
  for (const b of bases) {
    assert.ok(
      baseDates.includes(b.createdAt),
      `base created_at ${b.createdAt} is an ensure's or a rebuild's`,
    );
    const upTo = replayVersions(
      EMPTY_BASE,
      log.filter((r) => r.seq <= b.baseSeq),
    );
    const lines = replayVersions(b.body, []);
    const live = [...upTo].filter(([, g]) => g.tokens.size > 0);
    assert.deepEqual(new Map(live), lines, `the base at seq ${b.baseSeq} is what the log implied`);
  }

  // A rebuild now says the same in one line per live gem.
  const at = new Date('2024-12-31T00:00:00Z');
  await c.rebuildVersionsList(at);
  const rebuilt = await c.versionsBase();
  assert.equal(rebuilt?.body, baseFor(await c.allLiveVersions(), at, INFO));
  assert.deepEqual(await c.versionsLogSince(rebuilt!.baseSeq), []);
  const lines = replayVersions(rebuilt!.body, []);
  assert.deepEqual(new Map([...replayed].filter(([, g]) => g.tokens.size > 0)), lines);
}

const EMPTY_BASE = 'created_at: 2024-01-01T00:00:00Z\n---\n';
