/**
 * How much CPU other processes took during a measurement: the machine's busy time (/proc/stat)
 * minus the time of this process and all its descendants (servers, nginx workers, wrk). Linux only;
 * elsewhere the figure is NaN.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface Sample {
  /** Busy jiffies of the whole machine. */
  busy: number;
  /** All jiffies of the whole machine (busy + idle). */
  total: number;
  /** CPU time of this process tree (ended children included), in jiffies. */
  ours: number;
}

function procStat(pid: string): { ppid: number; ticks: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces: the fields after it start after the last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // utime + stime, plus cutime + cstime (children that ended, e.g. a finished wrk).
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

function ourTicks(): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(d);
    if (st) stats.set(Number(d), st);
  }
  const ours = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, st] of stats) {
      if (!ours.has(pid) && ours.has(st.ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const pid of ours) ticks += stats.get(pid)?.ticks ?? 0;
  return ticks;
}

export function cpuSample(): Sample {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total, ours: ourTicks() };
  } catch {
    return { busy: Number.NaN, total: Number.NaN, ours: Number.NaN };
  }
}

/** Share (0-1) of the machine's CPU capacity used by other processes between two samples. */
export function foreignShare(a: Sample, b: Sample): number {
  const total = b.total - a.total;
  if (!(total > 0)) return Number.NaN;
  return Math.max(0, b.busy - a.busy - (b.ours - a.ours)) / total;
}

/**
 * Waits until other processes leave the CPU alone (under `threshold` over a 1-second window), for
 * at most `maxMs`. Returns the milliseconds waited.
 */
export async function waitQuiet(threshold: number, maxMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < maxMs) {
    const a = cpuSample();
    await new Promise((r) => setTimeout(r, 1000));
    const share = foreignShare(a, cpuSample());
    if (!(share >= threshold)) break;
  }
  return performance.now() - t0;
}
