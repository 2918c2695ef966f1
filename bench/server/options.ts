/** Command-line options of bench/server.ts. */

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

const HELP = `usage: node --import tsx bench/server.ts [options]
  --versions N        versions pushed into the catalog (default 10000)
  --duration S        seconds of each measured wrk run (default 10)
  --warmup S          seconds of wrk warm-up before each run (default 2)
  --connections C     wrk connections (default 50)
  --threads T         wrk threads (default 2)
  --last K            also report push latency over the last K pushes (default 1000)
  --geminabox DIR     Gem in a Box source checkout (default bench/.work/geminabox if present)
  --no-geminabox      do not run Gem in a Box
  --gbx-pushes K      gems pushed over HTTP into Gem in a Box (default: --last)
  --dep-names K       names in the /api/v1/dependencies mix (default 500)
  --behind K          /versions Range requests from clients 1..K lines behind (default 100)
  --quarry-workers N  also measure Quarry's reads with \`serve --workers N\` (default 2; 1: do not)
  --max-foreign P     repeat a run (at most twice) when other processes took more than P% of the
                      CPU during it (default 10)
  --keep              keep the temp dir`;

export function parseArgs(argv: readonly string[], defaultGeminabox: string | null): Options {
  const o: Options = {
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
  };
  const ints: Record<string, keyof Options> = {
    '--versions': 'versions',
    '--duration': 'duration',
    '--warmup': 'warmup',
    '--connections': 'connections',
    '--threads': 'threads',
    '--last': 'last',
    '--gbx-pushes': 'gbxPushes',
    '--dep-names': 'depNames',
    '--behind': 'behind',
    '--quarry-workers': 'quarryWorkers',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${HELP}`);
      return v;
    };
    const key = ints[flag];
    if (key) {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < (key === 'warmup' ? 0 : 1))
        throw new Error(`${flag}: ${JSON.stringify(v)} is not a positive integer`);
      (o as unknown as Record<string, number>)[key] = n;
    } else if (flag === '--geminabox') o.geminabox = value();
    else if (flag === '--no-geminabox') o.geminabox = null;
    else if (flag === '--max-foreign') {
      const v = Number(value());
      if (!(v >= 0 && v <= 100)) throw new Error('--max-foreign needs a percentage (0-100)');
      o.maxForeign = v / 100;
    } else if (flag === '--keep') o.keep = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${HELP}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${JSON.stringify(argv[i])}\n${HELP}`);
  }
  if (o.gbxPushes < 0) o.gbxPushes = o.last;
  o.last = Math.min(o.last, o.versions);
  o.gbxPushes = Math.min(o.gbxPushes, o.versions);
  return o;
}
