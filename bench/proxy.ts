/**
 * Caching-proxy benchmark (issue 11, "Done means" 7).
 *
 *   npm run bench:proxy
 *   node --import tsx bench/proxy.ts --runs 9 --duration 8
 *   node --import tsx bench/proxy.ts --help
 *
 * A synthetic corpus (bench/gen-corpus.rb) is split by name: the first half is pushed to an upstream
 * Quarry, the second half is kept for hosting on the proxy. Everything listens on 127.0.0.1.
 *
 * 1. `bundle install`: a Gemfile whose lockfile holds --gems-min to --gems-max gems of the upstream
 *    half (top-level gems picked with `bundle lock`), installed with no lockfile in a fresh Ruby
 *    sandbox every run (HOME, GEM_HOME, Bundler's cache and BUNDLE_PATH all new), three ways:
 *    - direct: the Gemfile's source is the upstream;
 *    - cold proxy: a new `quarry serve --upstream UPSTREAM` on an empty data dir, started (and
 *      waited for) before the run, stopped after it;
 *    - warm proxy: one `quarry serve --upstream UPSTREAM` whose cache one unmeasured install filled.
 *    Each round runs the three back to back, in an order that rotates from round to round (--runs
 *    rounds); reported are the medians, the median of each round's ratio to its direct run (the
 *    figure the target is judged on: slow stretches of a shared machine hit both sides of it), and
 *    the requests the upstream answered during each run (from its /metrics).
 * 2. Cache-hit throughput with wrk: the warm proxy then hosts the second half of the corpus (pushed
 *    to it), and wrk measures GET /info/NAME and GET /gems/X.gem for the proxied names (every request
 *    answered once through the proxy first, checked against the upstream's bytes, so every one is a
 *    cache hit) and for the hosted names, alternating, --wrk-runs times each; medians are compared.
 * Every process started is stopped by its PID, also on failure and Ctrl-C. The report goes to stdout
 * and bench/.work/proxy-results.md (raw figures in proxy-results.json).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../test/support/quarry.ts';
import { requireRuby } from '../test/support/ruby.ts';
import { pickGemfile, timedBundleInstall } from './proxy/bundle.ts';
import type { Options } from './proxy/options.ts';
import { parseArgs } from './proxy/options.ts';
import type { BundleRow, ProxyReport, Setup, WrkRow } from './proxy/report.ts';
import { markdown, median } from './proxy/report.ts';
import { cpuSample, foreignShare, waitQuiet } from './server/cpu.ts';
import { corpus, quarryEnv } from './server/env.ts';
import type { Client } from './server/http.ts';
import { client } from './server/http.ts';
import type { Mix, Req } from './server/lists.ts';
import { gemsMix, infoMix, writeList } from './server/lists.ts';
import { freePort, killAllNow, start, stop, stopAll, waitForHttp } from './server/procs.ts';
import { pushAll } from './server/push.ts';
import type { WrkResult } from './server/wrk.ts';
import { requestsPerSecond, writeScript, wrk } from './server/wrk.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const quarryBin = join(root, 'bin', 'quarry');
const say = (msg: string): boolean => process.stderr.write(`bench:proxy: ${msg}\n`);
let tempDir: string | null = null;

/**
 * Milliseconds left, over the whole run, for waiting until other processes leave the CPU alone
 * (under 10% over a second; at most 10 s before each round and each wrk run).
 */
let quietBudgetMs = 150_000;
async function quiet(): Promise<void> {
  if (quietBudgetMs <= 0) return;
  const waited = await waitQuiet(0.1, Math.min(10_000, quietBudgetMs));
  quietBudgetMs -= waited;
  if (waited > 1500) say(`waited ${(waited / 1000).toFixed(0)} s for other processes to quieten`);
}

interface Quarry {
  pid: number;
  port: number;
  url: string;
}

async function startQuarry(label: string, data: string, log: string, args: string[] = []): Promise<Quarry> {
  const port = await freePort();
  const pid = start(
    label,
    process.execPath,
    [quarryBin, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data', data, ...args],
    { env: quarryEnv({ QUARRY_LOG__LEVEL: 'warn' }), log },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(pid, `${url}/health`);
  return { pid, port, url };
}

function createPushKey(data: string): string {
  const out = execFileSync(
    process.execPath,
    [quarryBin, 'keys', 'create', '--scopes', 'push', '--data', data],
    {
      env: quarryEnv({ QUARRY_LOG__LEVEL: 'warn' }),
      encoding: 'utf8',
    },
  );
  return out.trim().split('\n').at(-1)!;
}

async function push(q: Quarry, data: string, dir: string, files: readonly string[]): Promise<void> {
  const key = createPushKey(data);
  await pushAll({
    port: q.port,
    path: '/api/v1/gems',
    dir,
    files,
    headers: { Authorization: key, 'Content-Type': 'application/octet-stream' },
    accept: (status, body) =>
      status === 200 && body.startsWith('Successfully registered gem')
        ? null
        : `${status}: ${body.slice(0, 300)}`,
    seeded: 0,
  });
}

/** Requests a server has answered (every route but /metrics and /health), from its /metrics. */
async function requestCount(q: Quarry): Promise<number> {
  const c = client(q.port);
  try {
    const r = await c.get('/metrics');
    let n = 0;
    for (const line of r.body.toString('utf8').split('\n')) {
      if (!line.startsWith('quarry_http_requests_total{') || /route="\/(metrics|health)"/.test(line))
        continue;
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return n;
  } finally {
    c.close();
  }
}

async function getBody(c: Client, path: string): Promise<Buffer> {
  const r = await c.get(path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body.toString().slice(0, 200)}`);
  return r.body;
}

/** Sends every request of the mix (8 connections) and checks every answer. */
async function checkAll(label: string, port: number, mix: Mix): Promise<void> {
  let next = 0;
  const lane = async () => {
    const c = client(port);
    try {
      while (next < mix.reqs.length) {
        const req: Req = mix.reqs[next++]!;
        const problem = mix.check(req, await c.get(req.path, req.headers));
        if (problem) throw new Error(`${label}: GET ${req.path}: ${problem}`);
      }
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
}

function tool(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
}

async function main(): Promise<void> {
  const o: Options = parseArgs(process.argv.slice(2));
  const began = performance.now();
  requireRuby();
  if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0)
    throw new Error('wrk is required (Debian package wrk)');
  ensureBuilt();
  mkdirSync(work, { recursive: true });
  const { dir: gemsDir, files } = corpus(root, work, o.corpus);
  // gen-corpus.rb names its gems gem-NNNNN (files gem-NNNNN-VERSION[-PLATFORM].gem).
  const nameOf = (f: string) => {
    const m = /^(gem-\d+)-\d/.exec(f);
    if (!m) throw new Error(`${f} is not a gen-corpus.rb file name`);
    return m[1]!;
  };
  const names = [...new Set(files.map(nameOf))].sort();
  const upNames = new Set(names.slice(0, Math.ceil(names.length / 2)));
  const upFiles = files.filter((f) => upNames.has(nameOf(f)));
  const hostedFiles = files.filter((f) => !upNames.has(nameOf(f)));
  const hostedNames = names.filter((n) => !upNames.has(n));
  const tmp = mkdtempSync(join(tmpdir(), 'quarry-bench-proxy-'));
  if (!o.keep) tempDir = tmp;
  say(`temp dir ${tmp}`);

  // ---- the upstream ---------------------------------------------------------------------------
  const upData = join(tmp, 'upstream-data');
  const up = await startQuarry('upstream', upData, join(tmp, 'upstream.log'));
  await push(up, upData, gemsDir, upFiles);
  say(`upstream: ${upFiles.length} gems of ${upNames.size} names pushed`);

  // ---- the Gemfile ----------------------------------------------------------------------------
  // Later names depend on earlier ones: start from the last names of the upstream half.
  const candidates = [...upNames].reverse();
  const gemfile = await pickGemfile(`${up.url}/`, candidates, o.gemsMin, o.gemsMax, say);

  // ---- bundle install: direct, cold proxy, warm proxy --------------------------------------------
  const warmData = join(tmp, 'warm-data');
  const warm = await startQuarry('warm proxy', warmData, join(tmp, 'warm.log'), ['--upstream', up.url]);
  const fill = await timedBundleInstall(`${warm.url}/`, gemfile.gems);
  say(`warm proxy filled by one install (${(fill.ms / 1000).toFixed(2)} s)`);
  const rows: Record<Setup, BundleRow> = {
    direct: { setup: 'direct', ms: [], upstreamRequests: [], foreign: [] },
    cold: { setup: 'cold', ms: [], upstreamRequests: [], foreign: [] },
    warm: { setup: 'warm', ms: [], upstreamRequests: [], foreign: [] },
  };
  const measure = async (setup: Setup, source: string) => {
    spawnSync('sync');
    const before = await requestCount(up);
    const cpu = cpuSample();
    const r = await timedBundleInstall(source, gemfile.gems);
    const foreign = foreignShare(cpu, cpuSample());
    const asked = (await requestCount(up)) - before;
    if (r.specs.join('\n') !== gemfile.specs.join('\n')) {
      throw new Error(`${setup}: the lockfile differs from the direct one:\n${r.specs.join('\n')}`);
    }
    rows[setup].ms.push(r.ms);
    rows[setup].upstreamRequests.push(asked);
    rows[setup].foreign.push(foreign);
    say(
      `${setup}: ${(r.ms / 1000).toFixed(2)} s, ${asked} upstream requests, others ${(100 * foreign).toFixed(0)}% CPU`,
    );
  };
  // The order within a round rotates, so that no setup always runs first, or right after another.
  const orders: Setup[][] = [
    ['direct', 'cold', 'warm'],
    ['warm', 'direct', 'cold'],
    ['cold', 'warm', 'direct'],
  ];
  for (let round = 1; round <= o.runs; round++) {
    say(`round ${round} of ${o.runs}`);
    // The cold proxy of this round starts (and answers /health) before any run of the round.
    const coldData = join(tmp, `cold-data-${round}`);
    const cold = await startQuarry(`cold proxy ${round}`, coldData, join(tmp, `cold-${round}.log`), [
      '--upstream',
      up.url,
    ]);
    try {
      await quiet();
      const source: Record<Setup, string> = {
        direct: `${up.url}/`,
        cold: `${cold.url}/`,
        warm: `${warm.url}/`,
      };
      for (const setup of orders[(round - 1) % orders.length]!) await measure(setup, source[setup]);
    } finally {
      await stop(cold.pid);
      rmSync(coldData, { recursive: true, force: true });
    }
  }

  // ---- cache hits against hosted gems, with wrk -------------------------------------------------
  await push(warm, warmData, gemsDir, hostedFiles);
  say(`warm proxy: ${hostedFiles.length} hosted gems of ${hostedNames.length} names pushed`);
  const upClient = client(up.port);
  const proxyClient = client(warm.port);
  const upInfos = new Map<string, Buffer>();
  const hostedInfos = new Map<string, Buffer>();
  try {
    for (const n of upNames) upInfos.set(n, await getBody(upClient, `/info/${n}`));
    for (const n of hostedNames) hostedInfos.set(n, await getBody(proxyClient, `/info/${n}`));
  } finally {
    upClient.close();
    proxyClient.close();
  }
  const readGem = (f: string) => readFileSync(join(gemsDir, f));
  const lists = join(tmp, 'lists');
  mkdirSync(lists);
  const script = writeScript(tmp);
  const pairs: { label: string; proxied: Mix; hosted: Mix }[] = [
    {
      label: `GET /info/NAME (${upNames.size} proxied names; ${hostedNames.length} hosted)`,
      proxied: { ...infoMix([...upNames], upInfos), id: 'info-proxied' },
      hosted: { ...infoMix(hostedNames, hostedInfos), id: 'info-hosted' },
    },
    {
      label: `GET /gems/X.gem (${upFiles.length} proxied files; ${hostedFiles.length} hosted)`,
      proxied: { ...gemsMix(upFiles, readGem), id: 'gems-proxied' },
      hosted: { ...gemsMix(hostedFiles, readGem), id: 'gems-hosted' },
    },
  ];
  const wrkRows: WrkRow[] = [];
  const run = async (mix: Mix): Promise<WrkResult> => {
    const list = join(lists, `${mix.id}.txt`);
    writeList(list, mix.reqs);
    // Every request once, checked: the proxied ones are cache hits from here on (index data stays
    // fresh for max_age_ms, 60 s by default; the run takes less).
    await checkAll(mix.id, warm.port, mix);
    const w = { port: warm.port, list, connections: o.connections, threads: o.threads };
    await quiet();
    if (o.warmup > 0) await wrk(script, { ...w, durationS: o.warmup });
    const cpu = cpuSample();
    const r = await wrk(script, { ...w, durationS: o.duration });
    r.foreign = foreignShare(cpu, cpuSample());
    const errors = r.connect + r.read + r.write + r.status + r.timeout;
    if (errors > 0) throw new Error(`${mix.id}: wrk saw ${errors} errors: ${JSON.stringify(r)}`);
    say(
      `${mix.id}: ${Math.round(requestsPerSecond(r))} req/s, p99 ${(r.p99_us / 1000).toFixed(2)} ms, others ${(100 * r.foreign).toFixed(0)}% CPU`,
    );
    return r;
  };
  for (const p of o.wrkRuns > 0 ? pairs : []) {
    const row: WrkRow = { label: p.label, proxy: [], hosted: [] };
    for (let i = 0; i < o.wrkRuns; i++) {
      // Alternate which goes first, so neither always follows the other.
      if (i % 2 === 0) {
        row.proxy.push(await run(p.proxied));
        row.hosted.push(await run(p.hosted));
      } else {
        row.hosted.push(await run(p.hosted));
        row.proxy.push(await run(p.proxied));
      }
    }
    wrkRows.push(row);
  }

  const upstreamAfter = await requestCount(up);
  say(`the upstream answered ${upstreamAfter} requests in all`);
  const commit = tool('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty =
    spawnSync('git', ['-C', root, 'status', '--porcelain', '--', 'src'], {
      encoding: 'utf8',
      env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
    }).stdout.trim() !== '';
  const report: ProxyReport = {
    date: new Date().toISOString().replace(/:\d\d\.\d+Z$/, 'Z'),
    machine: [
      `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; clients, proxy, upstream and wrk share these cores`,
    ],
    software: [
      `Quarry at commit ${commit}${dirty ? ' with uncommitted changes under src/' : ''}, default configuration (max_age_ms 60000), QUARRY_LOG__LEVEL=warn, one process each`,
      `Node ${process.version}; ${tool('ruby', ['-v'])}; RubyGems ${tool('gem', ['-v'])}; ${tool('bundle', ['-v'])}; ${tool('wrk', ['--version']).replace(/ Copyright.*/, '')}`,
    ],
    commands: [
      'npm run bench:proxy',
      `node --import tsx bench/proxy.ts --corpus ${o.corpus} --runs ${o.runs} --duration ${o.duration} --wrk-runs ${o.wrkRuns}`,
    ],
    corpus: `bench/gen-corpus.rb ${o.corpus}: ${upFiles.length} gems of ${upNames.size} names on the upstream, ${hostedFiles.length} gems of ${hostedNames.length} names hosted on the proxy`,
    gemfile,
    bundle: [rows.direct, rows.cold, rows.warm],
    wrk: wrkRows,
    wrkSettings: `${o.threads} threads, ${o.connections} connections, ${o.warmup} s warm-up, ${o.duration} s measured, ${o.wrkRuns} runs each`,
    totalS: (performance.now() - began) / 1000,
    waitedS: (150_000 - quietBudgetMs) / 1000,
  };
  const md = markdown(report);
  writeFileSync(join(work, 'proxy-results.md'), md);
  writeFileSync(join(work, 'proxy-results.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${md}\n`);
  say(
    `medians: direct ${median(rows.direct.ms).toFixed(0)} ms, cold ${median(rows.cold.ms).toFixed(0)} ms, warm ${median(rows.warm.ms).toFixed(0)} ms`,
  );
}

const cleanup = async () => {
  await stopAll();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  killAllNow();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  process.exit(130);
});
process.on('SIGTERM', () => {
  killAllNow();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  process.exit(143);
});

main().then(
  async () => {
    await cleanup();
  },
  async (e: Error) => {
    process.stderr.write(`bench:proxy failed: ${e.stack ?? e.message}\n`);
    await cleanup();
    process.exitCode = 1;
  },
);
