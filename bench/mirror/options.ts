/** Command-line options of bench/mirror.ts. */
import type { FlagSet } from '../server/flags.ts';
import { parseFlags } from '../server/flags.ts';

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

const FLAGS: FlagSet<Options> = {
  usage: 'npm run bench:mirror [-- OPTIONS]\n',
  width: 18,
  flags: [
    {
      flag: '--gems N',
      kind: 'int',
      min: 10,
      to: 'gems',
      help: '.gem files in each upstream (default 1000)',
    },
    {
      flag: '--corpora LIST',
      kind: 'choices',
      of: ['small', 'sized'],
      set: (o, list) => {
        o.corpora = list as Options['corpora'];
      },
      help: 'small,sized (default both)',
    },
    {
      flag: '--concurrency LIST',
      kind: 'ints',
      min: 1,
      to: 'concurrency',
      help: 'mirror --concurrency and curl --parallel-max (default 1,8,32)',
    },
    { flag: '--runs N', kind: 'int', min: 1, to: 'runs', help: 'rounds, medians reported (default 3)' },
    {
      flag: '--scale-gems LIST',
      kind: 'ints',
      min: 0,
      set: (o, ns) => {
        o.scaleGems = ns.filter((n) => n > 0);
      },
      help: 'larger small-gem upstreams, each mirrored once at concurrency 8 (default 5000; 0: none)',
    },
    {
      flag: '--quiet-ms N',
      kind: 'int',
      min: 0,
      to: 'quietMs',
      help: 'wait up to N ms for a quiet CPU before each round (default 15000)',
    },
    { flag: '--keep', kind: 'bool', to: 'keep', help: 'keep the temporary folder' },
  ],
};

export function parseArgs(argv: readonly string[]): Options {
  return parseFlags(argv, FLAGS, {
    gems: 1000,
    corpora: ['small', 'sized'],
    concurrency: [1, 8, 32],
    runs: 3,
    scaleGems: [5000],
    quietMs: 15_000,
    keep: false,
  });
}
