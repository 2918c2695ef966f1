/** Running a command to its end while watching its peak memory (the mirror benchmarks). */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpuSample, foreignShare } from './cpu.ts';

/** Peak RSS (VmHWM) of a live process in MiB, or NaN once it is gone. */
export function vmHwm(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Clock ticks a second of /proc's CPU times. */
let clockTicks = 0;
const ticksPerSecond = (): number => {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
};

/**
 * CPU time (user + system, every thread) of this process's children that have ended and been
 * waited for (cutime + cstime of /proc/self/stat), in seconds; NaN off Linux. The difference across
 * one run is that run's CPU time: no other child of the benchmark ends meanwhile.
 */
function endedChildrenCpu(): number {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

export interface PeakRun {
  seconds: number;
  /** CPU time of the command, user + system over all its threads, in seconds. */
  cpuSeconds: number;
  /** The largest VmHWM seen, polled every `pollMs`. */
  peakMiB: number;
  /** Share of the machine's CPU that other processes took meanwhile. */
  foreign: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs a command to its end: wall time, peak RSS (polled), other processes' CPU share, its output. */
export function runWithPeak(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  o: { pollMs?: number; onStderr?: (chunk: string) => void } = {},
): Promise<PeakRun> {
  return new Promise((resolve, reject) => {
    const a = cpuSample();
    const cpu0 = endedChildrenCpu();
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let peak = Number.NaN;
    const poll = setInterval(() => {
      const v = vmHwm(child.pid!);
      if (Number.isFinite(v) && !(v <= peak)) peak = v;
    }, o.pollMs ?? 20);
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
      clearInterval(poll);
      reject(e);
    });
    child.on('exit', () => {
      clearInterval(poll);
    });
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = endedChildrenCpu() - cpu0;
      resolve({
        seconds,
        cpuSeconds,
        peakMiB: peak,
        foreign: foreignShare(a, cpuSample()),
        stdout,
        stderr,
        code,
      });
    });
  });
}
