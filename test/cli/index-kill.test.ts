/**
 * Fault injection: `bin/quarry index DIR` (full builds, then `--update`) is killed with SIGKILL at
 * random moments. After each kill, before anything runs again, the folder is read as a client
 * reads it (the public paths, through any symlinks) and must publish either the index it had before
 * the run or the one the run was making, every file agreeing with the others (support/published.ts).
 *
 * The kill moment is drawn uniformly over the run's work (from taking DIR/.quarry/lock to letting it
 * go, as an uninterrupted run measured here takes), so kills land in gem reading, staging,
 * publishing and clean-up alike; one run in ten dies while Node starts. QUARRY_KILL_SEED replays a
 * run's choices (the moments themselves depend on the machine); the seed is printed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fullName } from '../../src/gem/spec.ts';
import { makeGem } from '../support/make-gem.ts';
import { PUBLIC_FILES, type Published, readPublished } from '../support/published.ts';
import { ensureBuilt, REPO_ROOT } from '../support/quarry.ts';

const KILLS = 20;
const NAMES = 40;

/** mulberry32: small, seeded, good enough to pick moments and gems. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = Number(process.env['QUARRY_KILL_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const random = rng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

interface Run {
  killed: boolean;
  /** From the lock's appearance to its removal (the run's work), when it ran to the end. */
  workMs: number | null;
  code: number | null;
  stderr: string;
}

const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Polls `done()` every `stepMs` (sleeping the thread in between, so the child keeps the CPU) until
 * it holds or `ms` pass; true if done() held.
 */
function pollUntil(done: () => boolean, ms: number, stepMs = 0.2): boolean {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (done()) return true;
    Atomics.wait(nap, 0, 0, stepMs);
  }
  return done();
}

/** What a client would see change: a file's identity through any symlinks, or null when absent. */
function identity(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return null;
  }
}

type KillAt =
  /** Some time into Node's start, before the run's work. */
  | 'startup'
  /** This fraction of the run's work (`workMs`) after the run takes its lock. */
  | number
  /** As soon as the public file `watch` changes for a client, plus up to `ms`. */
  | { watch: string; ms: number };

async function runIndex(
  dir: string,
  update: boolean,
  kill: { at: KillAt; workMs: number } | null,
): Promise<Run> {
  const lock = join(dir, '.quarry', 'lock');
  const args = [join(REPO_ROOT, 'bin', 'quarry'), 'index', dir, ...(update ? ['--update'] : [])];
  const spawned = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve([code, signal]));
  });
  // A killed run leaves its lock behind: the lock is this run's once it holds this run's PID.
  const held = (): boolean => {
    try {
      return readFileSync(lock, 'utf8') === `${child.pid}\n`;
    } catch {
      return false;
    }
  };
  let workMs: number | null = null;
  const at = kill?.at;
  if (at === 'startup') {
    pollUntil(() => false, random() * 60, 1);
    child.kill('SIGKILL');
  } else if (pollUntil(held, 10_000, 1)) {
    const t0 = performance.now();
    if (typeof at === 'object') {
      const path = join(dir, at.watch);
      const was = identity(path);
      pollUntil(() => identity(path) !== was || !held(), 30_000);
      pollUntil(() => false, at.ms);
      child.kill('SIGKILL');
    } else if (typeof at === 'number') {
      pollUntil(() => !held(), at * kill!.workMs);
      child.kill('SIGKILL');
    } else if (pollUntil(() => !held(), 30_000)) {
      workMs = performance.now() - t0;
    }
  }
  const [code, signal] = await closed;
  // On a loaded machine the poller may never see a short run's lock: time the whole run then (an
  // upper bound of its work, which only spreads the kill moments wider).
  if (kill === null && workMs === null && code === 0) workMs = performance.now() - spawned;
  return { killed: signal === 'SIGKILL', workMs, code, stderr };
}

/** The gems folder of one trial: a few names, releases, prereleases and platforms. */
class Gems {
  readonly files = new Map<string, string>();
  /** Names added to or removed from since the last run. */
  readonly touched = new Set<string>();
  private next = new Map<string, number>();
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'gems'), { recursive: true });
  }
  add(): void {
    const name = `g${Math.floor(random() * NAMES)}`;
    const n = (this.next.get(name) ?? 0) + 1;
    this.next.set(name, n);
    const r = random();
    const version = r < 0.15 ? `${n}.0.0.pre1` : `${n}.${Math.floor(random() * 3)}.0`;
    const platform = r > 0.85 ? pick(['x86_64-linux', 'java']) : 'ruby';
    const file = `${fullName(name, version, platform)}.gem`;
    writeFileSync(join(this.dir, 'gems', file), makeGem({ name, version, platform }));
    this.files.set(file, fullName(name, version, platform));
    this.touched.add(name);
  }
  remove(): void {
    const file = pick([...this.files.keys()]);
    this.touched.add(file.slice(0, file.indexOf('-')));
    unlinkSync(join(this.dir, 'gems', file));
    this.files.delete(file);
  }
  get expected(): Set<string> {
    return new Set(this.files.values());
  }
}

const sameSet = (a: Set<string>, b: Set<string>): boolean =>
  a.size === b.size && [...a].every((x) => b.has(x));

const describeSet = (p: Published): string => (p.kind === 'empty' ? 'no index' : `${p.gems.size} gems`);

describe(`quarry index killed at random moments (seed ${seed})`, () => {
  let root: string;
  before(() => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'quarry-kill-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /**
   * Kills runs until KILLS of them were killed mid-run. `change` edits gems/ before each run.
   * After each run the folder must publish `before` or the gems now in gems/.
   */
  async function trials(
    t: { diagnostic(s: string): void },
    gems: Gems,
    update: boolean,
    change: () => void,
  ): Promise<void> {
    const dir = gems.dir;
    // A first build, then one uninterrupted run of this mode to time its work.
    const first = await runIndex(dir, false, null);
    assert.equal(first.code, 0, first.stderr);
    change();
    const warm = await runIndex(dir, update, null);
    assert.equal(warm.code, 0, warm.stderr);
    assert.ok(warm.workMs !== null, 'the run took DIR/.quarry/lock');
    let published = readPublished(dir);
    const typical = warm.workMs;
    let kills = 0;
    let runs = 0;
    const outcomes = { old: 0, new: 0 };
    const started = performance.now();
    while (kills < KILLS) {
      assert.ok(runs < KILLS * 3, `only ${kills} kills in ${runs} runs: the runs end before the kill`);
      change();
      const before = published;
      const want = gems.expected;
      // One run in ten dies while Node starts; four in ten at a random moment of the work; half
      // within 2 ms of the moment a client would first see one of the files change.
      const u = random();
      const watched = [...PUBLIC_FILES, ...[...gems.touched].map((n) => `info/${n}`)];
      const at: KillAt =
        u < 0.1 ? 'startup' : u < 0.5 ? random() * 1.1 : { watch: pick(watched), ms: random() * 2 };
      gems.touched.clear();
      const r = await runIndex(dir, update, { at, workMs: typical });
      runs++;
      if (r.killed) kills++;
      else assert.equal(r.code, 0, r.stderr);
      const when =
        at === 'startup'
          ? 'while starting'
          : typeof at === 'number'
            ? `${Math.round(at * typical)} ms into the work`
            : `${at.ms.toFixed(2)} ms after ${at.watch} changed`;
      let now: Published;
      try {
        now = readPublished(dir);
      } catch (e) {
        throw new Error(
          `after a kill ${when} of a ${update ? '--update' : 'full build'} (run ${runs}): ${(e as Error).message}`,
        );
      }
      const isOld =
        (before.kind === 'empty' && now.kind === 'empty') ||
        (before.kind === 'index' && now.kind === 'index' && sameSet(now.gems, before.gems));
      const isNew = now.kind === 'index' && sameSet(now.gems, want);
      assert.ok(
        isOld || isNew,
        `killed ${when}: the folder publishes ${describeSet(now)}, neither the old index (${describeSet(before)}) nor the new one (${want.size} gems)`,
      );
      if (!r.killed) assert.ok(isNew, 'a run that finished publishes the new index');
      if (update && before.kind === 'index' && now.kind === 'index' && !isOld) {
        assert.ok(now.versions.startsWith(before.versions), 'an update only appends to versions');
      }
      if (process.env['KILL_DEBUG']) t.diagnostic(`${when}: ${isOld && !isNew ? 'old' : 'new'}`);
      if (isOld && !isNew) outcomes.old++;
      else outcomes.new++;
      published = now;
    }
    t.diagnostic(
      `${update ? '--update' : 'full build'}: ${runs} runs, ${kills} killed; after the kill the old index was served ${outcomes.old} times, the new one ${outcomes.new}; a run's work takes ~${Math.round(typical)} ms; ${Math.round(performance.now() - started)} ms in all`,
    );
    // Whatever the kills left, one more run brings the folder to the gems it holds.
    const final = await runIndex(dir, update, null);
    assert.equal(final.code, 0, final.stderr);
    const end = readPublished(dir);
    assert.ok(end.kind === 'index' && sameSet(end.gems, gems.expected), 'the last run publishes gems/');
    // ... and has removed what the killed runs left: only this generation and the one before stay.
    const left = readdirSync(join(dir, '.quarry')).sort();
    const gens = left.filter((e) => /^gen-\d+$/.test(e));
    const pools = left.filter((e) => /^pool-\d+$/.test(e));
    assert.deepEqual(
      left.filter((e) => !gens.includes(e) && !pools.includes(e)),
      ['current'],
      `left in .quarry: ${left.join(' ')}`,
    );
    assert.ok(gens.length <= 2 && pools.length <= 2, `left in .quarry: ${left.join(' ')}`);
  }

  it(`never tears a full build (at least ${KILLS} kills)`, async (t) => {
    const gems = new Gems(join(root, 'full'));
    for (let i = 0; i < 100; i++) gems.add();
    await trials(t, gems, false, () => {
      for (let i = 0; i < 8; i++) gems.add();
      gems.remove();
      gems.remove();
    });
  });

  it(`never tears an update (at least ${KILLS} kills)`, async (t) => {
    const gems = new Gems(join(root, 'update'));
    for (let i = 0; i < 100; i++) gems.add();
    await trials(t, gems, true, () => {
      const adds = 1 + Math.floor(random() * 4);
      for (let i = 0; i < adds; i++) gems.add();
      if (random() < 0.6) gems.remove();
    });
  });
});
