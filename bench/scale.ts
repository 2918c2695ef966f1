/**
 * Scale benchmark: Quarry on a catalog as large as rubygems.org (190,000 names, 1.3 million
 * versions by default), on SQLite and on PostgreSQL.
 *
 *   npm run bench:scale                       # both drivers, full size (~16 min)
 *   npm run bench:scale -- --small            # 20,000 names, 130,000 versions (a few minutes)
 *   npm run bench:scale -- --driver sqlite    # one driver
 *
 * 1. Fill: a synthetic catalog (bench/scale/synth.ts) by bulk SQL into the tables
 *    (bench/scale/fill.ts), then catalog.rebuildVersionsList(). The SQLite file is cached in
 *    bench/.work/scale/ keyed by size and seed; each run works on a copy. PostgreSQL (a throwaway
 *    server on loopback, test/support/postgres.ts) is filled from that file.
 * 2. Start-up: `quarry serve` spawned until its first 200 on GET /versions.
 * 3. Pushes: real POST /api/v1/gems of small distinct gems (test/support/make-gem.ts), one at a time
 *    over one keep-alive connection: first on a quiet server, then while another client keeps
 *    fetching specs.4.8.gz (so legacy lists are being rebuilt during the pushes).
 * 4. Legacy lists: push one gem, then time GET /specs.4.8.gz (the rebuild of the 1.3M-entry lists);
 *    meanwhile a third client sends GET /info/NAME back to back, and its slowest answer shows how
 *    long the event loop was held. Then ETags: a prerelease push must leave specs and latest_specs
 *    ETags alone and change prerelease_specs'; a release push must change specs'.
 * 5. Reads with wrk against Quarry, then nginx on a static copy of the same bytes: /versions
 *    whole, /versions ranged as Bundler asks (Range: bytes=N-), /info over every name, /info
 *    over a hot set. RSS of the server after the reads.
 * 6. Full rebuild of every index file from the catalog, in its own process (bench/scale/rebuild.ts).
 *
 * Everything listens on 127.0.0.1; every process started is stopped by its PID, also on failure.
 * Results: stdout and bench/.work/scale-results.md (raw: scale-results.json).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { makeGem } from '../test/support/make-gem.ts';
import type { PgServer } from '../test/support/postgres.ts';
import { startPostgres } from '../test/support/postgres.ts';
import type { Blob } from './scale/fill.ts';
import { fillPostgres, fillSqlite, makeBlobs, writeBlobs } from './scale/fill.ts';
import { startScaleNginx } from './scale/nginx.ts';
import type { Driver, Options } from './scale/options.ts';
import { parseArgs } from './scale/options.ts';
import type { Quarry } from './scale/quarry.ts';
import { quarryAt } from './scale/quarry.ts';
import type { RebuildResult } from './scale/rebuild.ts';
import type { DriverReport, PushStats, ReadResult } from './scale/report.ts';
import { markdown } from './scale/report.ts';
import { plan } from './scale/synth.ts';
import { cpuSample, foreignShare } from './server/cpu.ts';
import { ensureTools, rssMiB } from './server/env.ts';
import type { Client } from './server/http.ts';
import { client, getAll, percentile } from './server/http.ts';
import type { Mix } from './server/lists.ts';
import { infoMix, shuffled, versionsMix, writeList } from './server/lists.ts';
import { freePort, killAllNow, run, start, stop, stopAll } from './server/procs.ts';
import type { WrkResult } from './server/wrk.ts';
import { writeScript, wrk } from './server/wrk.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const scaleWork = join(work, 'scale');
const distDir = join(scaleWork, 'dist');
/** Bump when bench/scale/synth.ts or fill.ts change what a filled catalog holds. */
const GENERATOR = 1;
const BLOBS = 4;

const say = (msg: string): boolean => process.stderr.write(`bench:scale: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tempDir: string | null = null;
let pgServer: PgServer | null = null;

/** Compiles Quarry into bench/.work/scale/dist (a private build: other work may rebuild dist/). */
function build(): void {
  say('compiling Quarry into bench/.work/scale/dist');
  rmSync(distDir, { recursive: true, force: true });
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      distDir,
    ],
    { cwd: root, encoding: 'utf8' },
  );
  // Type errors elsewhere in a shared tree still emit JavaScript; only a missing entry point fails.
  const main = join(distDir, 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`tsc did not produce ${main}:\n${r.stdout}${r.stderr}`);
  if (r.status !== 0) say(`tsc reported errors (JavaScript emitted anyway):\n${r.stdout.slice(0, 2000)}`);
}

/** The cached SQLite catalog for this size and seed, filled when missing. */
async function cachedCatalog(
  o: Options,
  q: Quarry,
  blobs: readonly Blob[],
): Promise<{ file: string; fill: DriverReport['fill'] }> {
  mkdirSync(scaleWork, { recursive: true });
  const file =
    o.catalogFile ?? join(scaleWork, `catalog-n${o.names}-v${o.versions}-s${o.seed}-g${GENERATOR}.sqlite3`);
  let fill: DriverReport['fill'] = { cached: true, insertS: Number.NaN, versionsBaseS: Number.NaN };
  if (!existsSync(file)) {
    say(
      `filling ${file} (${o.names.toLocaleString('en-US')} names, ${o.versions.toLocaleString('en-US')} versions)`,
    );
    const t0 = performance.now();
    const p = plan(o.names, o.versions, o.seed);
    say(`planned in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const part = `${file}.part`;
    const r = await fillSqlite(part, p, blobs, q.open);
    renameSync(part, file);
    fill = { cached: false, ...r };
    say(`filled: inserts ${r.insertS.toFixed(1)} s, versions base ${r.versionsBaseS.toFixed(1)} s`);
  }
  // New migrations (e.g. an index) are applied to the cached file once, not at each server start.
  const t0 = performance.now();
  await (await q.open(`sqlite:${file}`)).close();
  const migrateS = (performance.now() - t0) / 1000;
  if (migrateS > 1) say(`migrations on the cached catalog: ${migrateS.toFixed(1)} s`);
  return { file, fill };
}

/** GET url until it answers 200; returns the time since `since` in seconds. */
async function firstOk(pid: number, url: string, since: number, timeoutMs = 180_000): Promise<number> {
  const get = () =>
    new Promise<number>((resolve) => {
      const req = request(url, { agent: false, timeout: 60_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      });
      req.on('error', () => resolve(0));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  for (;;) {
    if ((await get()) === 200) return (performance.now() - since) / 1000;
    if (performance.now() - since > timeoutMs) throw new Error(`no 200 from ${url} within ${timeoutMs} ms`);
    try {
      process.kill(pid, 0);
    } catch {
      throw new Error(`the server exited before answering ${url}`);
    }
    await sleep(25);
  }
}

/** Names and their number of version tokens, from a /versions body (later lines add tokens). */
function versionCounts(versions: Buffer): Map<string, number> {
  const text = versions.toString('utf8');
  const counts = new Map<string, number>();
  for (const line of text.slice(text.indexOf('\n---\n') + 5).split('\n')) {
    if (!line) continue;
    const sp = line.indexOf(' ');
    const tokens = line.slice(sp + 1, line.lastIndexOf(' ')).split(',').length;
    const name = line.slice(0, sp);
    counts.set(name, (counts.get(name) ?? 0) + tokens);
  }
  return counts;
}

const CONSTRAINTS: string[][] = [['~> 1.2'], ['>= 0'], ['>= 1.4', '< 3'], ['~> 0.9.2'], ['= 2.1.0']];

/** Makes distinct small gems to push: new versions of existing gems (some of the largest), new names. */
class PushGems {
  private k = 0;
  private readonly names: string[];
  private readonly big: string[];
  private readonly r: () => number;
  constructor(
    private readonly counts: Map<string, number>,
    seed: number,
  ) {
    this.names = [...counts.keys()];
    this.big = this.names.filter((n) => (counts.get(n) ?? 0) >= 100);
    let s = seed >>> 0;
    this.r = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }
  private any(): string {
    return this.names[Math.floor(this.r() * this.names.length)]!;
  }
  /** A gem: kind 'release' (default) or 'prerelease'; `name` forces an existing or new name. */
  next(o: { prerelease?: boolean; name?: string } = {}): {
    name: string;
    version: string;
    bytes: Buffer;
    /** Versions the gem had before (as /versions listed it when the run started). */
    had: number;
  } {
    const k = this.k++;
    const u = this.r();
    const name =
      o.name ??
      (u < 0.1 && this.big.length > 0
        ? this.big[Math.floor(this.r() * this.big.length)]!
        : u < 0.85
          ? this.any()
          : `scale-new-${k}`);
    const version = `900.${k}.0${o.prerelease ? '.beta1' : ''}`;
    const deps = Array.from({ length: Math.floor(this.r() * 5) }, () => [
      this.any(),
      ...CONSTRAINTS[Math.floor(this.r() * CONSTRAINTS.length)]!,
    ]) as [string, ...string[]][];
    return {
      name,
      version,
      had: this.counts.get(name) ?? 0,
      bytes: makeGem({ name, version, deps: [...new Map(deps.map((d) => [d[0], d])).values()] }),
    };
  }
}

async function push(c: Client, key: string, bytes: Buffer): Promise<number> {
  const t0 = performance.now();
  const r = await c.post('/api/v1/gems', bytes, {
    Authorization: key,
    'Content-Type': 'application/octet-stream',
  });
  const ms = performance.now() - t0;
  const body = r.body.toString('utf8');
  if (r.status !== 200 || !/^Successfully registered gem/.test(body))
    throw new Error(`push failed: status ${r.status}: ${body.slice(0, 300)}`);
  return ms;
}

/** The largest of many numbers (0 for none); Math.max(...xs) overflows the stack past ~100,000. */
const maxOf = (xs: readonly number[]): number => xs.reduce((a, b) => Math.max(a, b), 0);

const stats = (xs: readonly number[]): PushStats => ({
  count: xs.length,
  p50Ms: percentile(xs, 50),
  p99Ms: percentile(xs, 99),
  meanMs: xs.reduce((a, b) => a + b, 0) / xs.length,
  maxMs: maxOf(xs),
});

/** Sends GET path back to back on its own connection until stopped; records every latency. */
function prober(port: number, path: string) {
  const c = client(port);
  const samples: { at: number; ms: number }[] = [];
  let running = true;
  let count = 0;
  const done = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await c.get(path);
      if (r.status !== 200) throw new Error(`GET ${path}: status ${r.status}`);
      samples.push({ at: t0, ms: performance.now() - t0 });
      count++;
    }
  })();
  return {
    samples,
    count: () => count,
    stop: async () => {
      running = false;
      await done;
      c.close();
    },
  };
}

const LEGACY_GZ = ['specs.4.8.gz', 'latest_specs.4.8.gz', 'prerelease_specs.4.8.gz'];

async function etags(c: Client): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of LEGACY_GZ) {
    const r = await c.get(`/${f}`);
    if (r.status !== 200) throw new Error(`GET /${f}: status ${r.status}`);
    out[f] = String(r.headers['etag']);
  }
  return out;
}

/** Reads with wrk: check the first answers, warm up, then the measured run. */
async function measure(
  o: Options,
  script: string,
  listDir: string,
  port: number,
  mix: Mix,
  connections: number,
): Promise<WrkResult> {
  const list = join(listDir, `${mix.id}.txt`);
  writeList(list, mix.reqs);
  const c = client(port);
  try {
    for (const req of mix.reqs.slice(0, 20)) {
      const problem = mix.check(req, await c.get(req.path, req.headers));
      if (problem) throw new Error(`${mix.id}: GET ${req.path}: ${problem}`);
    }
  } finally {
    c.close();
  }
  const w = { port, list, connections, threads: o.threads };
  if (o.warmup > 0) await wrk(script, { ...w, durationS: o.warmup });
  const before = cpuSample();
  const r = await wrk(script, { ...w, durationS: o.duration });
  return { ...r, foreign: foreignShare(before, cpuSample()) };
}

async function runDriver(
  o: Options,
  q: Quarry,
  driver: Driver,
  tmp: string,
  cached: { file: string; fill: DriverReport['fill'] },
  blobs: readonly Blob[],
): Promise<DriverReport> {
  const dir = join(tmp, driver);
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  writeBlobs(data, blobs);
  const env: NodeJS.ProcessEnv = { ...process.env, QUARRY_LOG__LEVEL: 'warn', QUARRY_UPSTREAMS: '[]' };
  /** Node's own flags for the servers (--server-node-args), before the script. */
  const nodeArgs = o.serverNodeArgs ? o.serverNodeArgs.split(/\s+/).filter(Boolean) : [];
  let fill = cached.fill;
  let catalogUrl: string;
  if (driver === 'sqlite') {
    const t0 = performance.now();
    const file = join(data, 'catalog.sqlite3');
    copyFileSync(cached.file, file, constants.COPYFILE_FICLONE);
    catalogUrl = `sqlite:${file}`;
    say(`sqlite: copied the cached catalog in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    pgServer ??= await startPostgres();
    catalogUrl = await pgServer.createDatabase();
    say('postgres: filling from the SQLite catalog');
    fill = { cached: false, ...(await fillPostgres(catalogUrl, cached.file, q.open)) };
    say(
      `postgres: filled: inserts ${fill.insertS.toFixed(1)} s, versions base ${fill.versionsBaseS.toFixed(1)} s`,
    );
    env['QUARRY_CATALOG'] = catalogUrl;
  }

  const keyOut = execFileSync(
    process.execPath,
    [q.main, 'keys', 'create', '--scopes', 'push', '--data', data],
    {
      env,
      encoding: 'utf8',
    },
  );
  const key = keyOut.trim().split('\n').at(-1)!;

  // ---- start-up ------------------------------------------------------------------------------
  const port = await freePort();
  const t0 = performance.now();
  const pid = start(
    'quarry',
    process.execPath,
    [...nodeArgs, q.main, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data', data],
    {
      env,
      log: join(dir, 'quarry.log'),
    },
  );
  const startupS = await firstOk(pid, `http://127.0.0.1:${port}/versions`, t0);
  const startupRssMiB = rssMiB(pid);
  const mem = rssByPhase(pid, 'start-up');
  say(
    `${driver}: first 200 on /versions after ${startupS.toFixed(2)} s (RSS ${startupRssMiB.toFixed(0)} MiB)`,
  );

  const c = client(port);
  const before = await c.get('/versions');
  const gems = new PushGems(versionCounts(before.body), o.seed + 7);

  // ---- pushes ----------------------------------------------------------------------------------
  mem.phase = 'pushes';
  const quiet: number[] = [];
  const quietBig: number[] = [];
  for (let i = 0; i < o.pushes; i++) {
    const g = gems.next();
    const ms = await push(c, key, g.bytes);
    quiet.push(ms);
    if (g.had >= 100) quietBig.push(ms);
    if ((i + 1) % 250 === 0) say(`${driver}: ${i + 1} pushes`);
  }
  const pushQuiet = stats(quiet);
  const pushQuietBig = stats(quietBig);
  say(
    `${driver}: quiet pushes p50 ${pushQuiet.p50Ms.toFixed(1)} ms, p99 ${pushQuiet.p99Ms.toFixed(1)} ms; to gems with 100+ versions (${quietBig.length}): p50 ${pushQuietBig.p50Ms.toFixed(1)} ms, p99 ${pushQuietBig.p99Ms.toFixed(1)} ms`,
  );

  const loaded: number[] = [];
  let legacyReads = 0;
  let reading = true;
  const reader = (async () => {
    const rc = client(port);
    try {
      while (reading) {
        const r = await rc.get('/specs.4.8.gz');
        if (r.status !== 200) throw new Error(`GET /specs.4.8.gz: ${r.status}`);
        legacyReads++;
      }
    } finally {
      rc.close();
    }
  })();
  // Wait for the first legacy build, so that every push below overlaps one.
  while (legacyReads === 0 && reading) await sleep(50);
  for (let i = 0; i < o.loadedPushes; i++) loaded.push(await push(c, key, gems.next().bytes));
  reading = false;
  await reader;
  const pushLoaded = stats(loaded);
  say(
    `${driver}: pushes during legacy rebuilds p50 ${pushLoaded.p50Ms.toFixed(1)} ms, p99 ${pushLoaded.p99Ms.toFixed(1)} ms (${legacyReads} specs.4.8.gz answers)`,
  );

  // ---- legacy lists after a push, and how long the event loop is held meanwhile --------------------
  mem.phase = 'legacy rebuilds';
  const names = (await c.get('/names')).body.toString('utf8').split('\n').slice(1, -1);
  const probeName = names[Math.floor(names.length / 2)]!;
  await c.get(`/info/${probeName}`);
  // The same prober on an idle server first: the noise floor (other processes, the scheduler).
  await c.get('/specs.4.8.gz');
  const idle = prober(port, `/info/${probeName}`);
  await sleep(2000);
  await idle.stop();
  const idleMs = idle.samples.map((x) => x.ms);
  const idleProbe = { count: idleMs.length, maxMs: maxOf(idleMs), p99Ms: percentile(idleMs, 99) };
  say(
    `${driver}: /info back to back on an idle server: ${idleProbe.count} answers in 2 s, slowest ${idleProbe.maxMs.toFixed(1)} ms`,
  );
  const regen: number[] = [];
  const stallMax: number[] = [];
  const stallP99: number[] = [];
  let specsGzBytes = 0;
  for (let round = 0; round < o.legacyRounds; round++) {
    await c.get('/specs.4.8.gz'); // a current build, so the timed one follows exactly one push
    await push(c, key, gems.next().bytes);
    const p = prober(port, `/info/${probeName}`);
    await sleep(20);
    const from = performance.now();
    const specs = await c.get('/specs.4.8.gz');
    const ms = performance.now() - from;
    await p.stop();
    if (specs.status !== 200) throw new Error(`GET /specs.4.8.gz: ${specs.status}`);
    const raw = gunzipSync(specs.body);
    if (raw[0] !== 4 || raw[1] !== 8) throw new Error('specs.4.8.gz is not a Marshal 4.8 dump');
    specsGzBytes = specs.body.length;
    const during = p.samples.filter((s) => s.at + s.ms >= from && s.at <= from + ms).map((s) => s.ms);
    regen.push(ms);
    stallMax.push(maxOf(during));
    stallP99.push(percentile(during, 99));
    say(
      `${driver}: specs.4.8.gz after a push: ${ms.toFixed(0)} ms; /info during it: ${during.length} answers, slowest ${maxOf(during).toFixed(1)} ms`,
    );
  }

  // ETags of the legacy files: change only when their bytes change.
  const e1 = await etags(c);
  const existing = names[Math.floor(names.length / 3)]!;
  await push(c, key, gems.next({ prerelease: true, name: existing }).bytes);
  const e2 = await etags(c);
  await push(c, key, gems.next({ name: `scale-etag-${Date.now()}` }).bytes);
  const e3 = await etags(c);
  const etagCheck = {
    prereleasePushKeepsSpecs:
      e1['specs.4.8.gz'] === e2['specs.4.8.gz'] && e1['latest_specs.4.8.gz'] === e2['latest_specs.4.8.gz'],
    prereleasePushChangesPrerelease: e1['prerelease_specs.4.8.gz'] !== e2['prerelease_specs.4.8.gz'],
    releasePushChangesSpecs: e2['specs.4.8.gz'] !== e3['specs.4.8.gz'],
    releasePushKeepsPrerelease: e2['prerelease_specs.4.8.gz'] === e3['prerelease_specs.4.8.gz'],
  };
  say(`${driver}: legacy ETags ${JSON.stringify(etagCheck)}`);

  // ---- a static copy for nginx: /versions and every /info ----------------------------------------
  mem.phase = 'every /info';
  const www = join(dir, 'www');
  mkdirSync(join(www, 'info'), { recursive: true });
  const versions = (await c.get('/versions')).body;
  writeFileSync(join(www, 'versions'), versions);
  const allNames = (await c.get('/names')).body.toString('utf8').split('\n').slice(1, -1);
  c.close();
  const infos = new Map<string, Buffer>();
  const t1 = performance.now();
  await getAll(
    port,
    allNames.map((n) => `/info/${n}`),
    4,
    (path, body) => {
      infos.set(path.slice(6), body);
      writeFileSync(join(www, path), body);
    },
  );
  const allInfosS = (performance.now() - t1) / 1000;
  say(`${driver}: every /info (${allNames.length}) over HTTP, 4 connections: ${allInfosS.toFixed(1)} s`);

  // ---- reads -----------------------------------------------------------------------------------
  mem.phase = 'wrk reads';
  const reads: Record<string, ReadResult> = {};
  let status: { rss: number; hwm: number } | null = null;
  let workersRssMiB: number[] = [];
  if (o.reads) {
    const lists = join(dir, 'lists');
    mkdirSync(lists);
    const script = writeScript(dir);
    const hot = shuffled(allNames, 5).slice(0, Math.min(o.hotNames, allNames.length));
    const mixes: { mix: Mix; connections: number }[] = [
      {
        mix: {
          id: 'versions-full',
          label: `GET /versions, whole (${(versions.length / 2 ** 20).toFixed(1)} MiB)`,
          reqs: [{ path: '/versions', headers: {} }],
          check: (_q, res) =>
            res.status === 200 && res.body.equals(versions)
              ? null
              : `status ${res.status}, ${res.body.length} bytes`,
        },
        connections: o.fullConnections,
      },
      { mix: versionsMix(versions, Math.min(o.behind, allNames.length)), connections: o.connections },
      {
        mix: {
          ...infoMix(allNames, infos),
          id: 'info-all',
          label: `GET /info/NAME, every name (${allNames.length.toLocaleString('en-US')}), shuffled`,
        },
        connections: o.connections,
      },
      {
        mix: {
          ...infoMix(hot, infos),
          id: 'info-hot',
          label: `GET /info/NAME, ${hot.length.toLocaleString('en-US')} hot names`,
        },
        connections: o.connections,
      },
    ];
    // nginx runs beside Quarry (an idle server costs nothing) and the two are measured in turn on
    // each mix, so that load from other processes on the machine falls on both alike.
    const nPort = await freePort();
    const nPid = await startScaleNginx({ dir: join(dir, 'nginx'), root: www, port: nPort, workers: 2 });
    // And one with a single worker, to set one Quarry process against one nginx process.
    const n1Port = await freePort();
    const n1Pid = await startScaleNginx({ dir: join(dir, 'nginx1'), root: www, port: n1Port, workers: 1 });
    const rps = (r: WrkResult) => Math.round((r.requests * 1e6) / r.duration_us);
    try {
      for (const { mix, connections } of mixes) {
        if (mix.id === 'info-hot')
          await getAll(
            port,
            hot.map((n) => `/info/${n}`),
            4,
          );
        const q = await measure(o, script, lists, port, mix, connections);
        const n1 = await measure(o, script, lists, n1Port, mix, connections);
        const n = await measure(o, script, lists, nPort, mix, connections);
        reads[mix.id] = { label: mix.label, connections, quarry: q, nginx: n, nginx1: n1 };
        say(
          `${driver}: ${mix.id}: quarry ${rps(q)} req/s (p99 ${(q.p99_us / 1000).toFixed(1)} ms), nginx 1 worker ${rps(n1)} req/s: ${(rps(q) / rps(n1)).toFixed(2)}x, nginx 2 workers ${rps(n)} req/s (p99 ${(n.p99_us / 1000).toFixed(1)} ms): ${(rps(q) / rps(n)).toFixed(2)}x`,
        );
      }
      status = readStatus(pid);
      mem.stop();
      await stop(pid, 20_000);

      // The same node with `serve --workers N` (node:cluster), on the ranged /versions and the hot
      // /info set: each worker keeps caches of its own, warmed by a longer wrk warm-up.
      if (o.quarryWorkers > 1) {
        const wPort = await freePort();
        const wPid = start(
          'quarry-workers',
          process.execPath,
          [
            ...nodeArgs,
            q.main,
            'serve',
            '--workers',
            String(o.quarryWorkers),
            '--host',
            '127.0.0.1',
            '--port',
            String(wPort),
            '--data',
            data,
          ],
          { env, log: join(dir, 'quarry-workers.log') },
        );
        await firstOk(wPid, `http://127.0.0.1:${wPort}/versions`, performance.now());
        // Each worker loads the hot set on its own (a cold /info is a catalog read), so the warm-up
        // grows with it: about a second per 1,000 names, enough for every worker to have asked
        // for each name a few times before the measured run.
        const warm = { ...o, warmup: Math.max(o.warmup, 5, Math.ceil(hot.length / 1000)) };
        for (const { mix, connections } of mixes.filter(
          (m) => m.mix.id === 'versions' || m.mix.id === 'info-hot',
        )) {
          const w = await measure(warm, script, lists, wPort, mix, connections);
          const n = await measure(o, script, lists, nPort, mix, connections);
          reads[mix.id]!.workers = w;
          reads[mix.id]!.nginxAgain = n;
          say(
            `${driver}: ${mix.id}: quarry --workers ${o.quarryWorkers} ${rps(w)} req/s, nginx ${rps(n)} req/s: ${(rps(w) / rps(n)).toFixed(2)}x`,
          );
        }
        workersRssMiB = workerPids(wPid).map((p) => rssMiB(p));
        await stop(wPid, 20_000);
      }
    } finally {
      await stop(nPid);
      await stop(n1Pid);
    }
  }
  if (!status) {
    status = readStatus(pid);
    mem.stop();
    await stop(pid, 20_000);
  }

  // ---- full rebuild ------------------------------------------------------------------------------
  let rebuild: RebuildResult | null = null;
  if (o.rebuild) {
    say(`${driver}: full rebuild of every index file`);
    const rb = await run(
      'rebuild',
      process.execPath,
      ['--import', 'tsx', join(root, 'bench', 'scale', 'rebuild.ts'), catalogUrl, q.dist],
      { ...process.env },
    );
    if (rb.code !== 0) throw new Error(`rebuild failed:\n${rb.stderr}`);
    process.stderr.write(rb.stderr);
    rebuild = JSON.parse(rb.stdout.trim().split('\n').at(-1)!) as RebuildResult;
  }

  return {
    driver,
    fill,
    startupS,
    startupRssMiB,
    pushQuiet,
    pushQuietBig,
    pushLoaded,
    legacyReads,
    regenMs: regen,
    stallMaxMs: stallMax,
    stallP99Ms: stallP99,
    idleProbe,
    specsGzBytes,
    etag: etagCheck,
    versionsBytes: versions.length,
    names: allNames.length,
    allInfosS,
    reads,
    rssAfterReadsMiB: status.rss,
    rssPeaks: mem.peaks,
    peakRssMiB: status.hwm,
    quarryWorkers: o.quarryWorkers,
    workersRssMiB,
    rebuild,
  };
}

/** The highest RSS of a process in each phase of the run (sampled every 200 ms). */
function rssByPhase(pid: number, first: string) {
  const peaks: Record<string, number> = {};
  const s = {
    phase: first,
    peaks,
    stop: () => clearInterval(timer),
  };
  const timer = setInterval(() => {
    const rss = rssMiB(pid);
    if (rss > (peaks[s.phase] ?? 0)) peaks[s.phase] = rss;
  }, 200);
  timer.unref();
  return s;
}

/** The worker processes of a node:cluster primary. */
function workerPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function readStatus(pid: number): { rss: number; hwm: number } {
  try {
    const s = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1]) / 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: Number.NaN, hwm: Number.NaN };
  }
}

function software(o: Options): string[] {
  const out = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } });
    return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '?';
  };
  const commit = out('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty = out('git', ['-C', root, 'status', '--porcelain', '--', 'src']) !== '';
  return [
    o.dist
      ? `Quarry compiled in ${o.dist}`
      : `Quarry at commit ${commit}${dirty ? ' with uncommitted changes under src/' : ''}`,
    `Node ${process.version}; ${out('wrk', ['--version']).replace(/ Copyright.*/, '')}; ${out('nginx', ['-v']).replace(/^nginx version: /, '')}`,
    `PostgreSQL ${out('psql', ['--version']).replace(/^psql \(PostgreSQL\) /, '')} (throwaway server: fsync off, default shared_buffers)`,
  ];
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const began = performance.now();
  ensureTools();
  if (o.build || (!o.dist && !existsSync(join(distDir, 'cli', 'main.js')))) build();
  const q = quarryAt(o.dist ?? distDir);
  const blobs = makeBlobs(BLOBS);
  const cached = await cachedCatalog(o, q, blobs);
  const tmp = mkdtempSync(join(tmpdir(), 'quarry-bench-scale-'));
  chmodSync(tmp, 0o755);
  if (!o.keep) tempDir = tmp;
  const cpu0 = cpuSample();
  const results: DriverReport[] = [];
  try {
    for (const d of o.drivers) {
      results.push(await runDriver(o, q, d, tmp, cached, blobs));
      if (!o.keep) rmSync(join(tmp, d), { recursive: true, force: true });
    }
  } finally {
    await stopAll();
    await pgServer?.stop();
    if (o.keep) say(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
  const md = markdown({
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    command: `npm run bench:scale -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}`,
    software: software(o),
    options: o,
    foreign: foreignShare(cpu0, cpuSample()),
    minutes: (performance.now() - began) / 60000,
    drivers: results,
  });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'scale-results.md'), md);
  writeFileSync(join(work, 'scale-results.json'), `${JSON.stringify({ options: o, results }, null, 2)}\n`);
  process.stdout.write(`\n${md}`);
  say(`wrote bench/.work/scale-results.md (${((performance.now() - began) / 60000).toFixed(1)} min)`);
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    say(`${sig}: stopping`);
    stopAll()
      .then(() => pgServer?.stop())
      .finally(() => {
        if (tempDir) rmSync(tempDir, { recursive: true, force: true });
        process.exit(130);
      });
  });
}

main().catch(async (e: unknown) => {
  process.stderr.write(`bench:scale: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  await stopAll();
  await pgServer?.stop();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  process.exitCode = 1;
});
