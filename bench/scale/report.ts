/** The scale benchmark's markdown report: one table per driver, each row next to its target. */
import type { WrkResult } from '../server/wrk.ts';
import { errors, requestsPerSecond } from '../server/wrk.ts';
import type { Driver, Options } from './options.ts';
import type { RebuildResult } from './rebuild.ts';

export interface PushStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export interface ReadResult {
  label: string;
  connections: number;
  quarry: WrkResult;
  /** nginx with 2 workers (both cores). */
  nginx?: WrkResult;
  /** nginx with 1 worker: one process against one process. */
  nginx1?: WrkResult;
  /** `serve --workers N`, and nginx measured again right after it. */
  workers?: WrkResult;
  nginxAgain?: WrkResult;
}

export interface DriverReport {
  driver: Driver;
  fill: { cached: boolean; insertS: number; versionsBaseS: number };
  startupS: number;
  startupRssMiB: number;
  pushQuiet: PushStats;
  /** The quiet pushes that went to gems with 100 or more versions already. */
  pushQuietBig: PushStats;
  pushLoaded: PushStats;
  /** specs.4.8.gz answers the reader got during the loaded pushes. */
  legacyReads: number;
  regenMs: number[];
  stallMaxMs: number[];
  stallP99Ms: number[];
  /** The same back-to-back /info client on an idle server, for 2 s: the noise floor. */
  idleProbe: { count: number; maxMs: number; p99Ms: number };
  specsGzBytes: number;
  etag: Record<string, boolean>;
  versionsBytes: number;
  names: number;
  allInfosS: number;
  reads: Record<string, ReadResult>;
  rssAfterReadsMiB: number;
  peakRssMiB: number;
  /** The highest RSS sampled in each phase. */
  rssPeaks: Record<string, number>;
  quarryWorkers: number;
  /** RSS of each worker process after its reads. */
  workersRssMiB: number[];
  rebuild: RebuildResult | null;
}

export interface ScaleReport {
  date: string;
  command: string;
  machine: string;
  software: string[];
  options: Options;
  /** Share of the CPU other processes took over the whole run. */
  foreign: number;
  minutes: number;
  drivers: DriverReport[];
}

const n = (x: number) => x.toLocaleString('en-US');
const ms = (x: number) => (x >= 100 ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`);
const s = (x: number) => `${x.toFixed(x >= 10 ? 0 : 1)} s`;
const mib = (x: number) => `${x.toFixed(0)} MiB`;
const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
const verdict = (ok: boolean, how: string) => `${ok ? 'met' : '**missed**'} (${how})`;

function rate(r: WrkResult): string {
  const rps = requestsPerSecond(r);
  const mbps = r.bytes / (r.duration_us / 1e6) / 2 ** 20;
  const errs = errors(r);
  return `${n(Math.round(rps))} req/s${mbps >= 50 ? ` (${n(Math.round(mbps))} MiB/s)` : ''}, p99 ${ms(r.p99_us / 1000)}${errs > 0 ? `, ${n(errs)} errors` : ''}${(r.foreign ?? 0) > 0.1 ? ` [others ${(100 * r.foreign!).toFixed(0)}% CPU]` : ''}`;
}

function driverTable(d: DriverReport): string {
  const rows: string[][] = [];
  const row = (what: string, result: string, target = '') => rows.push([what, result, target]);
  row(
    'catalog',
    `${n(d.names)} live names, ${(d.versionsBytes / 2 ** 20).toFixed(1)} MiB /versions, ${(d.specsGzBytes / 2 ** 20).toFixed(1)} MiB specs.4.8.gz`,
  );
  row(
    'fill (bulk SQL inserts; then the versions base)',
    d.fill.cached
      ? 'cached SQLite file (copied per run)'
      : `${s(d.fill.insertS)} + ${s(d.fill.versionsBaseS)}`,
  );
  row(
    'start-up: `quarry serve` spawned → first 200 on GET /versions',
    s(d.startupS),
    verdict(d.startupS < 10, '< 10 s'),
  );
  row(
    `push, sequential, quiet server (${n(d.pushQuiet.count)} pushes): p50 / p99 / max`,
    `${ms(d.pushQuiet.p50Ms)} / ${ms(d.pushQuiet.p99Ms)} / ${ms(d.pushQuiet.maxMs)}`,
    verdict(d.pushQuiet.p99Ms < 100, 'p99 < 100 ms'),
  );
  row(
    `… of which to gems with 100+ versions (${n(d.pushQuietBig.count)}): p50 / p99 / max`,
    `${ms(d.pushQuietBig.p50Ms)} / ${ms(d.pushQuietBig.p99Ms)} / ${ms(d.pushQuietBig.maxMs)}`,
  );
  row(
    `push, sequential, while a client fetches specs.4.8.gz in a loop (${n(d.pushLoaded.count)} pushes, ${n(d.legacyReads)} legacy answers): p50 / p99 / max`,
    `${ms(d.pushLoaded.p50Ms)} / ${ms(d.pushLoaded.p99Ms)} / ${ms(d.pushLoaded.maxMs)}`,
    verdict(d.pushLoaded.p99Ms < 100, 'p99 < 100 ms'),
  );
  row(
    `GET /specs.4.8.gz right after a push (legacy rebuild), median of ${d.regenMs.length}`,
    `${ms(median(d.regenMs))} (${d.regenMs.map((x) => x.toFixed(0)).join(', ')})`,
  );
  row(
    'slowest GET /info during that rebuild (event loop held)',
    `${ms(Math.max(...d.stallMaxMs))} (p99 ${ms(Math.max(...d.stallP99Ms))}); idle server: ${ms(d.idleProbe.maxMs)} (p99 ${ms(d.idleProbe.p99Ms)})`,
  );
  const e = d.etag;
  const etagOk = Object.values(e).every(Boolean);
  row(
    'legacy ETags change only with their bytes',
    etagOk
      ? 'yes (prerelease push: specs/latest kept, prerelease changed; release push: specs changed)'
      : `**no**: ${JSON.stringify(e)}`,
  );
  for (const [id, r] of Object.entries(d.reads)) {
    const targeted = id === 'versions' || id.startsWith('info');
    const ratio = (of: WrkResult, to: WrkResult | undefined) =>
      to ? requestsPerSecond(of) / requestsPerSecond(to) : Number.NaN;
    // Like for like: one process against one nginx worker, N workers against N nginx workers.
    if (r.nginx1) {
      const r1 = ratio(r.quarry, r.nginx1);
      row(
        `${r.label}, ${r.connections} connections: Quarry (1 process) / nginx (1 worker)`,
        `${rate(r.quarry)} / ${rate(r.nginx1)} = **${r1.toFixed(2)}×**`,
        targeted ? verdict(r1 >= 0.5, '≥ 0.5× nginx') : '',
      );
    }
    const r2 = ratio(r.quarry, r.nginx);
    row(
      `${r.label}, ${r.connections} connections: Quarry (1 process) / nginx (2 workers)`,
      `${rate(r.quarry)} / ${r.nginx ? rate(r.nginx) : '—'} = **${r2.toFixed(2)}×**`,
      targeted && !r.nginx1 ? verdict(r2 >= 0.5, '≥ 0.5× nginx') : '',
    );
    if (r.workers && r.nginxAgain) {
      const wr = ratio(r.workers, r.nginxAgain);
      row(
        `${r.label}: Quarry \`--workers ${d.quarryWorkers}\` / nginx (2 workers)`,
        `${rate(r.workers)} / ${rate(r.nginxAgain)} = **${wr.toFixed(2)}×**`,
        verdict(wr >= 0.5, '≥ 0.5× nginx'),
      );
    }
  }
  row(
    'every /info over HTTP, 4 connections, after start-up (cold)',
    `${s(d.allInfosS)} (${n(Math.round(d.names / d.allInfosS))} /s)`,
  );
  row(
    'server RSS after the reads (peak during the run)',
    `${mib(d.rssAfterReadsMiB)} (${mib(d.peakRssMiB)})`,
    verdict(d.peakRssMiB < 1024, 'peak < 1 GiB'),
  );
  row(
    'highest RSS sampled in each phase',
    Object.entries(d.rssPeaks)
      .map(([k, v]) => `${k} ${mib(v)}`)
      .join(', '),
  );
  if (d.workersRssMiB.length > 0)
    row(
      `RSS of each \`--workers ${d.quarryWorkers}\` worker after its reads`,
      d.workersRssMiB.map(mib).join(', '),
    );
  const rb = d.rebuild;
  if (rb)
    row(
      'full rebuild: versions base + names + legacy lists + every /info',
      `${s(rb.totalS)} = ${s(rb.versionsBaseS)} + ${s(rb.namesS)} + ${s(rb.legacyS)} + ${s(rb.infosS)}; peak RSS ${mib(rb.peakRssMiB)}${rb.mismatches > 0 ? `; **${n(rb.mismatches)} /info MD5s differ from /versions**` : ''}`,
      verdict(rb.totalS < 60, '< 60 s'),
    );
  return ['| Measure | Result | Target |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );
}

export function markdown(r: ScaleReport): string {
  const parts = [
    `Run on ${r.date} with \`${r.command}\` (${r.minutes.toFixed(1)} min; other processes took ${(100 * r.foreign).toFixed(0)}% of the CPU over the run).`,
    '',
    `- Machine: ${r.machine}; wrk, the push client and the server share these cores.`,
    ...r.software.map((x) => `- ${x}`),
    `- Catalog: ${n(r.options.names)} names, ${n(r.options.versions)} versions (seed ${r.options.seed}); wrk ${r.options.threads} threads, ${r.options.warmup} s warm-up + ${r.options.duration} s per row; nginx with 1 and with 2 workers on a static copy.`,
  ];
  for (const d of r.drivers)
    parts.push('', `#### ${d.driver === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`, '', driverTable(d));
  return `${parts.join('\n')}\n`;
}
