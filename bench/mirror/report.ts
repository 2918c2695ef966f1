/** The mirror benchmark's figures and their Markdown report. */

export interface Corpus {
  kind: 'small' | 'sized';
  gems: number;
  names: number;
  bytes: number;
}

/** One measured run. */
export interface Sample {
  seconds: number;
  /** CPU time of the measured process, user + system over all its threads. */
  cpuSeconds: number;
  /** Peak resident set of the measured process (VmHWM), MiB; NaN for curl. */
  peakMiB: number;
  /** Share (0-1) of the machine's CPU that other processes took meanwhile. */
  foreign: number;
}

export interface Row {
  corpus: Corpus['kind'];
  concurrency: number;
  mirror: Sample[];
  curl: Sample[];
  /** curl fetching the same URLs with every body written to /dev/null: its transport alone. */
  curlDiscard: Sample[];
  /** bench/mirror/get-only.mjs: bare Node GETting the same .gem URLs as curl, bodies thrown away. */
  getOnly: Sample[];
  /** bench/mirror/floor.mjs: bare Node doing the downloads, checks and writes alone. */
  floor: Sample[];
}

export interface Extra {
  label: string;
  corpus: Corpus;
  concurrency: number;
  sample: Sample;
}

export interface MirrorBenchReport {
  date: string;
  machine: string;
  quarryCommit: string;
  curl: string;
  corpora: Corpus[];
  rows: Row[];
  extras: Extra[];
  /** `node -e 0`, seconds (median of 5). */
  nodeStart: number;
}

export const median = (xs: readonly number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const max = (xs: readonly number[]) => Math.max(...xs.filter((x) => Number.isFinite(x)));
const MB = 1_000_000;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '—');

export function markdown(r: MirrorBenchReport): string {
  const out: string[] = [];
  out.push(`Run ${r.date} on ${r.machine}; Quarry ${r.quarryCommit}; ${r.curl}.`, '');
  out.push('| upstream | gems | names | total size | mean .gem |', '|---|---:|---:|---:|---:|');
  for (const c of r.corpora) {
    out.push(
      `| ${c.kind} | ${f0(c.gems)} | ${f0(c.names)} | ${f1(c.bytes / MB)} MB | ${f1(c.bytes / c.gems / 1024)} KiB |`,
    );
  }
  out.push('');
  const med = (xs: readonly Sample[], f: (s: Sample) => number = (s) => s.seconds) => median(xs.map(f));
  const cpu = (s: Sample) => s.cpuSeconds;
  out.push(
    '| upstream | concurrency | quarry mirror | gems/s | MB/s | curl --parallel | mirror ÷ curl | Node floor | mirror ÷ floor | mirror peak RSS | other load |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const row of r.rows) {
    const c = r.corpora.find((x) => x.kind === row.corpus)!;
    const m = med(row.mirror);
    const k = med(row.curl);
    const fl = med(row.floor);
    const all = [...row.mirror, ...row.curl, ...row.curlDiscard, ...row.getOnly, ...row.floor];
    out.push(
      `| ${row.corpus} | ${row.concurrency} | ${f2(m)} s | ${f0(c.gems / m)} | ${f1(c.bytes / MB / m)} | ${f2(k)} s (${f0(c.gems / k)} gems/s, ${f1(c.bytes / MB / k)} MB/s) | ${f1(m / k)}× | ${f2(fl)} s | ${f1(m / fl)}× | ${f0(max(row.mirror.map((s) => s.peakMiB)))} MiB | ${pct(median(all.map((s) => s.foreign)))} |`,
    );
  }
  out.push(
    '',
    'Wall time and CPU time (user + system, every thread) of each process, medians:',
    '',
    '| upstream | concurrency | curl, bodies discarded | Node GET only | ÷ curl discarding | curl into files | Node floor | quarry mirror |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  const both = (xs: readonly Sample[]) => `${f2(med(xs))} s, CPU ${f2(med(xs, cpu))} s`;
  for (const row of r.rows) {
    out.push(
      `| ${row.corpus} | ${row.concurrency} | ${both(row.curlDiscard)} | ${both(row.getOnly)} | ${f1(med(row.getOnly) / med(row.curlDiscard))}× | ${both(row.curl)} | ${both(row.floor)} | ${both(row.mirror)} |`,
    );
  }
  if (r.extras.length > 0) {
    out.push(
      '',
      '| run | upstream | concurrency | time | gems/s | peak RSS | other load |',
      '|---|---|---:|---:|---:|---:|---:|',
    );
    for (const e of r.extras) {
      out.push(
        `| ${e.label} | ${e.corpus.kind}, ${f0(e.corpus.gems)} gems, ${f1(e.corpus.bytes / MB)} MB | ${e.concurrency} | ${f2(e.sample.seconds)} s | ${f0(e.corpus.gems / e.sample.seconds)} | ${f0(e.sample.peakMiB)} MiB | ${pct(e.sample.foreign)} |`,
      );
    }
  }
  out.push(
    '',
    'curl, bodies discarded: the same curl command with every body written to /dev/null, its transport alone. Node GET only: bench/mirror/get-only.mjs, bare Node with its http client GETting the same .gem URLs at the same concurrency over keep-alive connections, and throwing the bodies away: no /info, no checks, no files.',
    '',
    `Node floor: bench/mirror/floor.mjs, bare Node with undici fetching /versions, every /info and every .gem, checking each SHA-256 and writing it (temp file and rename), nothing else; \`node -e 0\` alone takes ${f2(r.nodeStart)} s.`,
    '',
    'Times are medians of the rounds, wall clock from process start to exit (the mirror includes its start-up, /versions, every /info, the downloads, checks and catalog writes; curl only downloads the listed files). Peak RSS is the largest VmHWM of the mirror process over the rounds. "Other load" is the share of the machine\'s CPU taken by processes outside the benchmark during the measurements.',
  );
  return `${out.join('\n')}\n`;
}
