/** Running a command to its end while watching its peak memory (the mirror benchmarks). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpuSample, foreignShare } from './cpu.ts';
import { run } from './procs.ts';

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

/**
 * Runs a command to its end (procs.run: tracked by PID, stopped with the others on a failure):
 * wall time, CPU time, peak RSS (polled), other processes' CPU share, its output.
 */
export async function runWithPeak(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  o: { pollMs?: number; onStderr?: (chunk: string) => void } = {},
): Promise<PeakRun> {
  const a = cpuSample();
  const cpu0 = endedChildrenCpu();
  const t0 = performance.now();
  let peak = Number.NaN;
  let poll: NodeJS.Timeout | undefined;
  try {
    const r = await run(cmd, cmd, args, env, {
      onStart: (pid) => {
        poll = setInterval(() => {
          const v = vmHwm(pid);
          if (Number.isFinite(v) && !(v <= peak)) peak = v;
        }, o.pollMs ?? 20);
      },
      ...(o.onStderr ? { onStderr: o.onStderr } : {}),
    });
    return {
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: endedChildrenCpu() - cpu0,
      peakMiB: peak,
      foreign: foreignShare(a, cpuSample()),
      ...r,
    };
  } finally {
    clearInterval(poll);
  }
}
