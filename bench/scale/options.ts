/** Command-line options of bench/scale.ts. */

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

const HELP = `usage: node --import tsx bench/scale.ts [options]     (npm run bench:scale -- [options])
  --driver D          sqlite, postgres or both (default both)
  --names N           gem names in the synthetic catalog (default 190000)
  --versions N        versions in the synthetic catalog (default 1300000)
  --small             a quick run: 20,000 names, 130,000 versions, 200 + 100 pushes, 5 s wrk runs
  --seed N            seed of the synthetic catalog (default 1)
  --pushes N          sequential pushes on a quiet server (default 1000)
  --loaded-pushes N   sequential pushes while a client keeps fetching specs.4.8.gz (default 300)
  --legacy-rounds N   rounds of push + timed GET /specs.4.8.gz (default 3)
  --duration S        seconds of each measured wrk run (default 10)
  --warmup S          seconds of wrk warm-up before each run (default 2)
  --connections C     wrk connections (default 50)
  --full-connections C  wrk connections for the full /versions (default 4)
  --threads T         wrk threads (default 2)
  --behind K          ranged /versions from clients 1..K lines behind (default 100)
  --hot-names K       names in the hot /info mix (default 10000)
  --no-build          reuse bench/.work/scale/dist instead of compiling Quarry first
  --dist DIR          measure this compiled Quarry (a dist/ folder, e.g. of an older commit)
  --catalog-file F    start from this filled SQLite catalog (migrated in place by the Quarry measured)
  --no-reads          skip the wrk runs
  --quarry-workers N  also measure \`serve --workers N\` on ranged /versions and hot /info (default 2; 1: not)
  --no-rebuild        skip the full rebuild
  --server-node-args S  node flags for the Quarry servers (e.g. "--trace-gc"; their log is kept with --keep)
  --keep              keep the temp dir`;

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
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
  };
  const int = (flag: string, v: string | undefined): number => {
    if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${flag} needs a number\n${HELP}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i];
    switch (a) {
      case '--driver': {
        const d = next();
        if (d === 'both') o.drivers = ['sqlite', 'postgres'];
        else if (d === 'sqlite' || d === 'postgres') o.drivers = [d];
        else throw new Error(`--driver is sqlite, postgres or both\n${HELP}`);
        break;
      }
      case '--names':
        o.names = int(a, next());
        break;
      case '--versions':
        o.versions = int(a, next());
        break;
      case '--small':
        o.names = 20_000;
        o.versions = 130_000;
        o.pushes = 200;
        o.loadedPushes = 100;
        o.duration = 5;
        o.warmup = 1;
        o.hotNames = 5_000;
        break;
      case '--seed':
        o.seed = int(a, next());
        break;
      case '--pushes':
        o.pushes = int(a, next());
        break;
      case '--loaded-pushes':
        o.loadedPushes = int(a, next());
        break;
      case '--legacy-rounds':
        o.legacyRounds = Math.max(1, int(a, next()));
        break;
      case '--duration':
        o.duration = int(a, next());
        break;
      case '--warmup':
        o.warmup = int(a, next());
        break;
      case '--connections':
        o.connections = int(a, next());
        break;
      case '--full-connections':
        o.fullConnections = int(a, next());
        break;
      case '--threads':
        o.threads = int(a, next());
        break;
      case '--behind':
        o.behind = int(a, next());
        break;
      case '--hot-names':
        o.hotNames = int(a, next());
        break;
      case '--no-build':
        o.build = false;
        break;
      case '--dist':
        o.dist = next() ?? null;
        o.build = false;
        break;
      case '--catalog-file':
        o.catalogFile = next() ?? null;
        break;
      case '--no-rebuild':
        o.rebuild = false;
        break;
      case '--server-node-args':
        o.serverNodeArgs = next() ?? null;
        break;
      case '--quarry-workers':
        o.quarryWorkers = Math.max(1, int(a, next()));
        break;
      case '--no-reads':
        o.reads = false;
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
  if (o.names < 1 || o.versions < o.names) throw new Error('--versions must be at least --names (>= 1)');
  return o;
}
