/** The proxy benchmark's report as Markdown (the "Proxy" section of docs/benchmarks.md is made from it). */
import type { WrkResult } from '../server/wrk.ts';
import { requestsPerSecond } from '../server/wrk.ts';

export type Setup = 'direct' | 'cold' | 'warm';

export const SETUP_LABEL: Record<Setup, string> = {
  direct: 'direct to the upstream',
  cold: 'cold proxy (empty cache)',
  warm: 'warm proxy (cache filled)',
};

export interface BundleRow {
  setup: Setup;
  /** Wall time of each run, in run order. */
  ms: number[];
  /** Requests the upstream answered during each run. */
  upstreamRequests: number[];
  /** Share of the CPU other processes took during each run. */
  foreign: number[];
}

export interface WrkRow {
  label: string;
  proxy: WrkResult[];
  hosted: WrkResult[];
}

export interface ProxyReport {
  date: string;
  machine: string[];
  software: string[];
  commands: string[];
  corpus: string;
  gemfile: { gems: string[]; specs: string[] };
  bundle: BundleRow[];
  wrk: WrkRow[];
  wrkSettings: string;
  totalS: number;
  /** Seconds spent waiting for other processes to leave the CPU alone. */
  waitedS: number;
}

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rps = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

export function bundleMedians(rows: readonly BundleRow[]): Record<Setup, number> {
  const out = { direct: Number.NaN, cold: Number.NaN, warm: Number.NaN };
  for (const r of rows) out[r.setup] = median(r.ms);
  return out;
}

/** The median over rounds of (this setup's run ÷ the direct run of the same round). */
export function roundRatio(rows: readonly BundleRow[], setup: Setup): number {
  const direct = rows.find((b) => b.setup === 'direct')!.ms;
  const mine = rows.find((b) => b.setup === setup)!.ms;
  return median(mine.map((ms, i) => ms / direct[i]!));
}

export function wrkMedians(row: WrkRow): { proxy: number; hosted: number; ratio: number } {
  const proxy = median(row.proxy.map(requestsPerSecond));
  const hosted = median(row.hosted.map(requestsPerSecond));
  return { proxy, hosted, ratio: proxy / hosted };
}

export function markdown(r: ProxyReport): string {
  const out: string[] = [];
  const m = bundleMedians(r.bundle);
  out.push(
    `Run on ${r.date}, ${(r.totalS / 60).toFixed(1)} minutes in all (${r.waitedS.toFixed(0)} s of it waiting for other processes to quieten).`,
    '',
  );
  out.push('Machine and software:', '');
  for (const l of [...r.machine, ...r.software]) out.push(`- ${l}`);
  out.push('', 'Commands:', '', '```sh', ...r.commands, '```', '');
  out.push(`Corpus: ${r.corpus}`, '');
  out.push(
    `Gemfile: ${r.gemfile.gems.length} top-level gems (${r.gemfile.gems.join(', ')}), ${r.gemfile.specs.length} gems in the lockfile.`,
    '',
  );
  out.push('#### `bundle install` (fresh client caches every run; wall time)', '');
  const runs = Math.max(...r.bundle.map((b) => b.ms.length));
  out.push(
    `| Setup | median | ÷ direct (medians) | ÷ direct (median of rounds) | ${Array.from({ length: runs }, (_, i) => `run ${i + 1}`).join(' | ')} | upstream requests per run (median) | others' CPU (median, max) |`,
  );
  out.push(`|---|---:|---:|---:|${'---:|'.repeat(runs)}---:|---:|`);
  for (const b of r.bundle) {
    out.push(
      `| ${SETUP_LABEL[b.setup]} | ${secs(median(b.ms))} | ${(median(b.ms) / m.direct).toFixed(2)}× | ${roundRatio(r.bundle, b.setup).toFixed(2)}× | ${b.ms.map(secs).join(' | ')} | ${median(b.upstreamRequests)} | ${pct(median(b.foreign))}, ${pct(Math.max(...b.foreign))} |`,
    );
  }
  out.push('');
  if (r.wrk.length > 0) {
    out.push(`#### Cache hits against hosted gems on the same server (wrk; ${r.wrkSettings})`, '');
    out.push(
      '| Request | proxied (cache hit), median | hosted, median | proxied ÷ hosted | proxied runs | hosted runs |',
    );
    out.push('|---|---:|---:|---:|---|---|');
  }
  for (const w of r.wrk) {
    const x = wrkMedians(w);
    const runsOf = (rs: WrkResult[]) =>
      rs.map((q) => `${rps(requestsPerSecond(q))} (p99 ${(q.p99_us / 1000).toFixed(1)} ms)`).join(', ');
    out.push(
      `| ${w.label} | ${rps(x.proxy)} req/s | ${rps(x.hosted)} req/s | ${x.ratio.toFixed(2)}× | ${runsOf(w.proxy)} | ${runsOf(w.hosted)} |`,
    );
  }
  if (r.wrk.length > 0) out.push('');
  out.push('Targets:', '');
  const warm = m.warm / m.direct;
  const warmRounds = roundRatio(r.bundle, 'warm');
  // Judged on the paired figure: each round runs direct, cold and warm back to back, so slow
  // stretches of a shared machine hit both sides of a ratio alike.
  out.push(
    `- warm proxy within 10% of direct: ${warmRounds <= 1.1 ? 'met' : 'missed'} (median of the rounds' warm ÷ direct ratios ${warmRounds.toFixed(2)}×; ratio of the medians ${warm.toFixed(2)}×; cold ${roundRatio(r.bundle, 'cold').toFixed(2)}×)`,
  );
  for (const w of r.wrk) {
    const x = wrkMedians(w);
    out.push(
      `- ${w.label}: proxied ≥ 0.8× hosted: ${x.ratio >= 0.8 ? 'met' : 'missed'} (${x.ratio.toFixed(2)}×)`,
    );
  }
  out.push('');
  return out.join('\n');
}
