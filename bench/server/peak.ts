/** Running a command to its end while watching its peak memory (the mirror benchmarks). */
import { spawn } from 'node:child_process';
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

export interface PeakRun {
  seconds: number;
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
      resolve({ seconds, peakMiB: peak, foreign: foreignShare(a, cpuSample()), stdout, stderr, code });
    });
  });
}
