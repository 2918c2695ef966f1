/**
 * Child processes of the server benchmark: every long-running process (servers) is registered here
 * by PID and stopped by PID at the end, on failure and on SIGINT/SIGTERM. Nothing is ever stopped by
 * name.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';

interface Tracked {
  label: string;
  child: ChildProcess;
  /** Signal that asks the process to stop (nginx: SIGQUIT finishes, SIGTERM is fast). */
  signal: NodeJS.Signals;
  log: string;
}

const running = new Map<number, Tracked>();
const logs = new Map<number, string>();

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr go to this file. */
  log: string;
  signal?: NodeJS.Signals;
}

/** Starts a long-running process with its output in a log file, and remembers its PID. */
export function start(label: string, cmd: string, args: readonly string[], o: StartOptions): number {
  const fd = openSync(o.log, 'a');
  const child = spawn(cmd, args, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${label}: could not start ${cmd}`);
  const pid = child.pid;
  running.set(pid, { label, child, signal: o.signal ?? 'SIGTERM', log: o.log });
  logs.set(pid, o.log);
  child.on('exit', () => running.delete(pid));
  return pid;
}

export function isRunning(pid: number): boolean {
  return running.has(pid);
}

export function logTail(pid: number, lines = 20): string {
  const log = logs.get(pid);
  if (!log || !existsSync(log)) return '';
  return readFileSync(log, 'utf8').split('\n').slice(-lines).join('\n');
}

/** Stops one process by PID: its stop signal, then SIGKILL after `graceMs`. */
export async function stop(pid: number, graceMs = 5000): Promise<void> {
  const t = running.get(pid);
  if (!t) return;
  const exited = new Promise<void>((resolve) => {
    if (t.child.exitCode !== null || t.child.signalCode !== null) resolve();
    else t.child.once('exit', () => resolve());
  });
  try {
    process.kill(pid, t.signal);
  } catch {
    running.delete(pid);
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }, graceMs);
  await exited;
  clearTimeout(timer);
  running.delete(pid);
}

/** Stops every process this benchmark started, one by one, by PID. */
export async function stopAll(): Promise<void> {
  for (const pid of [...running.keys()].reverse()) await stop(pid);
}

/** Last resort when the process is exiting: SIGKILL what is left, synchronously, by PID. */
export function killAllNow(): void {
  for (const pid of running.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  running.clear();
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Waits until `url` answers with any HTTP status; fails if the process exits first. */
export async function waitForHttp(pid: number, url: string, timeoutMs = 60_000): Promise<void> {
  const label = running.get(pid)?.label ?? String(pid);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!running.has(pid)) throw new Error(`${label} exited before answering ${url}`);
    if ((await probe(url)) > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${label} did not answer ${url} within ${timeoutMs} ms:\n${logTail(pid)}`);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a short-lived command to its end (tracked by PID meanwhile, so a failure stops it too).
 * `onStart` is told its PID once it runs; `onStderr` gets its standard error as it comes.
 */
export function run(
  label: string,
  cmd: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
  o: { onStart?: (pid: number) => void; onStderr?: (chunk: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) {
      reject(new Error(`${label}: could not start ${cmd}`));
      return;
    }
    const pid = child.pid;
    running.set(pid, { label, child, signal: 'SIGTERM', log: '' });
    o.onStart?.(pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      o.onStderr?.(c.toString());
    });
    child.on('error', (e) => {
      running.delete(pid);
      reject(e);
    });
    child.on('close', (code) => {
      running.delete(pid);
      resolve({ code, stdout, stderr });
    });
  });
}
