/** The benchmark's markdown report: one table of wall times, peak memory and ratios per corpus size. */
import type { Measurement } from './measure.ts';

export interface StepResult {
  /** Full build, or one added gem (median over the repeats). */
  gem: Measurement;
  quarry: Measurement;
}

export interface SizeResult {
  gems: number;
  names: number;
  corpusMiB: number;
  full: StepResult;
  update: StepResult;
  updates: number;
}

export interface Environment {
  date: string;
  cpus: string;
  memory: string;
  os: string;
  node: string;
  ruby: string;
  rubygems: string;
  rssSource: string;
}

const seconds = (ms: number): string =>
  (ms >= 10_000 ? (ms / 1000).toFixed(1) : (ms / 1000).toFixed(2)) + ' s';
const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
const ratio = (a: number, b: number): string => {
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toPrecision(2)}×`;
};
const count = (n: number): string => n.toLocaleString('en-US');

function rows(r: SizeResult): string[] {
  const n = `${count(r.gems)} (${count(r.names)} names, ${r.corpusMiB.toFixed(0)} MiB)`;
  const add = `add 1 gem, median of ${r.updates}`;
  return [
    `| ${n} | full build: wall | ${seconds(r.full.gem.wallMs)} | ${seconds(r.full.quarry.wallMs)} | ${ratio(r.full.gem.wallMs, r.full.quarry.wallMs)} |`,
    `| | full build: peak RSS | ${mib(r.full.gem.peakRssKiB)} | ${mib(r.full.quarry.peakRssKiB)} | ${ratio(r.full.gem.peakRssKiB, r.full.quarry.peakRssKiB)} |`,
    `| | ${add}: wall | ${seconds(r.update.gem.wallMs)} | ${seconds(r.update.quarry.wallMs)} | ${ratio(r.update.gem.wallMs, r.update.quarry.wallMs)} |`,
    `| | ${add}: peak RSS | ${mib(r.update.gem.peakRssKiB)} | ${mib(r.update.quarry.peakRssKiB)} | ${ratio(r.update.gem.peakRssKiB, r.update.quarry.peakRssKiB)} |`,
  ];
}

export function markdownReport(env: Environment, results: readonly SizeResult[]): string {
  const lines = [
    '| Gems | Step | `gem generate_index` | `quarry index` | gem ÷ quarry |',
    '|---|---|---:|---:|---:|',
    ...results.flatMap(rows),
  ];
  const extra = results.map(
    (r) =>
      `- ${count(r.gems)} gems: a full \`gem generate_index\` takes ${ratio(r.full.gem.wallMs, r.update.quarry.wallMs)} ` +
      'the wall time of one `quarry index --update`.',
  );
  return [
    `Benchmark run ${env.date}`,
    '',
    `- Machine: ${env.cpus}, ${env.memory}, ${env.os}`,
    `- Node ${env.node}; ${env.ruby}; RubyGems ${env.rubygems}`,
    `- Peak RSS measured with ${env.rssSource}; wall time with a monotonic clock around each process.`,
    '- Update step: `gem generate_index --update` vs `quarry index --update`, after copying one new gem into gems/.',
    '',
    ...lines,
    '',
    ...extra,
    '',
  ].join('\n');
}
