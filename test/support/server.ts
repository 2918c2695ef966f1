/**
 * The real `quarry serve` as a child process, for end-to-end tests: started on 127.0.0.1 with an
 * ephemeral port (read back from its `quarry listening` log line), its JSON log captured line by
 * line, so tests can assert which requests the clients made. Admin verbs (keys, users) run through
 * the same CLI.
 *
 * The server is another process, so the synchronous admin helpers here may block this process
 * briefly. Run clients asynchronously all the same: while this process blocks, nobody reads the
 * server's log, and a full pipe would stall the server.
 */
import type { ChildProcessByStdio } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { QuarryResult } from './quarry.ts';
import { ensureBuilt, REPO_ROOT, runQuarry } from './quarry.ts';
import type { RubySandbox, RunOptions, RunResult } from './ruby.ts';

/** One line of the server's stdout, parsed as JSON (or `{ raw }` when it is not JSON). */
export type ServerLogLine = Record<string, unknown>;

/** A request as the server logged it (`msg: "request"`). */
export interface LoggedRequest {
  method: string;
  /** The raw request target, with its query string. */
  url: string;
  /** The path alone. */
  path: string;
  status: number;
  ua: string;
}

export interface QuarryServer {
  /** e.g. `http://127.0.0.1:40123`, without a trailing slash. */
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  /** Every stdout line so far. */
  logs: ServerLogLine[];
  /** The stderr text so far. */
  stderr(): string;
  /**
   * Resolves once every request answered so far is in the log: a probe request (`/health?e2e-probe=…`,
   * never listed by requestsSince) is sent and its log line waited for. The server logs a request
   * after answering it, so without this a client may finish before its last request is logged.
   */
  flushLog(): Promise<void>;
  /** A position in the request log after flushLog(), for requestsSince(). */
  mark(): Promise<number>;
  /** The requests logged after mark, after flushLog(). */
  requestsSince(mark: number): Promise<LoggedRequest[]>;
  /** fetch() a path (starting with /) on this server. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Sends signal (default SIGTERM) by PID and waits for the exit. Kills with SIGKILL after 15 s. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL by PID unless it has exited already. Safe to call any time, any number of times. */
  kill(): void;
  /** True until the process has exited. */
  running(): boolean;
}

export interface StartOptions {
  /** Data directory (--data). */
  data: string;
  /** quarry.yaml (--config). */
  config?: string;
  /** Default 0: the system picks a free port. */
  port?: number;
  testHooks?: boolean;
  /** Milliseconds to wait for the listen line. Default 30 000. */
  timeoutMs?: number;
  /** Added to the server's environment (e.g. AWS_* credentials for s3:// storage). */
  env?: Record<string, string>;
  /** More `quarry serve` arguments, after the others (e.g. `--upstream URL`, `--offline`). */
  args?: string[];
}

/** The environment for quarry children: the caller's, without QUARRY_* settings or a pinned clock. */
export function serverEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(QUARRY_|SOURCE_DATE_EPOCH$|NODE_TEST_CONTEXT$|NODE_OPTIONS$)/.test(k)) continue;
    env[k] = v;
  }
  // Hosted gems alone unless a test names an upstream (QUARRY_UPSTREAMS, or --upstream): a test
  // server never reaches out to rubygems.org, the default upstream.
  env['QUARRY_UPSTREAMS'] = '[]';
  return env;
}

const PROBE = '/health?e2e-probe=';

const live = new Set<ChildProcessByStdio<null, Readable, Readable>>();
process.once('exit', () => {
  for (const c of live)
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const requestOf = (l: ServerLogLine): LoggedRequest | null => {
  if (l['msg'] !== 'request' || typeof l['url'] !== 'string') return null;
  const url = l['url'];
  return {
    method: String(l['method']),
    url,
    path: url.split('?')[0] ?? url,
    status: Number(l['status']),
    ua: typeof l['ua'] === 'string' ? l['ua'] : '',
  };
};

/** Starts `node bin/quarry serve --host 127.0.0.1 …` and resolves once it listens. */
export async function startQuarryServer(opts: StartOptions): Promise<QuarryServer> {
  ensureBuilt();
  const args = [
    join(REPO_ROOT, 'bin', 'quarry'),
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(opts.port ?? 0),
    '--data',
    opts.data,
  ];
  if (opts.config) args.push('--config', opts.config);
  if (opts.testHooks) args.push('--test-hooks');
  if (opts.args) args.push(...opts.args);
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...serverEnv(), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const pid = child.pid;
  if (pid === undefined) throw new Error('quarry serve did not start');

  const logs: ServerLogLine[] = [];
  const requests: LoggedRequest[] = [];
  const listeners = new Set<(l: ServerLogLine) => void>();
  let partial = '';
  let stderr = '';
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitWaiters: (() => void)[] = [];

  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    partial += chunk;
    let nl = partial.indexOf('\n');
    while (nl >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      nl = partial.indexOf('\n');
      if (text.trim() === '') continue;
      let line: ServerLogLine;
      try {
        line = JSON.parse(text) as ServerLogLine;
      } catch {
        line = { raw: text };
      }
      logs.push(line);
      const r = requestOf(line);
      if (r) requests.push(r);
      for (const f of listeners) f(line);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  // 'close', not 'exit': by then stdout has been read to the end.
  child.on('close', (code, signal) => {
    exited = { code, signal };
    live.delete(child);
    for (const f of exitWaiters.splice(0)) f();
  });

  const describe = () =>
    `quarry serve (pid ${pid}, exit ${exited ? (exited.code ?? exited.signal) : 'none'})\n--- stdout\n${logs
      .map((l) => JSON.stringify(l))
      .join('\n')
      .slice(-4000)}\n--- stderr\n${stderr.slice(-4000)}`;

  /** Resolves with the first line (from now on, or already logged when `past`) that matches. */
  const waitFor = (match: (l: ServerLogLine) => boolean, timeoutMs: number, what: string, past = true) =>
    new Promise<ServerLogLine>((resolve, reject) => {
      const seen = past ? logs.find(match) : undefined;
      if (seen) return resolve(seen);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(onLine);
        const i = exitWaiters.indexOf(onExit);
        if (i >= 0) exitWaiters.splice(i, 1);
      };
      const onLine = (l: ServerLogLine) => {
        if (!match(l)) return;
        done();
        resolve(l);
      };
      const onExit = () => {
        done();
        reject(new Error(`${describe()}\nexited while waiting for ${what}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${describe()}\ntimed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      listeners.add(onLine);
      if (exited) onExit();
      else exitWaiters.push(onExit);
    });

  let listening: ServerLogLine;
  try {
    listening = await waitFor(
      (l) => l['msg'] === 'quarry listening' && typeof l['address'] === 'string',
      opts.timeoutMs ?? 30_000,
      'the "quarry listening" line',
    );
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
    throw e;
  }
  const url = String(listening['address']).replace(/\/$/, '');
  const port = Number(new URL(url).port);

  const flushLog = async (): Promise<void> => {
    const probe = `${PROBE}${randomUUID()}`;
    const logged = waitFor((l) => l['url'] === probe, 10_000, `the log line of ${probe}`, false);
    logged.catch(() => {}); // awaited below; this keeps a failed fetch from leaving it unhandled
    const r = await fetch(`${url}${probe}`);
    await r.arrayBuffer();
    await logged;
  };
  const running = () => exited === null;
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };

  return {
    url,
    port,
    pid,
    dataDir: opts.data,
    logs,
    stderr: () => stderr,
    running,
    kill,
    flushLog,
    async mark() {
      await flushLog();
      return requests.length;
    },
    async requestsSince(mark) {
      await flushLog();
      return requests.slice(mark).filter((x) => !x.url.startsWith(PROBE));
    },
    fetch: (path, init) => fetch(`${url}${path}`, init),
    stop(signal = 'SIGTERM') {
      return new Promise((resolve, reject) => {
        if (exited) return resolve(exited);
        const timer = setTimeout(() => {
          kill();
          reject(new Error(`${describe()}\ndid not exit within 15 s of ${signal}; killed`));
        }, 15_000);
        exitWaiters.push(() => {
          clearTimeout(timer);
          resolve(exited!);
        });
        process.kill(pid, signal);
      });
    },
  };
}

/** Options of the admin helpers: the server's data and config, and extra environment variables. */
export interface AdminOptions {
  data: string;
  config?: string;
  env?: Record<string, string>;
}

/** `quarry ARGS --data DIR [--config FILE]`; throws with the output unless it exits 0. */
export function quarryAdmin(args: string[], opts: AdminOptions): QuarryResult {
  const full = [...args, '--data', opts.data, ...(opts.config ? ['--config', opts.config] : [])];
  // QUARRY_* variables are configuration to quarry (E2E_TRACE would be an unknown key).
  const scrub = Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => k.startsWith('QUARRY_'))
      .map((k) => [k, undefined]),
  );
  const r = runQuarry(full, { env: { ...scrub, ...opts.env } });
  if (r.status !== 0) {
    throw new Error(
      `quarry ${full.join(' ')} exited ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r;
}

/** Creates an API key with the CLI and returns it (the last line of stdout). */
export function createKey(
  data: string,
  scopes: readonly string[],
  opts: { name?: string; gems?: string; config?: string; env?: Record<string, string> } = {},
): string {
  const args = ['keys', 'create', '--scopes', scopes.join(',')];
  if (opts.name) args.push('--name', opts.name);
  if (opts.gems) args.push('--gems', opts.gems);
  const r = quarryAdmin(args, {
    data,
    ...(opts.config ? { config: opts.config } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
  const key = r.stdout.trimEnd().split('\n').at(-1) ?? '';
  if (!/^\S{20,}$/.test(key)) throw new Error(`keys create printed no key on its last line:\n${r.stdout}`);
  return key;
}

/** `quarry users hash-password` with the password on stdin; returns the printed `scrypt$…` hash. */
export function hashPassword(password: string): string {
  ensureBuilt();
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'quarry'), 'users', 'hash-password'], {
    cwd: REPO_ROOT,
    env: serverEnv(),
    input: `${password}\n`,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const hash = (r.stdout ?? '').trimEnd().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !hash.startsWith('scrypt$')) {
    throw new Error(`quarry users hash-password exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return hash;
}

/**
 * Runs argv under a pseudo-terminal (Ruby's PTY), answering prompts in order: each `[pattern,
 * answer]` waits until the output so far (after the previous match) matches the pattern (a Ruby
 * regexp source), then types answer and Enter. RubyGems reads answers only from a terminal
 * (`ask` returns nil when stdin is not a tty), so `gem signin` needs this. The result's stdout is
 * the whole terminal transcript; status is the command's exit status (124 when it waited 30 s for
 * output that never came, or a prompt was never matched).
 */
export function runInPty(
  sandbox: RubySandbox,
  argv: string[],
  prompts: [pattern: string, answer: string][],
  opts: RunOptions = {},
): Promise<RunResult> {
  return sandbox.ruby(['-e', PTY_SCRIPT, '--', ...argv], {
    ...opts,
    env: { ...opts.env, QUARRY_PTY_PROMPTS: JSON.stringify(prompts) },
  });
}

/** The scopes RubyGems 3.3 offers at sign-in, in the order it asks (y/n) about them. */
const SIGNIN_SCOPES = [
  'index_rubygems',
  'push_rubygem',
  'yank_rubygem',
  'add_owner',
  'remove_owner',
  'access_webhooks',
  'show_dashboard',
];

/**
 * `gem signin --host URL` in the sandbox, answering its questions: email (the user name), password,
 * key name, then yes to push_rubygem and yank_rubygem, no to the other scopes.
 *
 * RubyGems 3.3.15 reads answers only from a terminal, hence the PTY. And with --host alone it
 * still treats the host as rubygems.org (it says "Enter your RubyGems.org credentials" and asks
 * https://rubygems.org/api/v1/profile/me.yaml for the MFA level, which fails offline): its
 * default_host? looks at RUBYGEMS_HOST or Gem.host, not at --host. RUBYGEMS_HOST=URL makes it sign
 * in to URL alone and store the key under that URL in the credentials file.
 */
export function gemSignin(
  sandbox: RubySandbox,
  url: string,
  who: { user: string; password: string; keyName: string },
): Promise<RunResult> {
  return runInPty(
    sandbox,
    ['gem', 'signin', '--host', url],
    [
      ['Email:', who.user],
      ['Password:', who.password],
      ['API Key name', who.keyName],
      ...SIGNIN_SCOPES.map((s): [string, string] => [`${s} \\[yN\\]`, s.endsWith('_rubygem') ? 'y' : 'n']),
    ],
    { env: { RUBYGEMS_HOST: url } },
  );
}

const PTY_SCRIPT = `
require 'pty'
require 'json'
prompts = JSON.parse(ENV.delete('QUARRY_PTY_PROMPTS'))
transcript = +''
pending = +''
status = nil
PTY.spawn(*ARGV) do |r, w, pid|
  loop do
    unless IO.select([r], nil, nil, 30)
      Process.kill('KILL', pid)
      transcript << "\\n[pty: no output for 30 s; still waiting for #{prompts.first.inspect}]\\n"
      break
    end
    begin
      chunk = r.readpartial(4096)
    rescue EOFError, Errno::EIO
      break
    end
    transcript << chunk
    pending << chunk
    while (p = prompts.first) && (m = Regexp.new(p[0]).match(pending))
      pending = m.post_match
      w.write(p[1] + "\\n")
      w.flush
      prompts.shift
    end
  end
  _, status = Process.wait2(pid)
end
$stdout.write(transcript)
$stdout.write("\\n[pty: prompts never shown: #{prompts.map(&:first).inspect}]\\n") unless prompts.empty?
exit(prompts.empty? && status.exitstatus ? status.exitstatus : 124)
`;
