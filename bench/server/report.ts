/** The server benchmark's markdown report: push latencies, then read throughput side by side. */
import type { PushStats } from './push.ts';
import type { WrkResult } from './wrk.ts';
import { errors, requestsPerSecond } from './wrk.ts';

export type Target = 'quarry' | 'quarryWorkers' | 'nginx' | 'geminabox';

export const TARGET_LABEL: Record<Target, string> = {
  quarry: 'Quarry',
  quarryWorkers: 'Quarry',
  nginx: 'nginx',
  geminabox: 'Gem in a Box',
};

export interface PushRow {
  target: Target;
  label: string;
  stats: PushStats;
}

export interface ReadRow {
  endpoint: string;
  /** Per target: the measured run, or a reason it was not measured. */
  results: Partial<Record<Target, WrkResult | string>>;
}

/** A reference server (not a gem server) on one mix, next to nginx on the same mix. */
export interface ReferenceRow {
  label: string;
  endpoint: string;
  result: WrkResult;
  nginx: WrkResult | string | undefined;
}

export interface ServerReport {
  date: string;
  machine: string;
  software: string[];
  settings: string[];
  pushes: PushRow[];
  reads: ReadRow[];
  /** Worker processes of the second Quarry run. */
  quarryWorkers: number;
  reference: ReferenceRow[];
  notes: string[];
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const usMs = (us: number): string => `${ms(us / 1000)} ms`;

function cell(r: WrkResult | string | undefined): string {
  if (r === undefined) return '—';
  if (typeof r === 'string') return `not run: ${r}`;
  const bad = errors(r);
  const others =
    r.foreign !== undefined && r.foreign >= 0.05 ? ` [others ${Math.round(100 * r.foreign)}% CPU]` : '';
  return `${int(requestsPerSecond(r))} req/s, p99 ${usMs(r.p99_us)}${bad > 0 ? ` (${int(bad)} errors)` : ''}${others}`;
}

function ratio(a: WrkResult | string | undefined, b: WrkResult | string | undefined): string {
  if (!a || !b || typeof a === 'string' || typeof b === 'string') return '—';
  const x = requestsPerSecond(a) / requestsPerSecond(b);
  return `${x >= 10 ? x.toFixed(0) : x.toFixed(2)}×`;
}

export function markdown(r: ServerReport): string {
  const out: string[] = [];
  out.push(`Run on ${r.date}. ${r.machine}`, '');
  for (const s of r.software) out.push(`- ${s}`);
  out.push('', 'Settings:', '');
  for (const s of r.settings) out.push(`- ${s}`);
  out.push('', '### Push latency (POST /api/v1/gems, one at a time, keep-alive)', '');
  out.push('| Server | Pushes | Catalog size during the window | p50 | p99 | mean | max |');
  out.push('|---|---:|---|---:|---:|---:|---:|');
  for (const p of r.pushes) {
    const s = p.stats;
    out.push(
      `| ${TARGET_LABEL[p.target]}: ${p.label} | ${int(s.count)} | ${int(s.from)} → ${int(s.from + s.count)} | ${ms(s.p50Ms)} ms | ${ms(s.p99Ms)} ms | ${ms(s.meanMs)} ms | ${ms(s.maxMs)} ms |`,
    );
  }
  out.push('', '### Reads (wrk: requests per second and p99 latency)', '');
  const w = r.quarryWorkers;
  out.push(
    `| Request | Quarry, 1 process | Quarry, ${w} workers | nginx, 2 workers (static copy) | Gem in a Box (Puma, 1 process) |`,
  );
  out.push('|---|---:|---:|---:|---:|');
  for (const row of r.reads) {
    const x = row.results;
    out.push(
      `| ${row.endpoint} | ${cell(x.quarry)} | ${cell(x.quarryWorkers)} | ${cell(x.nginx)} | ${cell(x.geminabox)} |`,
    );
  }
  out.push('', '### Ratios of requests per second', '');
  out.push(
    `| Request | Quarry ÷ nginx (1 process) | Quarry ÷ nginx (${w} workers) | Quarry ÷ Gem in a Box (1 process) | Quarry ÷ Gem in a Box (${w} workers) |`,
  );
  out.push('|---|---:|---:|---:|---:|');
  for (const row of r.reads) {
    const x = row.results;
    out.push(
      `| ${row.endpoint} | ${ratio(x.quarry, x.nginx)} | ${ratio(x.quarryWorkers, x.nginx)} | ${ratio(x.quarry, x.geminabox)} | ${ratio(x.quarryWorkers, x.geminabox)} |`,
    );
  }
  if (r.reference.length > 0) {
    out.push('', '### Reference: what one Node process can serve here', '');
    out.push('| Server | Request | req/s | p99 | ÷ nginx |');
    out.push('|---|---|---:|---:|---:|');
    for (const x of r.reference) {
      const rps = int(requestsPerSecond(x.result));
      out.push(
        `| ${x.label} | ${x.endpoint} | ${rps} | ${usMs(x.result.p99_us)} | ${ratio(x.result, x.nginx)} |`,
      );
    }
  }
  if (r.notes.length > 0) {
    out.push('', 'Notes:', '');
    for (const n of r.notes) out.push(`- ${n}`);
  }
  return `${out.join('\n')}\n`;
}
