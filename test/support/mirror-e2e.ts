/**
 * Helpers of the `quarry mirror` / `quarry import` end-to-end tests (test/e2e/mirror-*.test.ts):
 * the CLI as an asynchronous child process, its --json reports, the catalog read straight from its
 * SQLite file, and parsers of what a compact index and a Gemfile.lock say.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import type { GenGem } from './mirror-upstream.ts';
import { REPO_ROOT } from './quarry.ts';
import type { RunResult } from './ruby.ts';
import { describeRun } from './ruby.ts';
import type { LoggedRequest } from './server.ts';
import { serverEnv } from './server.ts';

export const TIMEOUT = { timeout: 150_000 };
export const ALL_PLATFORMS = 'ruby,java,x86_64-linux';

export const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
export const sorted = (xs: Iterable<string>) => [...xs].sort();
export const show = (reqs: LoggedRequest[]) =>
  reqs.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('\n');
export const nameOf = (file: string, gems: readonly GenGem[]) => gems.find((g) => g.file === file)?.name;

export interface Running {
  child: ChildProcess;
  done: Promise<RunResult>;
}

/**
 * `node bin/quarry ARGS` as a child process, asynchronously: this process keeps reading the
 * upstream server's log while the CLI talks to it.
 */
export function spawnQuarry(args: string[], timeoutMs = 120_000): Running {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'quarry'), ...args], {
    cwd: REPO_ROOT,
    env: serverEnv(),
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

export const quarry = (args: string[], timeoutMs?: number) => spawnQuarry(args, timeoutMs).done;

export interface MirrorJson {
  planned: number;
  fetched: string[];
  present: string[];
  failed: { file: string; reason: string }[];
  missing: string[];
  yanked: string[];
  bytes: number;
  changedSince: { recordedAt: string; names: number } | null;
}

/** Runs the CLI with --json; returns its report and the run (status may be non-zero). */
export async function jsonRun<T>(label: string, args: string[]): Promise<{ report: T; run: RunResult }> {
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

/** `quarry mirror ARGS --json`, which must succeed with nothing failed or missing. */
export async function mirrorRun(label: string, args: string[]): Promise<MirrorJson> {
  const { report, run } = await jsonRun<MirrorJson>(label, ['mirror', ...args]);
  assert.equal(run.status, 0, describeRun(label, run));
  assert.deepEqual(report.failed, [], label);
  assert.deepEqual(report.missing, [], label);
  return report;
}

/** The number of versions in the catalog (0 before it exists). */
export function catalogCount(data: string): number {
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
export async function killWhen(run: Running, ready: () => Promise<boolean>, delayMs = 0): Promise<boolean> {
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
export function catalogRows(
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
export function tempFilesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => /(^|\/)\.tmp-|\.tmp-/.test(p));
}

/** The live files of a compact index /versions body: name-token, after yanks ("-token") are applied. */
export function versionsFiles(body: string): string[] {
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
export function infoChecksums(name: string, body: string): Map<string, string> {
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
export function lockedFiles(lock: string): string[] {
  const section = /^GEM\n[\s\S]*?\n {2}specs:\n([\s\S]*?)(?:\n\n|\n(?=\S))/m.exec(lock)?.[1] ?? '';
  return sorted(
    section
      .split('\n')
      .map((l) => /^ {4}(\S+) \(([^)]+)\)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[1]}-${m[2]}`),
  );
}

/** Gem::Version order for the x.y.z numbers of stable generated versions. */
export function compareNumeric(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
