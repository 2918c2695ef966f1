/**
 * Pushes .gem files one at a time over one keep-alive connection and records each push's latency:
 * from the first byte of the request sent to the last byte of the response read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { client, percentile } from './http.ts';

export interface PushStats {
  count: number;
  /** Catalog size (versions) before the first push of this window. */
  from: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export interface PushRun {
  /** Latency of every push, in order, in milliseconds. */
  latenciesMs: number[];
  /** Versions already in the catalog before the first push. */
  seeded: number;
  wallS: number;
}

export interface PushOptions {
  port: number;
  path: string;
  dir: string;
  files: readonly string[];
  headers: Record<string, string>;
  /** Checks one response; returns an error message or null. */
  accept: (status: number, body: string) => string | null;
  seeded: number;
  progress?: (done: number) => void;
}

export async function pushAll(o: PushOptions): Promise<PushRun> {
  const c = client(o.port);
  const latenciesMs: number[] = [];
  const t0 = performance.now();
  try {
    for (const [i, f] of o.files.entries()) {
      const bytes = readFileSync(join(o.dir, f));
      const start = performance.now();
      const r = await c.post(o.path, bytes, o.headers);
      latenciesMs.push(performance.now() - start);
      const problem = o.accept(r.status, r.body.toString('utf8'));
      if (problem) throw new Error(`push ${i + 1} (${f}) failed: ${problem}`);
      if ((i + 1) % 1000 === 0) o.progress?.(i + 1);
    }
  } finally {
    c.close();
  }
  return { latenciesMs, seeded: o.seeded, wallS: (performance.now() - t0) / 1000 };
}

/** Statistics of pushes [start, end) of a run. */
export function window(run: PushRun, start: number, end = run.latenciesMs.length): PushStats {
  const xs = run.latenciesMs.slice(start, end);
  return {
    count: xs.length,
    from: run.seeded + start,
    p50Ms: percentile(xs, 50),
    p99Ms: percentile(xs, 99),
    meanMs: xs.reduce((a, b) => a + b, 0) / xs.length,
    maxMs: Math.max(...xs),
  };
}
