/**
 * The real `quarry serve` as a child process, for end-to-end tests: started on 127.0.0.1 with an
 * ephemeral port (read back from its `quarry listening` log line), its JSON log captured line by
 * line, so tests can assert which requests the clients made. Admin verbs (keys, users) run through
 * the same CLI.
 *
 * The server is another process, so the synchronous admin helpers here may block this process;
 * clients that talk to the server can still run synchronously or not, as the caller likes.
 */
import type { ChildProcessByStdio } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { QuarryResult } from './quarry.ts';
import { ensureBuilt, REPO_ROOT, runQuarry } from './quarry.ts';

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
  /** A position in the request log, for requestsSince(). */
  mark(): number;
  /**
   * The requests logged after mark, once every request answered before this call is in the log
   * (a probe request is sent and waited for; it is not returned).
   */
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
}

/** The environment for quarry children: the caller's, without QUARRY_* settings or a pinned clock. */
function serverEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(QUARRY_|SOURCE_DATE_EPOCH$|NODE_TEST_CONTEXT$|NODE_OPTIONS$)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

const live = new Set<ChildProcessByStdio<null, Readable, Readable>>();
process.once('exit', () => {
  for (const c of live) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
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
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: serverEnv(),
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
  child.on('exit', (code, signal) => {
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

  const running = () => exited === null;
  const kill = () => {
    if (running()) {
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
    mark: () => requests.length,
    async requestsSince(mark) {
      const probe = `/health?e2e-probe=${randomUUID()}`;
      const logged = waitFor((l) => l['url'] === probe, 10_000, `the log line of ${probe}`);
      const r = await fetch(`${url}${probe}`);
      await r.arrayBuffer();
      await logged;
      return requests.slice(mark).filter((x) => !x.url.startsWith('/health?e2e-probe='));
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

/** `quarry ARGS --data DIR [--config FILE]`; throws with the output unless it exits 0. */
export function quarryAdmin(args: string[], opts: { data: string; config?: string }): QuarryResult {
  const full = [...args, '--data', opts.data, ...(opts.config ? ['--config', opts.config] : [])];
  const r = runQuarry(full, { env: { QUARRY_NOW: undefined, QUARRY_CONFIG: undefined } });
  if (r.status !== 0) {
    throw new Error(`quarry ${full.join(' ')} exited ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r;
}

/** Creates an API key with the CLI and returns it (the last line of stdout). */
export function createKey(
  data: string,
  scopes: readonly string[],
  opts: { name?: string; gems?: string; config?: string } = {},
): string {
  const args = ['keys', 'create', '--scopes', scopes.join(',')];
  if (opts.name) args.push('--name', opts.name);
  if (opts.gems) args.push('--gems', opts.gems);
  const r = quarryAdmin(args, { data, ...(opts.config ? { config: opts.config } : {}) });
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
