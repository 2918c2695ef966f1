/** Command-line options of bench/proxy.ts. */
import type { FlagSet } from '../server/flags.ts';
import { parseFlags } from '../server/flags.ts';

export interface Options {
  /** Size of the synthetic corpus (bench/gen-corpus.rb): half of its names upstream, half hosted. */
  corpus: number;
  /** `bundle install` runs per setup (direct, cold proxy, warm proxy). */
  runs: number;
  /** The Gemfile's lockfile holds at least this many gems… */
  gemsMin: number;
  /** …and at most this many. */
  gemsMax: number;
  /** Seconds of each measured wrk run. */
  duration: number;
  /** Seconds of wrk warm-up before each measured run. */
  warmup: number;
  /** wrk runs per row (proxy and hosted alternate); the median is reported. */
  wrkRuns: number;
  connections: number;
  threads: number;
  /** Keep the temp dir (servers' data, logs, lists). */
  keep: boolean;
}

const FLAGS: FlagSet<Options> = {
  usage: 'usage: node --import tsx bench/proxy.ts [options]',
  width: 16,
  flags: [
    {
      flag: '--corpus N',
      kind: 'int',
      min: 100,
      to: 'corpus',
      help: 'synthetic corpus size (bench/gen-corpus.rb; default 1000): the first half of\nits names on the upstream, the other half hosted on the proxy',
    },
    {
      flag: '--runs N',
      kind: 'int',
      min: 1,
      to: 'runs',
      help: 'bundle install runs per setup: direct, cold proxy, warm proxy (default 9)',
    },
    {
      flag: '--gems-min N',
      kind: 'int',
      min: 1,
      to: 'gemsMin',
      help: 'the Gemfile resolves to at least N gems (default 25)',
    },
    { flag: '--gems-max N', kind: 'int', min: 1, to: 'gemsMax', help: 'and at most N (default 40)' },
    {
      flag: '--duration S',
      kind: 'int',
      min: 1,
      to: 'duration',
      help: 'seconds of each measured wrk run (default 8)',
    },
    {
      flag: '--warmup S',
      kind: 'int',
      min: 0,
      to: 'warmup',
      help: 'seconds of wrk warm-up before each run (default 2)',
    },
    {
      flag: '--wrk-runs N',
      kind: 'int',
      min: 0,
      to: 'wrkRuns',
      help: 'wrk runs per row, proxy and hosted alternating; median reported (default 3;\n0: no wrk runs)',
    },
    { flag: '--connections C', kind: 'int', min: 1, to: 'connections', help: 'wrk connections (default 50)' },
    { flag: '--threads T', kind: 'int', min: 1, to: 'threads', help: 'wrk threads (default 2)' },
    { flag: '--keep', kind: 'bool', to: 'keep', help: 'keep the temp dir' },
  ],
};

export function parseArgs(argv: readonly string[]): Options {
  const o = parseFlags(argv, FLAGS, {
    corpus: 1000,
    runs: 9,
    gemsMin: 25,
    gemsMax: 40,
    duration: 8,
    warmup: 2,
    wrkRuns: 3,
    connections: 50,
    threads: 2,
    keep: false,
  });
  if (o.gemsMax < o.gemsMin) throw new Error('--gems-max must be at least --gems-min');
  return o;
}
