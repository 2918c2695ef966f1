/**
 * The upstream of the `quarry mirror` end-to-end tests (test/e2e/mirror-*.test.ts): a `quarry serve`
 * holding about 1,000 generated gems (mirror-upstream.ts: dependency trees, platform variants,
 * prereleases, development dependencies), loaded with `quarry import`.
 *
 * The import takes seconds, so its data folder is built once and kept in the system's temp folder
 * under a name keyed by what it is made from (the generator, the built CLI, the lock file); each test
 * file serves a copy of its own, which it may change (push, yank, create keys).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nameOf, quarry } from './mirror-e2e.ts';
import type { Dep, GenGem } from './mirror-upstream.ts';
import { buildGem, expectedClosure, fileOf, generateGems, writeGems } from './mirror-upstream.ts';
import { ensureBuilt, REPO_ROOT } from './quarry.ts';
import type { RubySandbox } from './ruby.ts';
import { describeRun, requireRuby, rubySandbox } from './ruby.ts';
import type { QuarryServer } from './server.ts';
import { startQuarryServer } from './server.ts';

const GEMS = { count: 1000 };
const CACHE_PREFIX = 'quarry-mirror-upstream-';
/** Cached folders not used for this long are removed when a new one is made. */
const CACHE_KEEP_MS = 3_600_000;

/** What the cached data folder is made from: a change to any of these makes a new one. */
function cacheKey(): string {
  const h = createHash('sha256').update(JSON.stringify(GEMS));
  const files = [
    fileURLToPath(import.meta.url),
    join(REPO_ROOT, 'test', 'support', 'mirror-upstream.ts'),
    join(REPO_ROOT, 'test', 'support', 'make-gem.ts'),
    join(REPO_ROOT, 'bin', 'quarry'),
    join(REPO_ROOT, 'package-lock.json'),
  ];
  const dist = join(REPO_ROOT, 'dist');
  for (const f of (readdirSync(dist, { recursive: true }) as string[]).sort())
    if (f.endsWith('.js')) files.push(join(dist, f));
  for (const f of files) h.update(`\0${relative(REPO_ROOT, f)}\0`).update(readFileSync(f));
  return h.digest('hex').slice(0, 20);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The path of a data folder holding the generated source, imported by `quarry import`: made on the
 * first call (test files running at once take turns through a lock folder), reused after. Read only.
 */
async function cachedUpstreamData(): Promise<string> {
  const dir = join(tmpdir(), `${CACHE_PREFIX}${cacheKey()}`);
  const data = join(dir, 'data');
  const lock = `${dir}.lock`;
  while (!existsSync(join(dir, 'ready'))) {
    try {
      mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another test file is importing: wait for it (a lock left by a killed run is taken over).
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      await sleep(250);
      continue;
    }
    try {
      if (existsSync(join(dir, 'ready'))) break;
      rmSync(dir, { recursive: true, force: true });
      const work = mkdtempSync(`${dir}.tmp-`);
      const source = join(work, 'source');
      writeGems(source, generateGems(GEMS));
      const r = await quarry(['import', source, '--data', join(work, 'data')]);
      assert.equal(r.status, 0, describeRun('quarry import (upstream)', r));
      rmSync(source, { recursive: true, force: true });
      writeFileSync(join(work, 'ready'), '');
      renameSync(work, dir);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
    pruneCache(dir);
  }
  const now = new Date();
  utimesSync(dir, now, now);
  return data;
}

/** Removes the cached folders (and leftovers of killed imports) not used for an hour. */
function pruneCache(keep: string): void {
  for (const name of readdirSync(tmpdir())) {
    const p = join(tmpdir(), name);
    if (!name.startsWith(CACHE_PREFIX) || p === keep) continue;
    const st = statSync(p, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > CACHE_KEEP_MS) rmSync(p, { recursive: true, force: true });
  }
}

/** A test file's upstream and the servers and Ruby sandboxes it started; see mirrorUpstream(). */
export class MirrorUpstream {
  /** This file's temp folder. */
  root = '';
  /** The upstream's data folder (a copy of the cached one). */
  upData = '';
  upstream!: QuarryServer;
  /** What the upstream serves now (yanked versions removed). */
  current: GenGem[] = [];
  private port = 0;
  private readonly servers: QuarryServer[] = [];
  private readonly sandboxes: RubySandbox[] = [];

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    requireRuby();
    ensureBuilt();
    this.root = mkdtempSync(join(tmpdir(), 'quarry-mirror-e2e-'));
    this.current = generateGems(GEMS);
    this.upData = join(this.root, 'upstream');
    cpSync(await cachedUpstreamData(), this.upData, { recursive: true });
    this.upstream = await startQuarryServer({ data: this.upData });
    this.port = this.upstream.port;
  }

  async close(): Promise<void> {
    for (const s of this.servers) s.kill();
    this.upstream?.kill();
    for (const s of this.sandboxes) s.cleanup();
    if (this.root) rmSync(this.root, { recursive: true, force: true });
  }

  sandbox(): RubySandbox {
    const s = rubySandbox('quarry-mirror-e2e-');
    this.sandboxes.push(s);
    return s;
  }

  /** `quarry serve --data DATA`, killed at the end if still running. */
  async serve(data: string): Promise<QuarryServer> {
    const s = await startQuarryServer({ data });
    this.servers.push(s);
    return s;
  }

  /** Runs fn with the upstream stopped, then starts it again on the same port. */
  async withUpstreamStopped(fn: () => Promise<void>): Promise<void> {
    await this.upstream.stop();
    try {
      await fn();
    } finally {
      this.upstream = await startQuarryServer({ data: this.upData, port: this.port });
    }
  }
}

/**
 * Registers the before and after hooks of a test file's upstream (call it in a describe). With
 * `changed`, the upstream is then changed as item 4 changes it (changeUpstream), for the tests that
 * mirror an upstream with pushed and yanked versions.
 */
export function mirrorUpstream(opts: { changed?: boolean } = {}): MirrorUpstream {
  const e = new MirrorUpstream();
  before(async () => {
    await e.start();
    if (opts.changed) {
      const roots = pickRoots(e.current);
      await changeUpstream(e, roots, expectedClosure(e.current, { roots }));
    }
  });
  after(() => e.close());
  return e;
}

/**
 * The named roots of item 1: the three names with the largest dependency trees (whose closure shows
 * each rule at work: a platform variant and a prerelease left out, more than one version of a
 * dependency taken), the first with a `~> X.Y` requirement on its newest stable version.
 */
export function pickRoots(current: readonly GenGem[]): Dep[] {
  const deps = new Map<string, Set<string>>();
  for (const g of current)
    for (const [d] of g.deps) (deps.get(g.name) ?? deps.set(g.name, new Set()).get(g.name)!).add(d);
  const reach = (n: string) => {
    const seen = new Set([n]);
    const queue = [n];
    while (queue.length > 0) {
      for (const d of deps.get(queue.shift()!) ?? []) {
        if (seen.has(d)) continue;
        seen.add(d);
        queue.push(d);
      }
    }
    return seen.size;
  };
  const names = [...new Set(current.map((g) => g.name))].filter((n) => !n.includes('-dev-'));
  const candidates = names.sort((a, b) => reach(b) - reach(a) || (a < b ? -1 : 1)).slice(0, 3);
  const newest = (n: string) =>
    current.filter((g) => g.name === n && g.platform === 'ruby' && !/[a-z]/.test(g.version)).at(-1)!.version;
  const [maj, min] = newest(candidates[0]!).split('.');
  return [[candidates[0]!, `~> ${maj}.${min}`], [candidates[1]!], [candidates[2]!]];
}

export interface UpstreamChange {
  /** A new version of the first root, within its requirement. */
  rootNew: GenGem;
  /** A new version of a dependency in the closure. */
  depNew: GenGem;
  /** A new version of a gem outside the closure (not to be fetched). */
  outsideNew: GenGem;
  /** An older version of that dependency, yanked. */
  yanked: GenGem;
}

/**
 * Item 4's change of the upstream, given the roots of item 1 and their closure: three new versions
 * pushed and one yanked (see UpstreamChange); e.current follows.
 */
export async function changeUpstream(
  e: MirrorUpstream,
  roots: Dep[],
  closure: string[],
): Promise<UpstreamChange> {
  const { current } = e;
  const keyRun = await quarry(['keys', 'create', '--scopes', 'push,yank', '--data', e.upData]);
  assert.equal(keyRun.status, 0, describeRun('quarry keys create', keyRun));
  const key = keyRun.stdout.trimEnd().split('\n').at(-1)!;

  const inClosure = (n: string) => closure.some((f) => nameOf(f, current) === n);
  const bump = (g: GenGem): GenGem => {
    const [a, b, c] = g.version.split('.').map(Number);
    const version = `${a}.${b}.${(c ?? 0) + 10}`;
    return { ...g, version, platform: 'ruby', file: fileOf(g.name, version, 'ruby') };
  };
  const lastOf = (n: string) =>
    current.filter((g) => g.name === n && g.platform === 'ruby' && !/[a-z]/.test(g.version)).at(-1)!;
  const rootNew = bump(lastOf(roots[0]![0]));
  const depName = [...new Set(closure.map((f) => nameOf(f, current)!))].find(
    (n) => !roots.some(([r]) => r === n) && closure.filter((f) => nameOf(f, current) === n).length >= 2,
  )!;
  const depNew = bump(lastOf(depName));
  const outside = current.find((g) => !inClosure(g.name) && !g.name.includes('-dev-'))!;
  const outsideNew = bump(lastOf(outside.name));
  const yanked = current.find((g) => g.name === depName && closure.includes(g.file))!;
  assert.notEqual(yanked.file, lastOf(depName).file);

  for (const g of [rootNew, depNew, outsideNew]) {
    const r = await e.upstream.fetch('/api/v1/gems', {
      method: 'POST',
      headers: { authorization: key, 'content-type': 'application/octet-stream' },
      body: buildGem(g),
    });
    assert.equal(r.status, 200, `push ${g.file}: ${await r.text()}`);
  }
  const y = await e.upstream.fetch('/api/v1/gems/yank', {
    method: 'DELETE',
    headers: { authorization: key, 'content-type': 'application/x-www-form-urlencoded' },
    body: `gem_name=${yanked.name}&version=${yanked.version}`,
  });
  assert.equal(y.status, 200, await y.text());
  e.current = [...current.filter((g) => g !== yanked), rootNew, depNew, outsideNew];
  return { rootNew, depNew, outsideNew, yanked };
}
