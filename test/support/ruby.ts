/**
 * Run the real `ruby`, `gem` and `bundle` in a sandbox: a temporary HOME, GEM_HOME, spec cache and
 * Bundler home, no proxy, no inherited Ruby or Bundler settings, and `--no-document` for every gem
 * install. Nothing from the machine's own gem paths is visible except the newest Bundler itself.
 *
 * The runners are asynchronous on purpose: a test that serves files from this process must not
 * block its event loop while a client talks to it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface RunResult {
  /** Exit status; null when the process was killed (see signal). */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Extra environment variables, applied over the sandbox's. */
  env?: Record<string, string | undefined>;
  input?: string;
  /** Milliseconds before the process is killed. Default 120 000. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** Variables that must never leak from the caller's environment into a sandboxed Ruby. */
const SCRUBBED = /^(GEM_|GEMRC$|BUNDLE_|BUNDLER_|RUBY|XDG_|.*_PROXY$)/i;

let rubyChecked = false;

/** Throws (so the calling test fails, never skips) when ruby, gem or bundle is not on PATH. */
export function requireRuby(): void {
  if (rubyChecked) return;
  for (const [cmd, arg] of [
    ['ruby', '-v'],
    ['gem', '-v'],
    ['bundle', '-v'],
  ] as const) {
    const r = spawnSync(cmd, [arg], { encoding: 'utf8', timeout: 30_000 });
    if (r.error || r.status !== 0) {
      throw new Error(
        `${cmd} is required for this test but \`${cmd} ${arg}\` failed: ${r.error?.message ?? r.stderr}`,
      );
    }
  }
  rubyChecked = true;
}

let bundlerBase: string | null | undefined;

/**
 * A private gem dir holding only links to the newest installed Bundler, so `bundle` inside the
 * sandbox runs the same Bundler as outside it, while no other installed gem is visible.
 * null when the newest Bundler is a default gem (default gems are always visible).
 */
function bundlerGemDir(): string | null {
  if (bundlerBase !== undefined) return bundlerBase;
  const script =
    'require "json"; s = Gem::Specification.find_by_name("bundler"); ' +
    'print JSON.generate([s.default_gem?, s.loaded_from, s.full_gem_path])';
  const [isDefault, specFile, gemDir] = JSON.parse(
    execFileSync('ruby', ['-e', script], { encoding: 'utf8', env: scrubbedEnv() }),
  ) as [boolean, string, string];
  if (isDefault) {
    bundlerBase = null;
    return null;
  }
  const base = mkdtempSync(join(tmpdir(), 'quarry-bundler-'));
  mkdirSync(join(base, 'specifications'));
  mkdirSync(join(base, 'gems'));
  symlinkSync(specFile, join(base, 'specifications', basename(specFile)));
  symlinkSync(gemDir, join(base, 'gems', basename(gemDir)));
  process.once('exit', () => rmSync(base, { recursive: true, force: true }));
  bundlerBase = base;
  return base;
}

/**
 * The caller's environment without Ruby, Bundler, XDG or proxy settings: for Ruby work that needs the
 * machine's own gems (e.g. reading installed specifications) but nothing inherited from the shell.
 */
export function cleanEnv(): Record<string, string> {
  return scrubbedEnv();
}

function scrubbedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !SCRUBBED.test(k)) env[k] = v;
  }
  env['no_proxy'] = '127.0.0.1,localhost';
  env['NO_PROXY'] = '127.0.0.1,localhost';
  env['LANG'] = 'C.UTF-8';
  env['LC_ALL'] = 'C.UTF-8';
  return env;
}

export interface RubySandbox {
  /** The temporary root; everything below is removed by cleanup(). */
  root: string;
  home: string;
  gemHome: string;
  /** The environment every command in this sandbox runs with. */
  env: Record<string, string>;
  ruby(args: string[], opts?: RunOptions): Promise<RunResult>;
  gem(args: string[], opts?: RunOptions): Promise<RunResult>;
  bundle(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Synchronous `ruby`, for work that does not talk to a server in this process. */
  rubySync(args: string[], opts?: RunOptions): RunResult;
  /** Synchronous `gem`, for work that does not talk to a server in this process. */
  gemSync(args: string[], opts?: RunOptions): RunResult;
  cleanup(): void;
}

/** A fresh, isolated Ruby environment under os.tmpdir(). */
export function rubySandbox(prefix = 'quarry-ruby-'): RubySandbox {
  requireRuby();
  const root = mkdtempSync(join(tmpdir(), prefix));
  const home = join(root, 'home');
  const gemHome = join(root, 'gem-home');
  for (const d of [home, gemHome, join(root, 'tmp')]) mkdirSync(d, { recursive: true });
  const gemrc = join(home, '.gemrc');
  writeFileSync(gemrc, 'gem: --no-document\n');
  const base = bundlerGemDir();
  const env: Record<string, string> = {
    ...scrubbedEnv(),
    HOME: home,
    GEMRC: gemrc,
    GEM_HOME: gemHome,
    GEM_PATH: base ? `${gemHome}:${base}` : gemHome,
    GEM_SPEC_CACHE: join(root, 'spec-cache'),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_STATE_HOME: join(home, '.local', 'state'),
    BUNDLE_USER_HOME: join(root, 'bundle-home'),
    BUNDLE_APP_CONFIG: join(root, 'bundle-config'),
    BUNDLE_SILENCE_ROOT_WARNING: '1',
    BUNDLE_RETRY: '0',
    TMPDIR: join(root, 'tmp'),
  };
  const withEnv = (opts: RunOptions | undefined): RunOptions => ({
    ...opts,
    env: { ...env, ...opts?.env },
    cwd: opts?.cwd ?? home,
  });
  return {
    root,
    home,
    gemHome,
    env,
    ruby: (args, opts) => run('ruby', args, withEnv(opts)),
    gem: (args, opts) => run('gem', args, withEnv(opts)),
    bundle: (args, opts) => run('bundle', args, withEnv(opts)),
    rubySync: (args, opts) => runSync('ruby', args, withEnv(opts)),
    gemSync: (args, opts) => runSync('gem', args, withEnv(opts)),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * Run a command and collect its output. env replaces the environment entirely when given
 * (sandboxes pass their own); without it the caller's environment is used.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ? definedOnly(opts.env) : process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${cmd}: ${e.message}`));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolvePromise({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Synchronous run(); blocks the event loop, so never use it against a server in this process. */
export function runSync(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ? definedOnly(opts.env) : process.env,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`could not start ${cmd}: ${r.error.message}`);
  }
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** A one-line description of a finished command, for assertion messages. */
export function describeRun(label: string, r: RunResult): string {
  const tail = (s: string) => (s.length > 4000 ? `…${s.slice(-4000)}` : s);
  return `${label} exited ${r.status ?? r.signal}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`;
}

/** Throws with the command's output unless it exited 0; returns the result otherwise. */
export function expectSuccess(label: string, r: RunResult): RunResult {
  if (r.status !== 0) throw new Error(describeRun(label, r));
  return r;
}

/**
 * Runs a Ruby script (JSON on stdin, JSON on stdout) once, on first use inside a test, so that
 * a missing Ruby makes the tests fail (never skip).
 */
export function rubyOnce<T>(script: string, input: unknown): () => T {
  let cached: { value: T } | undefined;
  return () => {
    if (!cached) {
      const out = execFileSync('ruby', ['-rjson', '-e', script], {
        input: JSON.stringify(input),
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      cached = { value: JSON.parse(out) as T };
    }
    return cached.value;
  };
}
