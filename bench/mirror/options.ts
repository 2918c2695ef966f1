/** Command-line options of bench/mirror.ts. */

export interface Options {
  /** .gem files in each benchmark upstream. */
  gems: number;
  /** Which upstreams: small (about 4 KiB a gem, like bench/gen-corpus.rb) and sized (realistic sizes). */
  corpora: ('small' | 'sized')[];
  concurrency: number[];
  /** Rounds; medians are reported. */
  runs: number;
  /** Larger small-gem upstreams, each mirrored once at concurrency 8, for peak memory against source size (empty: none). */
  scaleGems: number[];
  /** Wait (at most this many ms) for other processes to leave the CPU before each round. */
  quietMs: number;
  keep: boolean;
}

const HELP = `npm run bench:mirror [-- OPTIONS]

  --gems N            .gem files in each upstream (default 1000)
  --corpora LIST      small,sized (default both)
  --concurrency LIST  mirror --concurrency and curl --parallel-max (default 1,8,32)
  --runs N            rounds, medians reported (default 3)
  --scale-gems LIST   larger small-gem upstreams, each mirrored once at concurrency 8 (default 5000; 0: none)
  --quiet-ms N        wait up to N ms for a quiet CPU before each round (default 15000)
  --keep              keep the temporary folder
`;

const int = (flag: string, v: string | undefined, min: number): number => {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < min)
    throw new Error(`${flag} needs a number >= ${min}`);
  return Number(v);
};

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    gems: 1000,
    corpora: ['small', 'sized'],
    concurrency: [1, 8, 32],
    runs: 3,
    scaleGems: [5000],
    quietMs: 15_000,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i];
    switch (a) {
      case '--gems':
        o.gems = int(a, next(), 10);
        break;
      case '--corpora': {
        const list = (next() ?? '').split(',').filter(Boolean);
        if (list.length === 0 || list.some((c) => c !== 'small' && c !== 'sized'))
          throw new Error('--corpora takes small and/or sized');
        o.corpora = list as Options['corpora'];
        break;
      }
      case '--concurrency':
        o.concurrency = (next() ?? '').split(',').map((c) => int(a, c, 1));
        break;
      case '--runs':
        o.runs = int(a, next(), 1);
        break;
      case '--scale-gems':
        o.scaleGems = (next() ?? '')
          .split(',')
          .map((n) => int(a, n, 0))
          .filter((n) => n > 0);
        break;
      case '--quiet-ms':
        o.quietMs = int(a, next(), 0);
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a}\n${HELP}`);
    }
  }
  return o;
}
