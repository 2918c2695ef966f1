/**
 * Run the built `quarry` command (node bin/quarry …) from the repository root, as a user would.
 *
 * For checking the e2e harness itself while the CLI is unfinished, set
 * E2E_INDEXER=generate_index: indexStaticDir() then runs RubyGems' own `gem generate_index`
 * instead of `quarry index` (which writes no compact index, so compact-index assertions will fail).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeRun, rubySandbox, runSync } from './ruby.ts';

/** The repository root (two levels above test/support/). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface QuarryResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface QuarryOptions {
  cwd?: string;
  /** Added to the caller's environment. */
  env?: Record<string, string | undefined>;
  /** Default 120 000 ms. */
  timeoutMs?: number;
}

/** `node bin/quarry ...args`, synchronously. Builds dist/ first when it is missing or stale. */
export function runQuarry(args: string[], opts: QuarryOptions = {}): QuarryResult {
  ensureBuilt();
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'quarry'), ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new Error(`could not run bin/quarry: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let builtChecked = false;

/**
 * Run `npm run build` unless the last successful build (stamped in dist/) is newer than every file
 * under src/. Concurrent test processes take turns through a lock directory. Throws with the
 * compiler's output when the build fails.
 */
export function ensureBuilt(): void {
  if (builtChecked) return;
  const dist = join(REPO_ROOT, 'dist');
  const stamp = join(dist, '.quarry-build-ok');
  const lock = join(dist, '.quarry-build.lock');
  const fresh = () => existsSync(stamp) && newestMtime(join(REPO_ROOT, 'src')) < statSync(stamp).mtimeMs;
  mkdirSync(dist, { recursive: true });
  const deadline = Date.now() + 300_000;
  while (!fresh()) {
    try {
      mkdirSync(lock);
    } catch {
      // Another process is building; wait for it, then look again (a stale lock is taken over).
      if (Date.now() > deadline) rmSync(lock, { recursive: true, force: true });
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
      continue;
    }
    try {
      rmSync(stamp, { force: true });
      const started = Date.now();
      const r = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) {
        throw new Error(
          `npm run build failed (exit ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`.slice(0, 8000),
        );
      }
      writeFileSync(stamp, '');
      // The stamp must be newer than any source that was read by this build.
      utimesSync(stamp, new Date(started), new Date(started));
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
    break;
  }
  builtChecked = true;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    const t = entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

/** Which program writes static indexes in the e2e tests: quarry (default) or RubyGems. */
export function staticIndexer(): 'quarry' | 'generate_index' {
  const v = process.env['E2E_INDEXER'];
  if (v === undefined || v === '' || v === 'quarry') return 'quarry';
  if (v === 'generate_index') return 'generate_index';
  throw new Error(`E2E_INDEXER must be quarry or generate_index, not ${v}`);
}

/**
 * Index DIR (holding DIR/gems/*.gem) in place: `quarry index DIR [--update]`, or, with
 * E2E_INDEXER=generate_index, `gem generate_index -d DIR [--update]`. Throws on failure.
 */
export function indexStaticDir(dir: string, opts: { update?: boolean } = {}): QuarryResult {
  const update = opts.update ? ['--update'] : [];
  if (staticIndexer() === 'generate_index') return generateIndex(dir, update);
  const r = runQuarry(['index', dir, ...update]);
  if (r.status !== 0)
    throw new Error(describeRun(`quarry index ${dir} ${update.join(' ')}`, { ...r, signal: null }));
  return r;
}

/** RubyGems' `gem generate_index -d DIR` in a throwaway sandbox. Throws on failure. */
export function generateIndex(dir: string, extraArgs: string[] = []): QuarryResult {
  const sandbox = rubySandbox('quarry-genindex-');
  try {
    const r = runSync('gem', ['generate_index', '-d', dir, ...extraArgs], {
      env: sandbox.env,
      cwd: sandbox.home,
      timeoutMs: 300_000,
    });
    if (r.status !== 0) throw new Error(describeRun(`gem generate_index -d ${dir}`, r));
    return r;
  } finally {
    sandbox.cleanup();
  }
}
