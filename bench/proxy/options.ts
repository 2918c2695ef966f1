/** Command-line options of bench/proxy.ts. */

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

const HELP = `usage: node --import tsx bench/proxy.ts [options]
  --corpus N        synthetic corpus size (bench/gen-corpus.rb; default 1000): the first half of
                    its names on the upstream, the other half hosted on the proxy
  --runs N          bundle install runs per setup: direct, cold proxy, warm proxy (default 9)
  --gems-min N      the Gemfile resolves to at least N gems (default 25)
  --gems-max N      and at most N (default 40)
  --duration S      seconds of each measured wrk run (default 8)
  --warmup S        seconds of wrk warm-up before each run (default 2)
  --wrk-runs N      wrk runs per row, proxy and hosted alternating; median reported (default 3;
                    0: no wrk runs)
  --connections C   wrk connections (default 50)
  --threads T       wrk threads (default 2)
  --keep            keep the temp dir`;

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
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
  };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min)
      throw new Error(`${flag} needs an integer ≥ ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i];
    switch (a) {
      case '--corpus':
        o.corpus = num(a, next(), 100);
        break;
      case '--runs':
        o.runs = num(a, next(), 1);
        break;
      case '--gems-min':
        o.gemsMin = num(a, next(), 1);
        break;
      case '--gems-max':
        o.gemsMax = num(a, next(), 1);
        break;
      case '--duration':
        o.duration = num(a, next(), 1);
        break;
      case '--warmup':
        o.warmup = num(a, next(), 0);
        break;
      case '--wrk-runs':
        o.wrkRuns = num(a, next(), 0);
        break;
      case '--connections':
        o.connections = num(a, next(), 1);
        break;
      case '--threads':
        o.threads = num(a, next(), 1);
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${HELP}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  if (o.gemsMax < o.gemsMin) throw new Error('--gems-max must be at least --gems-min');
  return o;
}
