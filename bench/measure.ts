/**
 * Runs one command and measures its wall time and peak resident memory.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f '%e %M'`, the maximum RSS of the child in KiB) when
 * it is installed; otherwise from polling /proc/PID/status (VmHWM) every few milliseconds, which can
 * miss a short final spike. Wall time is always taken here with a monotonic clock, around the spawn.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  wallMs: number;
  /** Peak resident set size in KiB. */
  peakRssKiB: number;
  /** How the peak was measured. */
  rssSource: 'gnu-time' | 'proc';
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr of the command are appended to this file. */
  log: string;
}

/** Makes sure GNU time is there: installs the Debian package `time` when missing and root. */
export function ensureGnuTime(): boolean {
  if (existsSync(GNU_TIME)) return true;
  if (typeof process.getuid === 'function' && process.getuid() === 0 && existsSync('/usr/bin/apt-get')) {
    process.stderr.write('bench: installing the Debian package `time` (GNU time)\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'time'], {
      stdio: 'inherit',
      env,
    });
  }
  return existsSync(GNU_TIME);
}

function failure(what: string, code: number | null, signal: NodeJS.Signals | null, log: string): Error {
  const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') : '';
  return new Error(
    `${what} failed (${signal ? `signal ${signal}` : `exit ${code}`}); last lines of ${log}:\n${tail}`,
  );
}

/** GNU time: `-f '%e %M' -o FILE` puts "seconds KiB" on the last line of FILE. */
function withGnuTime(cmd: string, args: readonly string[], opts: RunOptions): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'quarry-bench-time-'));
  const out = join(dir, 'time.txt');
  const fd = openSync(opts.log, 'a');
  return new Promise<Measurement>((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(GNU_TIME, ['-f', '%e %M', '-o', out, cmd, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      closeSync(fd);
      try {
        if (code !== 0) throw failure(`${cmd} ${args.join(' ')}`, code, signal, opts.log);
        const last = readFileSync(out, 'utf8').trim().split('\n').at(-1) ?? '';
        const kib = Number(last.split(' ')[1]);
        if (!Number.isFinite(kib) || kib <= 0)
          throw new Error(`cannot read GNU time output: ${JSON.stringify(last)}`);
        resolve({ wallMs, peakRssKiB: kib, rssSource: 'gnu-time' });
      } catch (e) {
        reject(e);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

function vmHwmKiB(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Fallback: polls VmHWM (the kernel's own high-water mark) of the child until it exits. */
function withProcPolling(cmd: string, args: readonly string[], opts: RunOptions): Promise<Measurement> {
  const fd = openSync(opts.log, 'a');
  return new Promise<Measurement>((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
    });
    let peak = 0;
    const timer = setInterval(() => {
      if (child.pid !== undefined) peak = Math.max(peak, vmHwmKiB(child.pid));
    }, 5);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      closeSync(fd);
      if (code !== 0) reject(failure(`${cmd} ${args.join(' ')}`, code, signal, opts.log));
      else if (peak === 0) reject(new Error(`${cmd} exited before its memory could be read from /proc`));
      else resolve({ wallMs, peakRssKiB: peak, rssSource: 'proc' });
    });
  });
}

export function measure(cmd: string, args: readonly string[], opts: RunOptions): Promise<Measurement> {
  return existsSync(GNU_TIME) ? withGnuTime(cmd, args, opts) : withProcPolling(cmd, args, opts);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
