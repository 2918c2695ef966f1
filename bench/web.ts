/**
 * Web UI benchmark (issue 13, "Done means" 5).
 *
 *   npm run bench:web                       10,000 gems: home, search, gem and version pages
 *   npm run bench:web -- --scale            also bench:scale's catalog (190,000 names)
 *   npm run bench:web -- --postgres         also the 10,000 gems on PostgreSQL
 *   node --import tsx bench/web.ts --help
 *
 * The catalog: bench:scale's synthetic generator and fill (bench/scale/synth.ts, fill.ts) at 10,000
 * names and 68,000 versions (the scale catalog's ratio), plus what migration 6 derives from the specs
 * (each gem's summary, the dependencies table), cached in bench/.work/web/. With --scale, a copy of
 * the catalog bench:scale filled and cached in bench/.work/scale/ (run bench:scale first).
 *
 * `quarry serve` (this tree's build, default configuration, one process) on 127.0.0.1; every request
 * asks for HTML (Accept: text/html). For each page kind:
 *   - a warm-up, then wrk with one connection: latency seen by the client (p50, p99), and the
 *     server's own time per request from its request log (`ms`: Fastify's elapsed time, from the
 *     request's arrival to the end of the response);
 *   - wrk with --connections (default 16) on two threads: throughput, and latency under load.
 * Gem pages are measured on a sample of gems, and apart on the 20 most depended-on gems (the longest
 * reverse dependency lists). Search is also timed per kind of query (exact name, name prefix, word of a name, two summary
 * words, no match) from the server's log.
 *
 * Loopback only. Every process started is stopped by its PID. The report goes to stdout and to
 * bench/.work/web-results.md (raw figures in web-results.json).
 */
import {
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Sqlite from 'better-sqlite3';
import { openCatalog } from '../src/catalog/open.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { ensureBuilt } from '../test/support/quarry.ts';
import { fillPostgres, fillSqlite, makeBlobs, writeBlobs } from './scale/fill.ts';
import { plan } from './scale/synth.ts';
import { percentile } from './server/http.ts';
import { freePort, killAllNow, start, stop, waitForHttp } from './server/procs.ts';
import type { WrkResult } from './server/wrk.ts';
import { requestsPerSecond, writeScript, wrk } from './server/wrk.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const say = (msg: string): boolean => process.stderr.write(`bench:web: ${msg}\n`);
/** Bump when the generated catalog changes shape, so a cached one is filled again. */
const GENERATOR = 1;
/** bench:scale's cached catalog (its default size, seed and generator). */
const SCALE_CATALOG = join(work, 'scale', 'catalog-n190000-v1300000-s1-g1.sqlite3');

interface Options {
  gems: number;
  versions: number;
  seed: number;
  duration: number;
  warmup: number;
  connections: number;
  scale: boolean;
  scaleFile: string;
  postgres: boolean;
  keep: boolean;
}

const HELP = `npm run bench:web [-- OPTIONS]

  --gems N          gem names in the catalog (default 10000)
  --versions N      versions in the catalog (default 68000)
  --seed N          seed of the synthetic catalog (default 1)
  --duration S      seconds of each measured wrk run (default 10)
  --warmup S        seconds of warm-up before each page kind (default 3)
  --connections C   wrk connections of the loaded runs (default 16)
  --scale           also search on bench:scale's cached catalog (190,000 names, 1.3M versions)
  --scale-file F    that catalog file (default bench/.work/scale/catalog-n190000-v1300000-s1-g1.sqlite3)
  --postgres        also the 10,000-gem catalog on PostgreSQL (a throwaway server on 127.0.0.1)
  --keep            keep the temporary folder
`;

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    gems: 10_000,
    versions: 68_000,
    seed: 1,
    duration: 10,
    warmup: 3,
    connections: 16,
    scale: false,
    scaleFile: SCALE_CATALOG,
    postgres: false,
    keep: false,
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < min)
      throw new Error(`${flag} needs a number >= ${min}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i];
    if (a === '--gems') o.gems = int(a, next(), 10);
    else if (a === '--versions') o.versions = int(a, next(), 10);
    else if (a === '--seed') o.seed = int(a, next(), 0);
    else if (a === '--duration') o.duration = int(a, next(), 1);
    else if (a === '--warmup') o.warmup = int(a, next(), 0);
    else if (a === '--connections') o.connections = int(a, next(), 1);
    else if (a === '--scale') o.scale = true;
    else if (a === '--postgres') o.postgres = true;
    else if (a === '--scale-file') {
      o.scale = true;
      o.scaleFile = next() ?? '';
    } else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${HELP}`);
  }
  if (o.versions < o.gems) throw new Error('--versions must be at least --gems');
  return o;
}

/** The 10,000-gem catalog, filled once and cached: bench:scale's fill, then migration 6's derived rows. */
async function cachedCatalog(o: Options): Promise<{ file: string; filledS: number | null }> {
  const dir = join(work, 'web');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `catalog-n${o.gems}-v${o.versions}-s${o.seed}-g${GENERATOR}.sqlite3`);
  if (existsSync(file)) return { file, filledS: null };
  say(`filling ${file}`);
  const t0 = performance.now();
  const part = `${file}.part`;
  await fillSqlite(part, plan(o.gems, o.versions, o.seed), makeBlobs(8), (url) =>
    openCatalog(url, () => new Date(), {}),
  );
  // The fill writes gems and versions under the current schema; what migration 6 derives from the
  // specs of an existing catalog (each gem's newest summary, a row per dependency) is derived here.
  const db = new Sqlite(part);
  db.exec(`
    UPDATE gems SET summary = COALESCE((SELECT json_extract(v.spec, '$.summary') FROM versions v
      WHERE v.gem_id = gems.id ORDER BY v.id DESC LIMIT 1), '');
    DELETE FROM dependencies;
    INSERT INTO dependencies (version_id, gem_id, name, type)
      SELECT v.id, v.gem_id, json_extract(e.value, '$.name'), json_extract(e.value, '$.type')
      FROM versions v, json_each(v.spec, '$.dependencies') e;
    ANALYZE;`);
  db.close();
  renameSync(part, file);
  const filledS = (performance.now() - t0) / 1000;
  say(`filled in ${filledS.toFixed(1)} s`);
  return { file, filledS };
}

type Kind = 'home' | 'search' | 'gem' | 'version' | 'popular';
type SearchKind = 'exact' | 'prefix' | 'word' | 'summary' | 'none';

interface Req {
  path: string;
  kind: Kind;
  searchKind?: SearchKind;
}

/** The requests of each page kind, from a sample of the catalog's gems. */
function requests(file: string, sample: number, seed: number): Req[] {
  const db = new Sqlite(file, { readonly: true });
  try {
    const n = (db.prepare('SELECT max(id) AS n FROM gems').get() as { n: number }).n;
    const pick = db.prepare(
      `SELECT g.name, g.summary, (SELECT v.number FROM versions v WHERE v.gem_id = g.id AND v.yanked_at IS NULL
         AND v.platform = 'ruby' ORDER BY v.id DESC LIMIT 1) AS number FROM gems g WHERE g.id = ?`,
    );
    const out: Req[] = [{ path: '/', kind: 'home' }];
    // The most depended-on gems: the longest reverse dependency lists.
    const popular = db
      .prepare('SELECT name FROM dependencies GROUP BY name ORDER BY count(DISTINCT gem_id) DESC LIMIT 20')
      .all() as { name: string }[];
    for (const g of popular) out.push({ path: `/gems/${encodeURIComponent(g.name)}`, kind: 'popular' });
    let x = seed * 7919 + 1;
    const seen = new Set<string>();
    for (let i = 0; seen.size < sample && i < sample * 10; i++) {
      x = (x * 48271) % 2147483647;
      const g = pick.get((x % n) + 1) as { name: string; summary: string; number: string | null } | undefined;
      if (!g?.number || seen.has(g.name)) continue;
      seen.add(g.name);
      const name = encodeURIComponent(g.name);
      out.push({ path: `/gems/${name}`, kind: 'gem' });
      out.push({ path: `/gems/${name}/versions/${encodeURIComponent(g.number)}`, kind: 'version' });
      const q = (text: string, searchKind: SearchKind) =>
        out.push({ path: `/search?q=${encodeURIComponent(text)}`, kind: 'search', searchKind });
      const parts = g.name.toLowerCase().split(/[-_]/);
      const words = g.summary.toLowerCase().match(/[a-z]{4,}/g) ?? [];
      switch (seen.size % 5) {
        case 0:
          q(g.name, 'exact');
          break;
        case 1:
          q(g.name.slice(0, 3), 'prefix');
          break;
        case 2:
          q(parts.at(-1)!, 'word');
          break;
        case 3:
          q(words.slice(-2).join(' ') || g.name, 'summary');
          break;
        default:
          q(`${parts[0]}zq${seen.size}`, 'none');
      }
    }
    return out;
  } finally {
    db.close();
  }
}

/** A wrk list file of some requests, each asking for HTML. */
function listFile(dir: string, name: string, reqs: readonly Req[]): string {
  const path = join(dir, `${name}.txt`);
  writeFileSync(path, `${reqs.map((r) => `${r.path}\tAccept: text/html`).join('\n')}\n`);
  return path;
}

/** The server's request log lines since `from` (a byte offset): url and server-side ms. */
function loggedSince(log: string, from: number): { url: string; ms: number; status: number }[] {
  const text = readFileSync(log).subarray(from).toString('utf8');
  const out: { url: string; ms: number; status: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"msg":"request"')) continue;
    try {
      const l = JSON.parse(line) as { url: string; ms: number; status: number };
      out.push({ url: l.url, ms: l.ms, status: l.status });
    } catch {
      // a line cut at the end of the file
    }
  }
  return out;
}

const sizeOf = (log: string): number => (existsSync(log) ? statSync(log).size : 0);

interface Times {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

const times = (ms: readonly number[]): Times => ({
  n: ms.length,
  p50: percentile(ms, 50),
  p99: percentile(ms, 99),
  max: ms.length ? Math.max(...ms) : Number.NaN,
});

interface Row {
  catalog: string;
  kind: string;
  /** wrk, one connection. */
  single: WrkResult;
  /** Server-side time per request during the one-connection run. */
  server: Times;
  /** wrk, --connections. */
  loaded: WrkResult;
  loadavg: number;
}

interface Report {
  machine: string[];
  uptimeBefore: string;
  catalogs: { name: string; gems: number; versions: number; filledS: number | null }[];
  rows: Row[];
  searchKinds: { catalog: string; kind: SearchKind; server: Times }[];
  options: Options;
}

async function measure(
  o: Options,
  label: string,
  catalogFile: string,
  dir: string,
  sample: number,
  kinds: readonly Kind[],
  report: Report,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  const data = join(dir, `data-${label}`);
  mkdirSync(data, { recursive: true });
  say(`${label}: copying the catalog`);
  copyFileSync(catalogFile, join(data, 'catalog.sqlite3'), constants.COPYFILE_FICLONE);
  writeBlobs(data, makeBlobs(8));
  const reqs = requests(catalogFile, sample, o.seed);
  const port = await freePort();
  const log = join(dir, `server-${label}.log`);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^(QUARRY_|NODE_OPTIONS$|SOURCE_DATE_EPOCH$)/.test(k)) env[k] = v;
  env['QUARRY_UPSTREAMS'] = '[]';
  Object.assign(env, extraEnv);
  const pid = start(
    `quarry serve (${label})`,
    process.execPath,
    [join(root, 'bin', 'quarry'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--data', data],
    { log, env },
  );
  try {
    await waitForHttp(pid, `http://127.0.0.1:${port}/health`, 300_000);
    const script = writeScript(dir);
    for (const kind of kinds) {
      const list = listFile(
        dir,
        `${label}-${kind}`,
        reqs.filter((r) => r.kind === kind),
      );
      const base = { port, list };
      say(`${label} ${kind}: warm-up`);
      if (o.warmup > 0) await wrk(script, { ...base, durationS: o.warmup, connections: 1, threads: 1 });
      const from = sizeOf(log);
      const load = loadavg()[0]!;
      say(`${label} ${kind}: one connection, ${o.duration} s`);
      const single = await wrk(script, { ...base, durationS: o.duration, connections: 1, threads: 1 });
      // The server writes its log lines after answering: let the last ones reach the file.
      await new Promise((r) => setTimeout(r, 500));
      const logged = loggedSince(log, from);
      const bad = logged.filter((l) => l.status !== 200);
      if (bad.length > 0)
        throw new Error(`${bad.length} answers were not 200, e.g. ${JSON.stringify(bad[0])}`);
      say(`${label} ${kind}: ${o.connections} connections, ${o.duration} s`);
      const loaded = await wrk(script, {
        ...base,
        durationS: o.duration,
        connections: o.connections,
        threads: 2,
      });
      report.rows.push({
        catalog: label,
        kind,
        single,
        server: times(logged.map((l) => l.ms)),
        loaded,
        loadavg: load,
      });
      if (kind === 'search') {
        const kindOf = new Map(reqs.filter((r) => r.searchKind).map((r) => [r.path, r.searchKind!]));
        for (const sk of ['exact', 'prefix', 'word', 'summary', 'none'] as const)
          report.searchKinds.push({
            catalog: label,
            kind: sk,
            server: times(logged.filter((l) => kindOf.get(l.url) === sk).map((l) => l.ms)),
          });
      }
    }
  } finally {
    await stop(pid);
  }
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const msOf = (us: number): string => f1(us / 1000);

function markdown(r: Report): string {
  const out: string[] = [];
  out.push(`Machine: ${r.machine.join('; ')}.`, '', `Load before the run (uptime): ${r.uptimeBefore}`, '');
  for (const c of r.catalogs)
    out.push(
      `- ${c.name}: ${c.gems.toLocaleString('en-US')} gems, ${c.versions.toLocaleString('en-US')} versions${c.filledS === null ? ' (cached)' : `, filled in ${c.filledS.toFixed(1)} s`}`,
    );
  out.push(
    '',
    '| catalog | page | server p50 ms | server p99 ms | client p50 ms (1 conn) | client p99 ms (1 conn) | req/s (1 conn) | req/s (' +
      `${r.options.connections} conn) | p99 ms (${r.options.connections} conn) | load avg |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const x of r.rows)
    out.push(
      `| ${x.catalog} | ${x.kind} | ${f1(x.server.p50)} | ${f1(x.server.p99)} | ${msOf(x.single.p50_us)} | ${msOf(x.single.p99_us)} | ${Math.round(requestsPerSecond(x.single))} | ${Math.round(requestsPerSecond(x.loaded))} | ${msOf(x.loaded.p99_us)} | ${x.loadavg.toFixed(2)} |`,
    );
  out.push(
    '',
    '| catalog | search kind | requests | server p50 ms | server p99 ms | max ms |',
    '|---|---|---:|---:|---:|---:|',
  );
  for (const s of r.searchKinds)
    out.push(
      `| ${s.catalog} | ${s.kind} | ${s.server.n} | ${f1(s.server.p50)} | ${f1(s.server.p99)} | ${f1(s.server.max)} |`,
    );
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.scale && !existsSync(o.scaleFile))
    throw new Error(`${o.scaleFile} does not exist: run npm run bench:scale first (it fills and caches it)`);
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'quarry-bench-web-'));
  const cpu = cpus();
  const report: Report = {
    machine: [
      `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}`,
      `${Math.round(totalmem() / 2 ** 30)} GiB`,
      `Linux ${release()}`,
      `Node ${process.version}`,
    ],
    uptimeBefore: readFileSync('/proc/loadavg', 'utf8').trim(),
    catalogs: [],
    rows: [],
    searchKinds: [],
    options: o,
  };
  const onSignal = () => {
    killAllNow();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const small = await cachedCatalog(o);
    report.catalogs.push({
      name: `${o.gems / 1000}k`,
      gems: o.gems,
      versions: o.versions,
      filledS: small.filledS,
    });
    await measure(
      o,
      `${o.gems / 1000}k`,
      small.file,
      dir,
      500,
      ['home', 'search', 'gem', 'version', 'popular'],
      report,
    );
    if (o.postgres) {
      const pgServer = await startPostgres();
      try {
        const url = await pgServer.createDatabase('bench_web');
        say('filling PostgreSQL from the 10,000-gem catalog');
        await fillPostgres(url, small.file, (u) => openCatalog(u, () => new Date(), {}));
        const name = `${o.gems / 1000}k-pg`;
        report.catalogs.push({ name, gems: o.gems, versions: o.versions, filledS: null });
        await measure(
          o,
          name,
          small.file,
          dir,
          500,
          ['home', 'search', 'gem', 'version', 'popular'],
          report,
          {
            QUARRY_CATALOG: url,
          },
        );
      } finally {
        await pgServer.stop();
      }
    }
    if (o.scale) {
      const db = new Sqlite(o.scaleFile, { readonly: true });
      const counts = db
        .prepare('SELECT (SELECT count(*) FROM gems) AS g, (SELECT count(*) FROM versions) AS v')
        .get() as {
        g: number;
        v: number;
      };
      db.close();
      report.catalogs.push({ name: 'scale', gems: counts.g, versions: counts.v, filledS: null });
      await measure(o, 'scale', o.scaleFile, dir, 500, ['home', 'search', 'gem', 'popular'], report);
    }
  } finally {
    killAllNow();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
  const md = markdown(report);
  process.stdout.write(md);
  writeFileSync(join(work, 'web-results.md'), md);
  writeFileSync(join(work, 'web-results.json'), `${JSON.stringify(report, null, 2)}\n`);
}

main().catch((e: unknown) => {
  killAllNow();
  process.stderr.write(`bench:web: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
