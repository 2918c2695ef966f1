/**
 * Gem server benchmark: Quarry next to nginx serving the same bytes statically, and next to Gem in
 * a Box where it can be run.
 *
 *   npm run bench:server
 *   node --import tsx bench/server.ts --versions 10000 --duration 10
 *
 * 1. Pushes: the catalog grows from empty to --versions gems, one real POST /api/v1/gems (with a
 *    push key) at a time over one keep-alive connection; latency percentiles overall and over the
 *    last --last pushes.
 * 2. Reads with wrk (--connections, --threads, --warmup then --duration seconds each), replaying a
 *    Lua-driven mix: /info/NAME over all names, /versions with Bundler's `Range: bytes=N-`,
 *    /gems/X.gem over all gems, and (to compare with Gem in a Box, which has no compact index)
 *    /api/v1/dependencies?gems=NAME and /specs.4.8.gz; with one Quarry process, then with
 *    `serve --workers N` (--quarry-workers). Every answer of a mix is checked once before the runs.
 * 3. nginx (`worker_processes 2`) on a static copy of Quarry's /versions, /info/*, .gem files and
 *    specs.4.8.gz, saved after seeding.
 * 4. Gem in a Box from a source checkout (--geminabox DIR, default bench/.work/geminabox): seeded
 *    with all but the last --gbx-pushes gems by copying them into its gems/ and one GET /reindex,
 *    then the rest pushed over HTTP like Quarry's (its per-push reindex makes 10,000 HTTP pushes take
 *    longer than this benchmark may).
 * 5. A reference: a minimal Fastify route serving /info from memory (bench/server/ceiling.ts), in 1
 *    and 2 processes, for what Node's HTTP stack can do on this machine.
 * The CPU other processes take is measured during each run; disturbed runs are repeated.
 * Everything listens on 127.0.0.1 only. Every process started is stopped by its PID, also on failure.
 * The table goes to stdout and bench/.work/server-results.md (raw figures: server-results.json).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSample, foreignShare, waitQuiet } from './server/cpu.ts';
import { corpus, ensureTools, rssMiB, software } from './server/env.ts';
import { geminaboxUnavailable, startGeminabox } from './server/geminabox.ts';
import type { Client } from './server/http.ts';
import { client, getAll, percentile } from './server/http.ts';
import type { Mix, Req } from './server/lists.ts';
import {
  dependenciesMix,
  gemsMix,
  infoMix,
  specsMix,
  versionsLines,
  versionsMix,
  versionsNames,
  writeList,
} from './server/lists.ts';
import { startNginx } from './server/nginx.ts';
import type { Options } from './server/options.ts';
import { parseArgs } from './server/options.ts';
import { freePort, killAllNow, start, stop, stopAll, waitForHttp } from './server/procs.ts';
import type { PushRun } from './server/push.ts';
import { pushAll, window } from './server/push.ts';
import type { PushRow, ReadRow, ReferenceRow, ServerReport, Target } from './server/report.ts';
import { markdown } from './server/report.ts';
import type { WrkResult } from './server/wrk.ts';
import { requestsPerSecond, writeScript, wrk } from './server/wrk.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const quarryBin = join(root, 'bin', 'quarry');
const ceilingScript = join(root, 'bench', 'server', 'ceiling.ts');
const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
const median = (xs: readonly number[]): number => percentile(xs, 50);
/** The temp dir to remove if the run is interrupted (null with --keep). */
let tempDir: string | null = null;
const say = (msg: string): boolean => process.stderr.write(`bench:server: ${msg}\n`);

/** Sends `reqs` with `concurrency` connections and checks every answer. */
/**
 * Sends every request and checks its answer, over `concurrency` connections. A server of several
 * processes that each keep their own caches (Quarry's node:cluster workers) gets every request once
 * per process: node:cluster hands new connections to the workers in turn, so `concurrency` connections
 * are opened for each process, one after another, and each process's connections share the list.
 */
async function checkAll(
  label: string,
  port: number,
  mix: Mix,
  reqs: readonly Req[],
  concurrency: number,
  processes = 1,
) {
  const lanes = Math.min(concurrency, reqs.length);
  const clients = Array.from({ length: lanes * processes }, () => client(port));
  const check = async (c: Client, req: Req) => {
    const problem = mix.check(req, await c.get(req.path, req.headers));
    if (problem) throw new Error(`${label}: GET ${req.path} ${JSON.stringify(req.headers)}: ${problem}`);
  };
  // Connection j serves requests lane, lane + lanes, ... with lane = floor(j / processes).
  const run = async (j: number, from: number) => {
    for (let i = from; i < reqs.length; i += lanes) await check(clients[j]!, reqs[i]!);
  };
  try {
    // Open the connections in order (each with its first request), so that they alternate between
    // the processes; then every connection goes through the rest of its lane.
    for (let j = 0; j < clients.length; j++) await check(clients[j]!, reqs[Math.floor(j / processes)]!);
    await Promise.all(clients.map((_, j) => run(j, Math.floor(j / processes) + lanes)));
  } finally {
    for (const c of clients) c.close();
  }
}

interface ReadContext {
  o: Options;
  script: string;
  lists: string;
  /** Share of the CPU that other processes took during each measured run. */
  foreign: number[];
  /** Runs repeated because other processes took too much CPU. */
  repeated: string[];
  /**
   * Milliseconds left, over the whole benchmark, for waiting until other processes are quiet and
   * for repeating disturbed runs (keeps the total time bounded on a busy machine).
   */
  extraBudgetMs: number;
}

/** Before a measured run: waits (10 s at most, within the overall budget) for a quiet machine. */
async function quiet(ctx: ReadContext): Promise<number> {
  if (ctx.extraBudgetMs <= 0) return 0;
  const waited = await waitQuiet(ctx.o.maxForeign / 2, Math.min(10_000, ctx.extraBudgetMs));
  ctx.extraBudgetMs -= waited;
  if (waited > 1500) say(`waited ${(waited / 1000).toFixed(0)} s for other processes to quieten`);
  return waited;
}

/**
 * For each mix: check the first answers, optionally send every request once (to fill the server's
 * caches, checking every answer), warm up with wrk, then the measured wrk run.
 */
async function measureReads(
  ctx: ReadContext,
  target: string,
  port: number,
  mixes: readonly Mix[],
  prime: (mix: Mix) => number,
  /** Server processes with caches of their own: each is primed with every request. */
  processes = 1,
): Promise<Record<string, WrkResult>> {
  const out: Record<string, WrkResult> = {};
  // Dirty pages from the pushes (Gem in a Box rewrites its indexes on every push) are written out
  // first, so that writeback does not land in a measured run.
  spawnSync('sync');
  for (const mix of mixes) {
    const list = join(ctx.lists, `${mix.id}.txt`);
    writeList(list, mix.reqs);
    await checkAll(target, port, mix, mix.reqs.slice(0, 20), 1);
    const w = { port, list, connections: ctx.o.connections, threads: ctx.o.threads };
    // On a shared machine, a run during which other processes took much CPU is repeated (twice at
    // most); the run with the least interference is kept. Each attempt waits for a quiet machine,
    // then sends every request once (filling caches, checking answers), warms up, and measures.
    let best: { r: WrkResult; foreign: number } | null = null;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const attemptStart = performance.now();
      const waited = await quiet(ctx);
      const concurrency = prime(mix);
      if (concurrency > 0) {
        const t0 = performance.now();
        await checkAll(target, port, mix, mix.reqs, concurrency, processes);
        const s = (performance.now() - t0) / 1000;
        if (attempt === 1)
          say(
            `${target}: primed ${mix.id} (${mix.reqs.length} requests${processes > 1 ? ` to each of ${processes} processes` : ''}, ${s.toFixed(1)} s)`,
          );
      }
      if (ctx.o.warmup > 0) await wrk(ctx.script, { ...w, durationS: ctx.o.warmup });
      const before = cpuSample();
      const r = await wrk(ctx.script, { ...w, durationS: ctx.o.duration });
      const foreign = foreignShare(before, cpuSample());
      say(
        `${target} ${mix.id}: ${Math.round(requestsPerSecond(r))} req/s, p99 ${(r.p99_us / 1000).toFixed(2)} ms (other processes: ${pct(foreign)} CPU)`,
      );
      if (!best || foreign < best.foreign) best = { r, foreign };
      // A repeat's own time (its wait for quiet was counted already) comes out of the budget too.
      if (attempt > 1) ctx.extraBudgetMs -= performance.now() - attemptStart - waited;
      if (!(foreign > ctx.o.maxForeign) || attempt === 3) break;
      if (ctx.extraBudgetMs <= 0) {
        say(`${target} ${mix.id}: disturbed, but the time for repeats is used up`);
        break;
      }
      say(`${target} ${mix.id}: other processes took more than ${pct(ctx.o.maxForeign)}; again`);
      if (attempt === 1) ctx.repeated.push(`${target} ${mix.id}`);
    }
    ctx.foreign.push(best!.foreign);
    out[mix.id] = { ...best!.r, foreign: best!.foreign };
  }
  return out;
}

const pushOk = (pattern: RegExp) => (status: number, body: string) =>
  status === 200 && pattern.test(body) ? null : `status ${status}: ${body.slice(0, 300)}`;

async function main(): Promise<void> {
  const defaultGbx = join(work, 'geminabox');
  const o = parseArgs(process.argv.slice(2), existsSync(defaultGbx) ? defaultGbx : null);
  const began = performance.now();
  if (!existsSync(join(root, 'dist', 'cli', 'main.js')))
    throw new Error('quarry is not built: run `npm run build`');
  ensureTools();
  mkdirSync(work, { recursive: true });
  const { dir: gemsDir, files } = corpus(root, work, o.versions);
  const tmp = mkdtempSync(join(tmpdir(), 'quarry-bench-server-'));
  // nginx workers run as another user unless root; they must be able to read the static copy.
  chmodSync(tmp, 0o755);
  if (!o.keep) tempDir = tmp;
  const lists = join(tmp, 'lists');
  mkdirSync(lists);
  const ctx: ReadContext = {
    o,
    script: writeScript(tmp),
    lists,
    foreign: [],
    repeated: [],
    extraBudgetMs: 150_000,
  };
  const notes: string[] = [];
  const pushes: PushRow[] = [];
  const reference: ReferenceRow[] = [];
  const reads: Record<string, ReadRow> = {};
  const record = (target: Target, mixes: readonly Mix[], results: Record<string, WrkResult | string>) => {
    for (const m of mixes) {
      reads[m.id] ??= { endpoint: m.label, results: {} };
      reads[m.id]!.results[target] = results[m.id]!;
    }
  };
  const readGem = (f: string) => readFileSync(join(gemsDir, f));

  try {
    // ---- Quarry: pushes -------------------------------------------------------------------------
    const qData = join(tmp, 'quarry-data');
    const env = { ...process.env, QUARRY_LOG__LEVEL: 'warn', QUARRY_UPSTREAMS: '[]' };
    const keyOut = execFileSync(
      process.execPath,
      [quarryBin, 'keys', 'create', '--scopes', 'push', '--data', qData],
      {
        env,
        encoding: 'utf8',
      },
    );
    const key = keyOut.trim().split('\n').at(-1)!;
    const qPort = await freePort();
    const qPid = start(
      'quarry',
      process.execPath,
      [quarryBin, 'serve', '--host', '127.0.0.1', '--port', String(qPort), '--data', qData],
      { env, log: join(tmp, 'quarry.log') },
    );
    await waitForHttp(qPid, `http://127.0.0.1:${qPort}/health`);
    say(`quarry: pushing ${files.length} gems`);
    const qCpu = cpuSample();
    const qRun: PushRun = await pushAll({
      port: qPort,
      path: '/api/v1/gems',
      dir: gemsDir,
      files,
      headers: { Authorization: key, 'Content-Type': 'application/octet-stream' },
      accept: pushOk(/^Successfully registered gem/),
      seeded: 0,
      progress: (n) => say(`quarry: ${n} pushed`),
    });
    const qForeign = foreignShare(qCpu, cpuSample());
    const n = files.length;
    pushes.push({ target: 'quarry', label: 'all pushes', stats: window(qRun, 0) });
    pushes.push({ target: 'quarry', label: `first ${o.last}`, stats: window(qRun, 0, o.last) });
    pushes.push({ target: 'quarry', label: `last ${o.last}`, stats: window(qRun, n - o.last) });
    notes.push(
      `Quarry: ${n.toLocaleString('en-US')} pushes took ${qRun.wallS.toFixed(1)} s; server RSS after the pushes ${rssMiB(qPid).toFixed(0)} MiB; other processes took ${pct(qForeign)} of the CPU meanwhile.`,
    );

    // ---- static copy of Quarry's bytes -------------------------------------------------------------
    const www = join(tmp, 'www');
    mkdirSync(join(www, 'info'), { recursive: true });
    mkdirSync(join(www, 'gems'));
    const q = client(qPort);
    const versions = (await q.get('/versions')).body;
    const specs = (await q.get('/specs.4.8.gz')).body;
    q.close();
    if (versionsLines(versions) !== n)
      throw new Error(`Quarry's /versions has ${versionsLines(versions)} lines after ${n} pushes`);
    writeFileSync(join(www, 'versions'), versions);
    writeFileSync(join(www, 'specs.4.8.gz'), specs);
    const names = versionsNames(versions);
    const infos = new Map<string, Buffer>();
    await getAll(
      qPort,
      names.map((nm) => `/info/${nm}`),
      4,
      (path, body) => {
        infos.set(path.slice(6), body);
        writeFileSync(join(www, path), body);
      },
    );
    await getAll(
      qPort,
      files.map((f) => `/gems/${f}`),
      4,
      (path, body) => {
        if (!body.equals(readGem(path.slice(6)))) throw new Error(`Quarry served other bytes for ${path}`);
        writeFileSync(join(www, path), body);
      },
    );
    say(`saved a static copy: /versions, ${names.length} /info files, ${n} gems, specs.4.8.gz`);

    const depNames = names.slice(0, Math.min(o.depNames, names.length));
    const mixes = {
      info: infoMix(names, infos),
      versions: versionsMix(versions, Math.min(o.behind, n)),
      gems: gemsMix(files, readGem),
      deps: dependenciesMix(depNames),
      specsQuarry: specsMix(specs),
      specsAny: specsMix(),
    };
    const all = [mixes.info, mixes.versions, mixes.gems, mixes.deps, mixes.specsQuarry];

    // ---- Quarry: reads -----------------------------------------------------------------------------
    const qReads = await measureReads(ctx, 'quarry', qPort, all, () => 4);
    record('quarry', all, qReads);
    notes.push(`Quarry: server RSS after the reads ${rssMiB(qPid).toFixed(0)} MiB.`);
    await stop(qPid);

    // ---- Quarry with several worker processes (node:cluster), on the same catalog ----------------
    if (o.quarryWorkers > 1) {
      const wPort = await freePort();
      const wPid = start(
        'quarry-workers',
        process.execPath,
        [
          quarryBin,
          'serve',
          '--workers',
          String(o.quarryWorkers),
          '--host',
          '127.0.0.1',
          '--port',
          String(wPort),
          '--data',
          qData,
        ],
        { env, log: join(tmp, 'quarry-workers.log') },
      );
      await waitForHttp(wPid, `http://127.0.0.1:${wPort}/health`);
      const label = `quarry x${o.quarryWorkers}`;
      record('quarryWorkers', all, await measureReads(ctx, label, wPort, all, () => 4, o.quarryWorkers));
      await stop(wPid, 20_000);
    } else {
      record('quarryWorkers', all, Object.fromEntries(all.map((m) => [m.id, 'not asked for'])));
    }

    // ---- nginx -------------------------------------------------------------------------------------
    const nPort = await freePort();
    const nDir = join(tmp, 'nginx');
    const nPid = await startNginx({ dir: nDir, root: www, port: nPort, workers: 2 });
    const statics = [mixes.info, mixes.versions, mixes.gems, mixes.specsQuarry];
    record('nginx', statics, await measureReads(ctx, 'nginx', nPort, statics, () => 4));
    record('nginx', [mixes.deps], { deps: 'dynamic: no static equivalent' });
    await stop(nPid);

    // ---- reference: the least a Fastify route can do for /info (one, then two processes) ----------
    for (const workers of [1, 2]) {
      const cPort = await freePort();
      const cPid = start(
        'ceiling',
        process.execPath,
        [
          '--import',
          'tsx',
          ceilingScript,
          '--port',
          String(cPort),
          '--root',
          www,
          '--workers',
          String(workers),
        ],
        { cwd: root, log: join(tmp, `ceiling-${workers}.log`) },
      );
      await waitForHttp(cPid, `http://127.0.0.1:${cPort}/info/-`);
      const r = await measureReads(ctx, `fastify-${workers}`, cPort, [mixes.info], () => 4);
      reference.push({
        label: `minimal Fastify route, /info bodies from memory, ${workers === 1 ? '1 process' : `${workers} processes (node:cluster)`}`,
        endpoint: mixes.info.label,
        result: r['info']!,
        nginx: reads['info']?.results.nginx,
      });
      await stop(cPid);
    }

    // ---- Gem in a Box ------------------------------------------------------------------------------
    const gbxMixes = [mixes.gems, mixes.deps, mixes.specsAny];
    const why = o.geminabox === null ? 'not asked for (--no-geminabox)' : geminaboxUnavailable(o.geminabox);
    if (why) {
      say(`Gem in a Box not run: ${why}`);
      notes.push(`Gem in a Box was not run: ${why}.`);
      for (const m of [mixes.info, mixes.versions]) record('geminabox', [m], { [m.id]: 'no compact index' });
      record('geminabox', gbxMixes, { gems: why, deps: why, specs: why });
    } else {
      const gDir = join(tmp, 'geminabox');
      const gData = join(gDir, 'data');
      mkdirSync(join(gData, 'gems'), { recursive: true });
      const seeded = n - o.gbxPushes;
      for (const f of files.slice(0, seeded)) copyFileSync(join(gemsDir, f), join(gData, 'gems', f));
      const gPort = await freePort();
      const gPid = await startGeminabox({ src: o.geminabox!, dir: gDir, data: gData, port: gPort });
      let t0 = performance.now();
      const g = client(gPort);
      const reindex = await g.get('/reindex');
      g.close();
      if (reindex.status !== 302) throw new Error(`Gem in a Box /reindex: status ${reindex.status}`);
      const reindexS = (performance.now() - t0) / 1000;
      say(
        `geminabox: ${seeded} gems indexed by one /reindex in ${reindexS.toFixed(1)} s; pushing ${o.gbxPushes}`,
      );
      t0 = performance.now();
      const gCpu = cpuSample();
      const gRun = await pushAll({
        port: gPort,
        path: '/api/v1/gems',
        dir: gemsDir,
        files: files.slice(seeded),
        headers: { 'Content-Type': 'application/octet-stream' },
        accept: pushOk(/received and indexed/),
        seeded,
        progress: (k) => say(`geminabox: ${k} pushed`),
      });
      const gForeign = foreignShare(gCpu, cpuSample());
      const have = readdirSync(join(gData, 'gems')).filter((f) => f.endsWith('.gem')).length;
      if (have !== n) throw new Error(`Gem in a Box has ${have} gems after the pushes, not ${n}`);
      pushes.push({ target: 'geminabox', label: `last ${o.gbxPushes}`, stats: window(gRun, 0) });
      notes.push(
        `Gem in a Box: the first ${seeded.toLocaleString('en-US')} gems were copied into its gems/ and indexed by one GET /reindex (${reindexS.toFixed(1)} s); the last ${o.gbxPushes.toLocaleString('en-US')} were pushed over HTTP (${gRun.wallS.toFixed(1)} s). Server RSS after the pushes ${rssMiB(gPid).toFixed(0)} MiB; other processes took ${pct(gForeign)} of the CPU during the pushes.`,
      );
      const gReads = await measureReads(ctx, 'geminabox', gPort, gbxMixes, (m) => (m.id === 'deps' ? 2 : 4));
      record('geminabox', gbxMixes, gReads);
      for (const m of [mixes.info, mixes.versions]) record('geminabox', [m], { [m.id]: 'no compact index' });
      await stop(gPid);
    }

    notes.push(
      `Other processes on the machine took ${pct(Math.min(...ctx.foreign))} to ${pct(Math.max(...ctx.foreign))} of its CPU during the measured wrk runs (median ${pct(median(ctx.foreign))}).`,
    );

    if (ctx.repeated.length > 0)
      notes.push(
        `Runs repeated because other processes took more than ${pct(o.maxForeign)} of the CPU (the least disturbed of at most 3 is kept; waits and repeats share a budget of 150 s): ${ctx.repeated.join(', ')}.`,
      );

    // ---- report ------------------------------------------------------------------------------------
    const report: ServerReport = {
      date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; the load generator (wrk, or the push client) and the server under test share these cores.`,
      software: software(root, o),
      settings: [
        `${n.toLocaleString('en-US')} versions of ${names.length.toLocaleString('en-US')} gems (bench/gen-corpus.rb), pushed in file-name order.`,
        `wrk: ${o.threads} threads, ${o.connections} connections, ${o.warmup} s warm-up then ${o.duration} s measured per row, 127.0.0.1 only; latency is wrk's (closed loop).`,
        `Quarry: \`QUARRY_LOG__LEVEL=warn\`, default configuration; one process, then \`--workers ${o.quarryWorkers}\` (node:cluster, each worker with its own caches) on the same catalog; nginx: \`worker_processes 2\`, sendfile, access log off, on a copy of Quarry's bytes saved after the pushes.`,
        "Every request of a mix is sent once (and its answer checked) right before the warm-up, on every server (to each of Quarry's workers, which keep caches of their own), so caches (Quarry's, Gem in a Box's dependency cache, the page cache) are warm.",
        `Before each measured run the harness waits (briefly) for other processes to go quiet; a run during which they took more than ${pct(o.maxForeign)} of the CPU is repeated, at most twice, keeping the least disturbed. A cell marked [others N% CPU] was still measured while other processes took that share.`,
      ],
      pushes,
      reads: Object.values(reads),
      quarryWorkers: o.quarryWorkers,
      reference,
      notes,
    };
    const md = markdown(report);
    writeFileSync(join(work, 'server-results.md'), md);
    writeFileSync(
      join(work, 'server-results.json'),
      `${JSON.stringify({ options: o, report, reads }, null, 2)}\n`,
    );
    process.stdout.write(`\n${md}`);
    say(`wrote bench/.work/server-results.md (${((performance.now() - began) / 60000).toFixed(1)} min)`);
  } finally {
    await stopAll();
    if (o.keep) say(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    say(`${sig}: stopping the servers`);
    stopAll().finally(() => {
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

main().catch(async (e: unknown) => {
  process.stderr.write(`bench:server: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  await stopAll();
  process.exitCode = 1;
});
