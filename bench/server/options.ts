/** Command-line options of bench/server.ts. */
import type { FlagSet } from './flags.ts';
import { parseFlags } from './flags.ts';

export interface Options {
  /** Versions pushed into the catalog (the corpus size). */
  versions: number;
  /** Seconds of each measured wrk run. */
  duration: number;
  /** Seconds of the wrk warm-up before each measured run. */
  warmup: number;
  connections: number;
  threads: number;
  /** Push latency is also reported over this many last pushes. */
  last: number;
  /** Gem in a Box source checkout; null: do not run it. */
  geminabox: string | null;
  /** Gems pushed over HTTP into Gem in a Box (the rest are copied in and indexed once). */
  gbxPushes: number;
  /** Names in the /api/v1/dependencies mix. */
  depNames: number;
  /** The /versions mix: clients 1..behind lines behind. */
  behind: number;
  /** A measured run during which other processes took more than this share of the CPU is repeated. */
  maxForeign: number;
  /** Quarry is measured a second time with this many worker processes (1: not). */
  quarryWorkers: number;
  /** Keep the temp dir (servers' data, static copy, logs). */
  keep: boolean;
}

const FLAGS: FlagSet<Options> = {
  usage: 'usage: node --import tsx bench/server.ts [options]',
  width: 18,
  flags: [
    {
      flag: '--versions N',
      kind: 'int',
      min: 1,
      to: 'versions',
      help: 'versions pushed into the catalog (default 10000)',
    },
    {
      flag: '--duration S',
      kind: 'int',
      min: 1,
      to: 'duration',
      help: 'seconds of each measured wrk run (default 10)',
    },
    {
      flag: '--warmup S',
      kind: 'int',
      min: 0,
      to: 'warmup',
      help: 'seconds of wrk warm-up before each run (default 2)',
    },
    { flag: '--connections C', kind: 'int', min: 1, to: 'connections', help: 'wrk connections (default 50)' },
    { flag: '--threads T', kind: 'int', min: 1, to: 'threads', help: 'wrk threads (default 2)' },
    {
      flag: '--last K',
      kind: 'int',
      min: 1,
      to: 'last',
      help: 'also report push latency over the last K pushes (default 1000)',
    },
    {
      flag: '--geminabox DIR',
      kind: 'string',
      to: 'geminabox',
      help: 'Gem in a Box source checkout (default bench/.work/geminabox if present)',
    },
    {
      flag: '--no-geminabox',
      kind: 'bool',
      set: (o) => {
        o.geminabox = null;
      },
      help: 'do not run Gem in a Box',
    },
    {
      flag: '--gbx-pushes K',
      kind: 'int',
      min: 1,
      to: 'gbxPushes',
      help: 'gems pushed over HTTP into Gem in a Box (default: --last)',
    },
    {
      flag: '--dep-names K',
      kind: 'int',
      min: 1,
      to: 'depNames',
      help: 'names in the /api/v1/dependencies mix (default 500)',
    },
    {
      flag: '--behind K',
      kind: 'int',
      min: 1,
      to: 'behind',
      help: '/versions Range requests from clients 1..K lines behind (default 100)',
    },
    {
      flag: '--quarry-workers N',
      kind: 'int',
      min: 1,
      to: 'quarryWorkers',
      help: "also measure Quarry's reads with `serve --workers N` (default 2; 1: do not)",
    },
    {
      flag: '--max-foreign P',
      kind: 'number',
      min: 0,
      max: 100,
      set: (o, p) => {
        o.maxForeign = p / 100;
      },
      help: 'repeat a run (at most twice) when other processes took more than P% of the\nCPU during it (default 10)',
    },
    { flag: '--keep', kind: 'bool', to: 'keep', help: 'keep the temp dir' },
  ],
};

export function parseArgs(argv: readonly string[], defaultGeminabox: string | null): Options {
  const o = parseFlags(argv, FLAGS, {
    versions: 10000,
    duration: 10,
    warmup: 2,
    connections: 50,
    threads: 2,
    last: 1000,
    geminabox: defaultGeminabox,
    gbxPushes: -1,
    depNames: 500,
    behind: 100,
    maxForeign: 0.1,
    quarryWorkers: 2,
    keep: false,
  });
  if (o.gbxPushes < 0) o.gbxPushes = o.last;
  o.last = Math.min(o.last, o.versions);
  o.gbxPushes = Math.min(o.gbxPushes, o.versions);
  return o;
}
