/**
 * `quarry mirror` and `quarry import` end to end (issue 12, "Done means" 1-6), with the real CLI,
 * real `quarry serve` processes on loopback, and Debian's RubyGems 3.3 and Bundler 2.3.
 *
 * The upstream is a `quarry serve` holding about 1,000 generated gems (test/support/mirror-upstream.ts:
 * dependency trees, platform variants, prereleases, development dependencies), loaded with
 * `quarry import`. Expected closures are computed by RubyGems itself from the generator's data, not
 * by src/index/closure.ts.
 *
 * 1. Three named gems (one with a requirement): `--dry-run --exclude DEP` lists the closure without
 *    DEP and stores nothing; then exactly their runtime closure is fetched; with the upstream
 *    stopped, `bundle install` of a Gemfile naming them succeeds against the mirror.
 * 2. `--lockfile` with a Gemfile.lock written by `bundle lock`: exactly the locked gems; then, upstream
 *    stopped, `bundle install --frozen` of that lockfile through `bundle config mirror.UPSTREAM`.
 * 3. Runs killed with SIGKILL at random moments, then run to the end: no temp file anywhere,
 *    `quarry verify` clean, and every .gem served equals the upstream's /info checksum.
 * 4. New versions and a yank upstream: a second run GETs only the new .gem files (the upstream's
 *    request log) and reads /versions with a Range; `--sync-yanks` then yanks the yanked one here.
 *    (It runs before 3, which then mirrors the changed upstream.)
 * 5. `quarry import` of a Gem in a Box data folder with broken files, killed midway and run again:
 *    every gem once in the catalog, the broken files named, exit status 1.
 * 6. `--all --latest 1`, then `--all --pre --platform '*'`: counts match the upstream's
 *    /versions, and `gem install` of a sample works against the mirror.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Sqlite from 'better-sqlite3';
import type { Dep, GenGem } from '../support/mirror-upstream.ts';
import { buildGem, expectedClosure, fileOf, generateGems, writeGems } from '../support/mirror-upstream.ts';
import { ensureBuilt, REPO_ROOT } from '../support/quarry.ts';
import type { RubySandbox, RunResult } from '../support/ruby.ts';
import { describeRun, expectSuccess, requireRuby, rubySandbox } from '../support/ruby.ts';
import type { LoggedRequest, QuarryServer } from '../support/server.ts';
import { startQuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 150_000 };
const ALL_PLATFORMS = 'ruby,java,x86_64-linux';

const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
const sorted = (xs: Iterable<string>) => [...xs].sort();
const show = (reqs: LoggedRequest[]) => reqs.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('\n');

/** The environment of a quarry child: the caller's without QUARRY_* settings, and no default upstream. */
function quarryEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(QUARRY_|SOURCE_DATE_EPOCH$|NODE_TEST_CONTEXT$|NODE_OPTIONS$)/.test(k)) continue;
    env[k] = v;
  }
  env['QUARRY_UPSTREAMS'] = '[]';
  return env;
}

interface Running {
  child: ChildProcess;
  done: Promise<RunResult>;
}

/**
 * `node bin/quarry ARGS` as a child process, asynchronously: this process keeps reading the
 * upstream server's log while the CLI talks to it.
 */
function spawnQuarry(args: string[], timeoutMs = 120_000): Running {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'quarry'), ...args], {
    cwd: REPO_ROOT,
    env: quarryEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  const done = new Promise<RunResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
  return { child, done };
}

const quarry = (args: string[], timeoutMs?: number) => spawnQuarry(args, timeoutMs).done;

interface MirrorJson {
  planned: number;
  fetched: string[];
  present: string[];
  failed: { file: string; reason: string }[];
  missing: string[];
  yanked: string[];
  bytes: number;
}

/** Runs the CLI with --json; returns its report and the run (status may be non-zero). */
async function jsonRun<T>(label: string, args: string[]): Promise<{ report: T; run: RunResult }> {
  const run = await quarry([...args, '--json']);
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  let report: T;
  try {
    report = JSON.parse(line) as T;
  } catch {
    throw new Error(`${describeRun(label, run)}\nprinted no JSON report`);
  }
  return { report, run };
}

async function mirrorRun(label: string, args: string[]): Promise<MirrorJson> {
  const { report, run } = await jsonRun<MirrorJson>(label, ['mirror', ...args]);
  assert.equal(run.status, 0, describeRun(label, run));
  assert.deepEqual(report.failed, [], label);
  assert.deepEqual(report.missing, [], label);
  return report;
}

/** The number of versions in the catalog (0 before it exists). */
function catalogCount(data: string): number {
  const file = join(data, 'catalog.sqlite3');
  if (!existsSync(file)) return 0;
  let db: Sqlite.Database | null = null;
  try {
    db = new Sqlite(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    return (db.prepare('SELECT count(*) AS n FROM versions').get() as { n: number }).n;
  } catch {
    return 0; // being created
  } finally {
    db?.close();
  }
}

/**
 * Kills the run with SIGKILL once `ready()` holds (polled every 20 ms, after `delayMs`). false when
 * the run ended by itself first.
 */
async function killWhen(run: Running, ready: () => Promise<boolean>, delayMs = 0): Promise<boolean> {
  let ended = false;
  void run.done.then(() => {
    ended = true;
  });
  await new Promise((r) => setTimeout(r, delayMs));
  while (!ended) {
    if (await ready()) {
      run.child.kill('SIGKILL');
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** The catalog's versions, read straight from the SQLite file: full name, origin, yanked, sha256. */
function catalogRows(
  data: string,
): { file: string; origin: string | null; yanked: boolean; sha256: string }[] {
  const file = join(data, 'catalog.sqlite3');
  if (!existsSync(file)) return [];
  const db = new Sqlite(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare('SELECT original_full_name AS file, origin, yanked_at, sha256 FROM versions ORDER BY 1')
      .all() as { file: string; origin: string | null; yanked_at: string | null; sha256: string }[];
    return rows.map((r) => ({
      file: r.file,
      origin: r.origin,
      yanked: r.yanked_at !== null,
      sha256: r.sha256,
    }));
  } finally {
    db.close();
  }
}

/** Every file under dir whose name starts with .tmp- (or holds .tmp-, for --to trees). */
function tempFilesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => /(^|\/)\.tmp-|\.tmp-/.test(p));
}

/** The live files of a compact index /versions body: name-token, after yanks ("-token") are applied. */
function versionsFiles(body: string): string[] {
  const live = new Set<string>();
  const lines = body.split('\n');
  for (const line of lines.slice(lines.indexOf('---') + 1)) {
    if (!line) continue;
    const [name, list] = line.split(' ');
    for (const t of list!.split(',')) {
      if (t.startsWith('-')) live.delete(`${name}-${t.slice(1)}`);
      else live.add(`${name}-${t}`);
    }
  }
  return sorted(live);
}

/** name -> checksum of each /info line of the upstream, as NAME-TOKEN -> sha256. */
function infoChecksums(name: string, body: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = body.split('\n');
  for (const line of lines.slice(lines.indexOf('---') + 1)) {
    if (!line) continue;
    const token = line.slice(0, line.indexOf(' '));
    const sum = /(?:\||,)checksum:([0-9a-f]{64})/.exec(line)?.[1];
    assert.ok(sum, `no checksum in /info/${name} line ${line}`);
    out.set(`${name}-${token}`, sum);
  }
  return out;
}

/** The specs of a Gemfile.lock's GEM section, as file names (name-version[-platform]). */
function lockedFiles(lock: string): string[] {
  const section = /^GEM\n[\s\S]*?\n {2}specs:\n([\s\S]*?)(?:\n\n|\n(?=\S))/m.exec(lock)?.[1] ?? '';
  return sorted(
    section
      .split('\n')
      .map((l) => /^ {4}(\S+) \(([^)]+)\)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[1]}-${m[2]}`),
  );
}

const nameOf = (file: string, gems: readonly GenGem[]) => gems.find((g) => g.file === file)?.name;

describe('quarry mirror and quarry import, end to end', () => {
  let root: string;
  let upData: string;
  let upstream: QuarryServer;
  let upPort: number;
  /** What the upstream serves now (yanked versions removed). */
  let current: GenGem[];
  const servers: QuarryServer[] = [];
  const sandboxes: RubySandbox[] = [];
  const url = () => `http://127.0.0.1:${upPort}`;

  /** Named roots of issue item 1, and their expected closure. */
  let roots1: Dep[] = [];
  let closure1: string[] = [];
  const m1 = () => join(root, 'm1');

  const sandbox = () => {
    const s = rubySandbox('quarry-mirror-e2e-');
    sandboxes.push(s);
    return s;
  };
  const serve = async (data: string) => {
    const s = await startQuarryServer({ data });
    servers.push(s);
    return s;
  };
  /** Runs fn with the upstream stopped, then starts it again on the same port. */
  const withUpstreamStopped = async (fn: () => Promise<void>) => {
    await upstream.stop();
    try {
      await fn();
    } finally {
      upstream = await startQuarryServer({ data: upData, port: upPort });
    }
  };

  before(async () => {
    requireRuby();
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'quarry-mirror-e2e-'));
    current = generateGems({ count: 1000 });
    const source = join(root, 'source');
    writeGems(source, current);
    upData = join(root, 'upstream');
    const r = await quarry(['import', source, '--data', upData]);
    assert.equal(r.status, 0, describeRun('quarry import (upstream)', r));
    upstream = await startQuarryServer({ data: upData });
    upPort = upstream.port;
  });

  after(async () => {
    for (const s of servers) s.kill();
    upstream?.kill();
    for (const s of sandboxes) s.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test(
    '1. three named gems: exactly their runtime closure; bundle install from the mirror alone',
    TIMEOUT,
    async () => {
      // Roots with the largest dependency trees whose closure shows each rule at work: a platform
      // variant and a prerelease left out, more than one version of a dependency taken.
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
        current.filter((g) => g.name === n && g.platform === 'ruby' && !/[a-z]/.test(g.version)).at(-1)!
          .version;
      const [maj, min] = newest(candidates[0]!).split('.');
      roots1 = [[candidates[0]!, `~> ${maj}.${min}`], [candidates[1]!], [candidates[2]!]];
      closure1 = expectedClosure(current, { roots: roots1 });

      const inClosure = new Set(closure1.map((f) => nameOf(f, current)));
      const everything = expectedClosure(current, {
        roots: roots1,
        platforms: ALL_PLATFORMS.split(','),
        pre: true,
      });
      assert.ok(closure1.length >= 20, `a real tree: ${closure1.join(' ')}`);
      assert.ok(
        everything.some((f) => /-(java|x86_64-linux)$/.test(f)),
        'the closure has gems with platform variants, which the default (ruby) leaves out',
      );
      assert.ok(
        everything.some((f) => /\d\.(rc|beta|pre)/.test(f)),
        'the closure has gems with prereleases, left out without --pre',
      );
      assert.ok(
        current.some((g) => inClosure.has(g.name) && g.devDeps.length > 0),
        'some gem of the closure has a development dependency, never followed',
      );
      assert.ok(
        [...inClosure].some((n) => closure1.filter((f) => nameOf(f, current) === n).length > 1),
        'some dependency is taken at more than one version',
      );

      const args = roots1.flat();
      // --dry-run with a dependency excluded: the list without it (nor what only it needs), no
      // failure, nothing stored.
      const dep = closure1.map((f) => nameOf(f, current)!).find((n) => !roots1.some(([r]) => r === n))!;
      const dry = await quarry([
        'mirror',
        ...args,
        '--exclude',
        dep,
        '--dry-run',
        '--upstream',
        url(),
        '--data',
        m1(),
      ]);
      assert.equal(dry.status, 0, describeRun('quarry mirror --dry-run --exclude', dry));
      const listed = dry.stdout.split('\n').flatMap((l) => /^would fetch (\S+)\.gem$/.exec(l)?.[1] ?? []);
      assert.deepEqual(sorted(listed), expectedClosure(current, { roots: roots1, exclude: [dep] }));
      assert.match(
        dry.stdout,
        new RegExp(`^would fetch ${listed.length} gems \\(\\d+\\.\\d MB\\); 0 already here$`, 'm'),
      );
      assert.match(dry.stderr, new RegExp(`excluded: ${dep}`));
      assert.equal(catalogCount(m1()), 0, 'a dry run stores nothing');

      const report = await mirrorRun('quarry mirror NAMES', [...args, '--upstream', url(), '--data', m1()]);
      assert.deepEqual(sorted(report.fetched), closure1);
      assert.deepEqual(report.present, []);
      const rows = catalogRows(m1());
      assert.deepEqual(
        rows.map((r) => r.file),
        closure1,
        'the catalog holds the closure and nothing else',
      );
      assert.ok(
        rows.every((r) => r.origin === 'mirror:127-0-0-1'),
        'recorded as mirrored from the upstream',
      );
      assert.ok(!closure1.some((f) => f.includes('-dev-')), 'no development dependency');

      await withUpstreamStopped(async () => {
        const mirror = await serve(m1());
        assert.deepEqual(versionsFiles(await (await mirror.fetch('/versions')).text()), closure1);
        const s = sandbox();
        const app = join(s.root, 'app');
        mkdirSync(app);
        const gemLines = roots1.map(
          ([n, ...req]) => `gem ${[n, ...req].map((x) => JSON.stringify(x)).join(', ')}`,
        );
        writeFileSync(join(app, 'Gemfile'), `source "${mirror.url}/"\n\n${gemLines.join('\n')}\n`);
        const r = await s.bundle(['install', '--jobs', '4'], {
          cwd: app,
          env: { BUNDLE_PATH: join(s.root, 'bundle') },
        });
        assert.equal(r.status, 0, describeRun('bundle install (upstream stopped)', r));
        const locked = lockedFiles(readFileSync(join(app, 'Gemfile.lock'), 'utf8'));
        for (const [n] of roots1)
          assert.ok(
            locked.some((f) => nameOf(f, current) === n),
            `${n} is locked`,
          );
        for (const f of locked) assert.ok(closure1.includes(f), `locked ${f} is one of the mirrored gems`);
        await mirror.stop();
      });
    },
  );

  test(
    '2. --lockfile: exactly the locked gems; bundle install --frozen of that lockfile from the mirror',
    TIMEOUT,
    async () => {
      // Two gems not named in item 1, whose locked versions include a platform gem (x86_64-linux).
      const taken = new Set(roots1.map(([n]) => n));
      const native = current.filter((g) => g.platform === 'x86_64-linux' && !/[a-z]/.test(g.version));
      const newestStable = (n: string) =>
        current.filter((g) => g.name === n && g.platform === 'ruby' && !/[a-z]/.test(g.version)).at(-1)
          ?.version;
      const nativeNewest = native.find((g) => !taken.has(g.name) && newestStable(g.name) === g.version);
      assert.ok(nativeNewest, 'the source has a gem whose newest version is also built for x86_64-linux');
      const other = current.find(
        (g) =>
          !taken.has(g.name) &&
          g.name !== nativeNewest.name &&
          g.deps.length >= 2 &&
          !g.name.includes('-dev-'),
      )!;
      const s = sandbox();
      const app = join(s.root, 'app');
      mkdirSync(app);
      const upstreamSource = `${url()}/`;
      writeFileSync(
        join(app, 'Gemfile'),
        `source "${upstreamSource}"\n\ngem "${nativeNewest.name}"\ngem "${other.name}"\n`,
      );
      expectSuccess('bundle lock (against the upstream)', await s.bundle(['lock'], { cwd: app }));
      const lockText = readFileSync(join(app, 'Gemfile.lock'), 'utf8');
      const locked = lockedFiles(lockText);
      assert.ok(locked.includes(nativeNewest.file), `the lock has ${nativeNewest.file}:\n${lockText}`);
      assert.ok(locked.length >= 3, lockText);

      const lockfile = join(app, 'Gemfile.lock');
      const m2 = join(root, 'm2');
      const report = await mirrorRun('quarry mirror --lockfile', [
        '--lockfile',
        lockfile,
        '--upstream',
        url(),
        '--data',
        m2,
      ]);
      assert.deepEqual(sorted(report.fetched), locked);
      assert.deepEqual(
        catalogRows(m2).map((r) => r.file),
        locked,
        'the catalog holds the locked gems and nothing else',
      );

      await withUpstreamStopped(async () => {
        const mirror = await serve(m2);
        const fresh = sandbox();
        const app2 = join(fresh.root, 'app');
        mkdirSync(app2);
        copyFileSync(join(app, 'Gemfile'), join(app2, 'Gemfile'));
        copyFileSync(lockfile, join(app2, 'Gemfile.lock'));
        expectSuccess(
          'bundle config mirror',
          await fresh.bundle(['config', 'set', '--global', `mirror.${upstreamSource}`, `${mirror.url}/`]),
        );
        const mark = await mirror.mark();
        const r = await fresh.bundle(['install'], {
          cwd: app2,
          env: { BUNDLE_PATH: join(fresh.root, 'bundle'), BUNDLE_FROZEN: 'true' },
        });
        const reqs = await mirror.requestsSince(mark);
        assert.equal(
          r.status,
          0,
          `${describeRun('bundle install --frozen (upstream stopped)', r)}\n${show(reqs)}`,
        );
        assert.equal(readFileSync(join(app2, 'Gemfile.lock'), 'utf8'), lockText, 'the lockfile is unchanged');
        const abi = readdirSync(join(fresh.root, 'bundle', 'ruby'))[0]!;
        const cached = sorted(
          readdirSync(join(fresh.root, 'bundle', 'ruby', abi, 'cache')).map((f) => f.replace(/\.gem$/, '')),
        );
        assert.deepEqual(cached, locked, 'Bundler installed the locked gems, from the mirror');
        await mirror.stop();
      });
    },
  );

  test(
    '4. new versions and a yank upstream: a later run fetches only the new ones; --sync-yanks yanks',
    TIMEOUT,
    async () => {
      assert.ok(closure1.length > 0, 'item 1 ran first');
      const keyRun = await quarry(['keys', 'create', '--scopes', 'push,yank', '--data', upData]);
      assert.equal(keyRun.status, 0, describeRun('quarry keys create', keyRun));
      const key = keyRun.stdout.trimEnd().split('\n').at(-1)!;

      // New versions: of a root (within its requirement), of a dependency in the closure, and of a
      // gem outside it (not to be fetched). A yank: an older version of a dependency in the closure.
      const inClosure = (n: string) => closure1.some((f) => nameOf(f, current) === n);
      const bump = (g: GenGem): GenGem => {
        const [a, b, c] = g.version.split('.').map(Number);
        const version = `${a}.${b}.${(c ?? 0) + 10}`;
        return { ...g, version, platform: 'ruby', file: fileOf(g.name, version, 'ruby') };
      };
      const lastOf = (n: string) =>
        current.filter((g) => g.name === n && g.platform === 'ruby' && !/[a-z]/.test(g.version)).at(-1)!;
      const rootNew = bump(lastOf(roots1[0]![0]));
      const depName = [...new Set(closure1.map((f) => nameOf(f, current)!))].find(
        (n) => !roots1.some(([r]) => r === n) && closure1.filter((f) => nameOf(f, current) === n).length >= 2,
      )!;
      const depNew = bump(lastOf(depName));
      const outside = current.find((g) => !inClosure(g.name) && !g.name.includes('-dev-'))!;
      const outsideNew = bump(lastOf(outside.name));
      const yanked = current.find((g) => g.name === depName && closure1.includes(g.file))!;
      assert.notEqual(yanked.file, lastOf(depName).file);

      for (const g of [rootNew, depNew, outsideNew]) {
        const r = await upstream.fetch('/api/v1/gems', {
          method: 'POST',
          headers: { authorization: key, 'content-type': 'application/octet-stream' },
          body: buildGem(g),
        });
        assert.equal(r.status, 200, `push ${g.file}: ${await r.text()}`);
      }
      const y = await upstream.fetch('/api/v1/gems/yank', {
        method: 'DELETE',
        headers: { authorization: key, 'content-type': 'application/x-www-form-urlencoded' },
        body: `gem_name=${yanked.name}&version=${yanked.version}`,
      });
      assert.equal(y.status, 200, await y.text());
      current = [...current.filter((g) => g !== yanked), rootNew, depNew, outsideNew];

      const closure = expectedClosure(current, { roots: roots1 });
      const expectedNew = closure.filter((f) => !closure1.includes(f));
      assert.ok(
        expectedNew.includes(rootNew.file) && expectedNew.includes(depNew.file),
        expectedNew.join(' '),
      );
      assert.ok(!closure.includes(outsideNew.file));

      // The second run, without --sync-yanks: only the new versions.
      let mark = await upstream.mark();
      const second = await mirrorRun('quarry mirror (second run)', [
        ...roots1.flat(),
        '--upstream',
        url(),
        '--data',
        m1(),
      ]);
      let reqs = await upstream.requestsSince(mark);
      const gets = reqs.filter((r) => r.method === 'GET' && r.path.startsWith('/gems/'));
      assert.deepEqual(
        sorted(gets.map((r) => r.path.slice('/gems/'.length).replace(/\.gem$/, ''))),
        expectedNew,
        `only the new versions are downloaded, once each:\n${show(reqs)}`,
      );
      assert.deepEqual(sorted(second.fetched), expectedNew);
      assert.deepEqual(second.yanked, []);
      const versionsReqs = reqs.filter((r) => r.path === '/versions');
      assert.ok(
        versionsReqs.length === 1 && versionsReqs[0]!.status === 206,
        `/versions is read from where the stored copy ends (Range, 206):\n${show(reqs)}`,
      );
      const infos = reqs.filter((r) => r.path.startsWith('/info/')).map((r) => r.path.slice('/info/'.length));
      assert.deepEqual(
        sorted(new Set(infos)),
        sorted(new Set([rootNew.name, depNew.name])),
        `/info is asked again only for the names that changed:\n${show(reqs)}`,
      );
      assert.ok(
        !catalogRows(m1()).find((r) => r.file === yanked.file)!.yanked,
        'not yanked without --sync-yanks',
      );

      // The third run, with --sync-yanks: nothing to download, the yanked version yanked here.
      mark = await upstream.mark();
      const third = await mirrorRun('quarry mirror --sync-yanks', [
        ...roots1.flat(),
        '--sync-yanks',
        '--upstream',
        url(),
        '--data',
        m1(),
      ]);
      reqs = await upstream.requestsSince(mark);
      assert.deepEqual(show(reqs.filter((r) => r.path.startsWith('/gems/'))), '', 'nothing downloaded');
      assert.deepEqual(third.fetched, []);
      assert.deepEqual(third.yanked, [yanked.file]);
      const rows = catalogRows(m1());
      assert.ok(rows.find((r) => r.file === yanked.file)!.yanked, `${yanked.file} is yanked here`);
      assert.deepEqual(sorted(rows.filter((r) => !r.yanked).map((r) => r.file)), closure);
      const mirror = await serve(m1());
      assert.deepEqual(versionsFiles(await (await mirror.fetch('/versions')).text()), closure);
      assert.equal((await mirror.fetch(`/gems/${yanked.file}.gem`)).status, 404);
      await mirror.stop();
    },
  );

  test(
    '3. killed with SIGKILL at random moments and run again: complete, no partial file, sha256 of the upstream',
    TIMEOUT,
    async () => {
      const m3 = join(root, 'm3');
      const args = [
        'mirror',
        '--all',
        '--pre',
        '--platform',
        ALL_PLATFORMS,
        '--upstream',
        url(),
        '--data',
        m3,
      ];
      const total = versionsFiles(await (await upstream.fetch('/versions')).text());
      // The first run is killed after a random delay (while it starts or reads the index), the
      // next ones once a random number of gems more is stored (while downloading and recording).
      const kills: string[] = [];
      for (let i = 0; i < 4; i++) {
        const target = catalogCount(m3) + Math.ceil(total.length * (0.05 + Math.random() * 0.2));
        const delay = Math.round(200 + Math.random() * 500);
        const run = spawnQuarry(args);
        const killed =
          i === 0
            ? await killWhen(run, async () => true, delay)
            : await killWhen(run, async () => catalogCount(m3) >= target);
        const r = await run.done;
        if (!killed) break; // it finished first
        assert.equal(r.signal, 'SIGKILL', describeRun('killed mirror', r));
        kills.push(
          i === 0 ? `after ${delay} ms (${catalogCount(m3)} stored)` : `at ${catalogCount(m3)} stored`,
        );
      }
      assert.ok(kills.length >= 3, `killed ${kills.length} times: ${kills.join(', ')}`);
      const last = await mirrorRun(`quarry mirror --all after kills at ${kills.join(', ')}`, args.slice(1));
      assert.equal(last.fetched.length + last.present.length, total.length, 'complete');
      assert.ok(last.present.length > 0, `went on where the killed runs stopped (${kills.join(', ')})`);

      assert.deepEqual(tempFilesUnder(m3), [], 'no temp file left anywhere in the data folder');
      const { report: verify, run: verifyRun } = await jsonRun<{
        ok: boolean;
        referenced: number;
        problems: unknown[];
        orphans: unknown[];
        tempFiles: unknown[];
      }>('quarry verify', ['verify', '--data', m3]);
      assert.equal(verifyRun.status, 0, describeRun('quarry verify', verifyRun));
      assert.equal(verify.ok, true);
      assert.deepEqual(
        [verify.problems, verify.orphans, verify.tempFiles],
        [[], [], []],
        JSON.stringify(verify),
      );
      assert.equal(verify.referenced, total.length);
      assert.deepEqual(
        catalogRows(m3).map((r) => r.file),
        total,
      );

      // Every .gem the mirror serves has the upstream's /info checksum.
      const expected = new Map<string, string>();
      const names = sorted(new Set(current.map((g) => g.name)));
      await mapLimit(names, 16, async (n) => {
        for (const [f, sum] of infoChecksums(n, await (await upstream.fetch(`/info/${n}`)).text()))
          expected.set(f, sum);
      });
      assert.deepEqual(sorted(expected.keys()), total);
      const mirror = await serve(m3);
      const wrong: string[] = [];
      await mapLimit(total, 16, async (f) => {
        const r = await mirror.fetch(`/gems/${f}.gem`);
        const body = Buffer.from(await r.arrayBuffer());
        if (r.status !== 200 || sha256(body) !== expected.get(f)) wrong.push(`${f} (${r.status})`);
      });
      assert.deepEqual(wrong, []);
      await mirror.stop();
    },
  );

  test(
    '5. quarry import of a Gem in a Box folder, killed midway: every gem once, broken files named, exit 1',
    TIMEOUT,
    async () => {
      // Gem in a Box keeps its gems in DATA/gems, beside its own indexes (not .gem files).
      const gib = join(root, 'geminabox', 'data');
      const gemsDir = join(gib, 'gems');
      mkdirSync(gemsDir, { recursive: true });
      mkdirSync(join(gib, 'quick', 'Marshal.4.8'), { recursive: true });
      writeFileSync(join(gib, 'specs.4.8.gz'), Buffer.from('not read'));
      writeFileSync(join(gib, 'quick', 'Marshal.4.8', 'x-1.0.gemspec.rz'), Buffer.from('not read'));
      const good = current.slice(0, 400);
      for (const g of good) writeFileSync(join(gemsDir, `${g.file}.gem`), buildGem(g));
      const broken = ['broken-1.0.0.gem', 'truncated-2.0.0.gem'];
      writeFileSync(join(gemsDir, broken[0]!), Buffer.from('this is not a gem\n'.repeat(40)));
      // Cut inside data.tar.gz, as an interrupted download would be.
      const whole = buildGem({
        ...good[0]!,
        name: 'truncated',
        version: '2.0.0',
        file: 'truncated-2.0.0',
        payload: 20_000,
      });
      writeFileSync(join(gemsDir, broken[1]!), whole.subarray(0, Math.floor(whole.length / 2)));

      const m5 = join(root, 'm5');
      const args = ['import', gib, '--data', m5];
      // Killed once a random share (20-70%) of the gems is in.
      const target = Math.ceil(good.length * (0.2 + Math.random() * 0.5));
      const first = spawnQuarry(args);
      assert.ok(await killWhen(first, async () => catalogCount(m5) >= target), 'killed before the end');
      await first.done;
      const stored = catalogCount(m5);
      assert.ok(stored > 0 && stored < good.length, `killed midway (${stored} of ${good.length} in)`);

      // Run again (human output): the rest goes in, the broken files are named, exit status 1.
      const run = await quarry(args);
      assert.equal(run.status, 1, describeRun('quarry import with broken files', run));
      for (const b of broken) {
        assert.match(run.stderr, new RegExp(`quarry: failed: \\S*/${b.replace(/\./g, '\\.')}: `), run.stderr);
      }
      const counts = /^imported (\d+), already present (\d+), failed (\d+)$/m.exec(run.stdout);
      assert.ok(counts, run.stdout);
      assert.deepEqual(
        counts.slice(1).map(Number),
        [good.length - stored, stored, broken.length],
        `the rest imported, the ${stored} stored before the kill already present`,
      );
      const rows = catalogRows(m5);
      assert.deepEqual(
        rows.map((r) => r.file),
        sorted(good.map((g) => g.file)),
        'every gem once in the catalog',
      );
      assert.ok(rows.every((r) => r.origin === 'import'));
      assert.deepEqual(tempFilesUnder(m5), []);

      // And once more, with --json: nothing new, the same two files refused.
      const { report, run: third } = await jsonRun<{
        imported: string[];
        present: string[];
        failed: { file: string; reason: string }[];
      }>('quarry import (third)', args);
      assert.equal(third.status, 1);
      assert.deepEqual([report.imported.length, report.present.length], [0, good.length]);
      assert.deepEqual(
        report.failed.map((f) => f.file),
        broken.map((b) => join(gemsDir, b)),
      );
      assert.equal(catalogCount(m5), good.length);
    },
  );

  test(
    '6. --all --latest 1, then --all: the whole upstream; gem install from the mirror',
    TIMEOUT,
    async () => {
      const m6 = join(root, 'm6');
      const stable = current.filter((g) => g.platform === 'ruby' && !/[a-z]/.test(g.version));
      const newest = new Map<string, GenGem>();
      for (const g of stable) {
        const have = newest.get(g.name);
        if (!have || compareNumeric(g.version, have.version) > 0) newest.set(g.name, g);
      }
      const latest = sorted([...newest.values()].map((g) => g.file));
      const first = await mirrorRun('quarry mirror --all --latest 1', [
        '--all',
        '--latest',
        '1',
        '--upstream',
        url(),
        '--data',
        m6,
      ]);
      assert.deepEqual(sorted(first.fetched), latest);

      const total = versionsFiles(await (await upstream.fetch('/versions')).text());
      assert.deepEqual(
        total,
        sorted(current.map((g) => g.file)),
        "the upstream's /versions is the generated source",
      );
      // Every platform ('*') and prereleases: the whole upstream.
      const all = await mirrorRun('quarry mirror --all', [
        '--all',
        '--pre',
        '--platform',
        '*',
        '--upstream',
        url(),
        '--data',
        m6,
      ]);
      assert.equal(all.fetched.length + all.present.length, total.length);
      assert.equal(all.present.length, latest.length);
      assert.deepEqual(
        catalogRows(m6).map((r) => r.file),
        total,
        'the catalog holds the whole upstream',
      );

      await withUpstreamStopped(async () => {
        const mirror = await serve(m6);
        // A gem with dependencies, one whose newest version is built for x86_64-linux, and one more.
        const withDeps = [...newest.values()].find((g) => g.deps.length >= 3)!;
        const native = current.find(
          (g) => g.platform === 'x86_64-linux' && newest.get(g.name)?.version === g.version,
        )!;
        const plain = [...newest.values()].find((g) => g.deps.length === 0 && g.name !== native.name)!;
        const s = sandbox();
        const r = await s.gem([
          'install',
          withDeps.name,
          native.name,
          plain.name,
          '--clear-sources',
          '--source',
          `${mirror.url}/`,
        ]);
        assert.equal(r.status, 0, describeRun('gem install (from the mirror)', r));
        const installed = readdirSync(join(s.gemHome, 'specifications')).map((f) =>
          f.replace(/\.gemspec$/, ''),
        );
        for (const want of [newest.get(withDeps.name)!.file, native.file, newest.get(plain.name)!.file]) {
          assert.ok(installed.includes(want), `${want} installed: ${installed.join(' ')}`);
        }
        assert.ok(installed.length > 3, 'dependencies installed too');
        await mirror.stop();
      });
    },
  );
});

/** Gem::Version order for the x.y.z numbers of stable generated versions. */
function compareNumeric(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
