/** Command-line options of bench/scale.ts. */
import type { FlagSet } from '../server/flags.ts';
import { parseFlags } from '../server/flags.ts';

export type Driver = 'sqlite' | 'postgres';

export interface Options {
  drivers: Driver[];
  /** Gem names in the synthetic catalog. */
  names: number;
  /** Versions (rows, ~1.5% of them yanked) in the synthetic catalog. */
  versions: number;
  seed: number;
  /** Sequential pushes on a quiet server. */
  pushes: number;
  /** Sequential pushes while another client keeps asking for specs.4.8.gz (legacy rebuilds). */
  loadedPushes: number;
  /** Rounds of "push, then GET /specs.4.8.gz". */
  legacyRounds: number;
  duration: number;
  warmup: number;
  connections: number;
  /** wrk connections for the full (unranged) /versions, whose body is tens of MB. */
  fullConnections: number;
  threads: number;
  /** The ranged /versions mix: clients 1..behind lines behind. */
  behind: number;
  /** Names in the "hot" /info mix (the most depended-on first). */
  hotNames: number;
  /** Build Quarry into bench/.work/scale/dist first (false: reuse the last build). */
  build: boolean;
  /** A compiled Quarry (a dist/ folder) to measure instead of building one, e.g. an older commit's. */
  dist: string | null;
  /** A filled SQLite catalog to use instead of the cached one for --names/--versions/--seed. */
  catalogFile: string | null;
  keep: boolean;
  /** Skip the wrk runs (quick checks of the rest). */
  reads: boolean;
  /** Also measure `serve --workers N` on the ranged /versions and hot /info (1: do not). */
  quarryWorkers: number;
  /** Time the full rebuild (false: skip it, for quick looks at the rest). */
  rebuild: boolean;
  /** Node flags for the server processes (e.g. --trace-gc; the output goes to their log). */
  serverNodeArgs: string | null;
}

const FLAGS: FlagSet<Options> = {
  usage: 'usage: node --import tsx bench/scale.ts [options]     (npm run bench:scale -- [options])',
  width: 18,
  flags: [
    {
      flag: '--driver D',
      kind: 'choice',
      of: ['sqlite', 'postgres', 'both'],
      set: (o, d) => {
        o.drivers = d === 'both' ? ['sqlite', 'postgres'] : [d as Driver];
      },
      help: 'sqlite, postgres or both (default both)',
    },
    {
      flag: '--names N',
      kind: 'int',
      to: 'names',
      help: 'gem names in the synthetic catalog (default 190000)',
    },
    {
      flag: '--versions N',
      kind: 'int',
      to: 'versions',
      help: 'versions in the synthetic catalog (default 1300000)',
    },
    {
      flag: '--small',
      kind: 'bool',
      set: (o) => {
        Object.assign(o, {
          names: 20_000,
          versions: 130_000,
          pushes: 200,
          loadedPushes: 100,
          duration: 5,
          warmup: 1,
          hotNames: 5_000,
        });
      },
      help: 'a quick run: 20,000 names, 130,000 versions, 200 + 100 pushes, 5 s wrk runs',
    },
    { flag: '--seed N', kind: 'int', to: 'seed', help: 'seed of the synthetic catalog (default 1)' },
    {
      flag: '--pushes N',
      kind: 'int',
      to: 'pushes',
      help: 'sequential pushes on a quiet server (default 1000)',
    },
    {
      flag: '--loaded-pushes N',
      kind: 'int',
      to: 'loadedPushes',
      help: 'sequential pushes while a client keeps fetching specs.4.8.gz (default 300)',
    },
    {
      flag: '--legacy-rounds N',
      kind: 'int',
      set: (o, n) => {
        o.legacyRounds = Math.max(1, n);
      },
      help: 'rounds of push + timed GET /specs.4.8.gz (default 3)',
    },
    {
      flag: '--duration S',
      kind: 'int',
      to: 'duration',
      help: 'seconds of each measured wrk run (default 10)',
    },
    {
      flag: '--warmup S',
      kind: 'int',
      to: 'warmup',
      help: 'seconds of wrk warm-up before each run (default 2)',
    },
    { flag: '--connections C', kind: 'int', to: 'connections', help: 'wrk connections (default 50)' },
    {
      flag: '--full-connections C',
      kind: 'int',
      to: 'fullConnections',
      help: 'wrk connections for the full /versions (default 4)',
    },
    { flag: '--threads T', kind: 'int', to: 'threads', help: 'wrk threads (default 2)' },
    {
      flag: '--behind K',
      kind: 'int',
      to: 'behind',
      help: 'ranged /versions from clients 1..K lines behind (default 100)',
    },
    {
      flag: '--hot-names K',
      kind: 'int',
      to: 'hotNames',
      help: 'names in the hot /info mix (default 10000)',
    },
    {
      flag: '--no-build',
      kind: 'bool',
      to: 'build',
      value: false,
      help: 'reuse bench/.work/scale/dist instead of compiling Quarry first',
    },
    {
      flag: '--dist DIR',
      kind: 'string',
      set: (o, dir) => {
        o.dist = dir;
        o.build = false;
      },
      help: 'measure this compiled Quarry (a dist/ folder, e.g. of an older commit)',
    },
    {
      flag: '--catalog-file F',
      kind: 'string',
      to: 'catalogFile',
      help: 'start from this filled SQLite catalog (migrated in place by the Quarry measured)',
    },
    { flag: '--no-reads', kind: 'bool', to: 'reads', value: false, help: 'skip the wrk runs' },
    {
      flag: '--quarry-workers N',
      kind: 'int',
      set: (o, n) => {
        o.quarryWorkers = Math.max(1, n);
      },
      help: 'also measure `serve --workers N` on ranged /versions and hot /info (default 2; 1: not)',
    },
    { flag: '--no-rebuild', kind: 'bool', to: 'rebuild', value: false, help: 'skip the full rebuild' },
    {
      flag: '--server-node-args S',
      kind: 'string',
      to: 'serverNodeArgs',
      help: 'node flags for the Quarry servers (e.g. "--trace-gc"; their log is kept with --keep)',
    },
    { flag: '--keep', kind: 'bool', to: 'keep', help: 'keep the temp dir' },
  ],
};

export function parseArgs(argv: readonly string[]): Options {
  const o = parseFlags(argv, FLAGS, {
    drivers: ['sqlite', 'postgres'],
    names: 190_000,
    versions: 1_300_000,
    seed: 1,
    pushes: 1000,
    loadedPushes: 300,
    legacyRounds: 3,
    duration: 10,
    warmup: 2,
    connections: 50,
    fullConnections: 4,
    threads: 2,
    behind: 100,
    hotNames: 10_000,
    build: true,
    dist: null,
    catalogFile: null,
    keep: false,
    reads: true,
    quarryWorkers: 2,
    serverNodeArgs: null,
    rebuild: true,
  });
  if (o.names < 1 || o.versions < o.names) throw new Error('--versions must be at least --names (>= 1)');
  return o;
}
