/**
 * Mirror benchmark (issue 12, "Done means" 7).
 *
 *   npm run bench:mirror
 *   node --import tsx bench/mirror.ts --runs 5 --corpora small
 *   node --import tsx bench/mirror.ts --help
 *
 * Upstreams: `quarry serve` on 127.0.0.1 holding --gems generated gems (test/support/mirror-upstream.ts:
 * dependency trees, platform variants, prereleases), loaded with `quarry import`:
 * - small: the packages alone, about 4 KiB each (the size of bench/gen-corpus.rb's gems);
 * - sized: each package also carries an uncompressible payload, log-normal with a median of 24 KiB
 *   (σ = 1.2, at most 4 MiB), for a mean near 50 KiB, closer to what rubygems.org serves.
 * Both are cached in bench/.work/mirror/ (rebuilt when the generator or the size changes).
 *
 * For each upstream and each concurrency (1, 8, 32), rounds alternate:
 * - `quarry mirror --all --pre --platform ruby,java,x86_64-linux --concurrency C` into a new data
 *   folder: every .gem of the upstream, with /versions, every /info, the checksum checks and the
 *   catalog writes; wall time, and peak memory (VmHWM of the process, polled every 20 ms);
 * - `curl --parallel --parallel-max C` fetching the same .gem files into a new folder, and again with
 *   every body written to /dev/null (its transport alone).
 * Then, once: a re-run with nothing new and one with --recheck (small, concurrency 8), and a larger small-gem upstream
 * (--scale-gems, default 5,000; a list for several) each mirrored at concurrency 8, for peak memory against
 * source size. Beside them, bare Node: bench/mirror/get-only.mjs doing curl's GETs alone (bodies thrown
 * away), and bench/mirror/floor.mjs doing the downloads, checks and writes alone.
 *
 * Loopback only. Every process started is stopped by its PID. The report goes to stdout and to
 * bench/.work/mirror-results.md (raw figures in mirror-results.json).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateGems, rng, writeGems } from '../test/support/mirror-upstream.ts';
import { ensureBuilt } from '../test/support/quarry.ts';
import type { Options } from './mirror/options.ts';
import { parseArgs } from './mirror/options.ts';
import type { Corpus, Extra, MirrorBenchReport, Row, Sample } from './mirror/report.ts';
import { markdown } from './mirror/report.ts';
import { waitQuiet } from './server/cpu.ts';
import { quarryEnv } from './server/env.ts';
import { runWithPeak } from './server/peak.ts';
import { freePort, killAllNow, run, start, stop, waitForHttp } from './server/procs.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const quarryBin = join(root, 'bin', 'quarry');
const say = (msg: string): boolean => process.stderr.write(`bench:mirror: ${msg}\n`);
const ALL_PLATFORMS = 'ruby,java,x86_64-linux';
/** Bump when the generated upstreams change shape, so cached ones are rebuilt. */
const GENERATOR = 2;

/** curl with --parallel (7.66+) and --output-dir (7.73+): Debian's, installed with apt-get when root. */
function ensureCurl(): string {
  const version = () => spawnSync('curl', ['--version'], { encoding: 'utf8' });
  let v = version();
  if (v.error || v.status !== 0) {
    if (process.getuid?.() !== 0) throw new Error('curl is required: apt-get install curl');
    say('installing curl with apt-get');
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    const r = spawnSync('apt-get', ['install', '-y', 'curl'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0) throw new Error('apt-get install curl failed');
    v = version();
  }
  const first = v.stdout.split('\n')[0] ?? '';
  const m = /^curl (\d+)\.(\d+)/.exec(first);
  if (!m || Number(m[1]) * 100 + Number(m[2]) < 773)
    throw new Error(`curl 7.73 or newer is needed, not ${first}`);
  return first.split(' ').slice(0, 2).join(' ');
}

/** Log-normal payload sizes: median 24 KiB, σ 1.2, at most 4 MiB (seeded, so always the same). */
function sizedPayload(): () => number {
  const next = rng(99);
  return () => {
    const z = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    return Math.min(4 * 1024 * 1024, Math.round(24 * 1024 * Math.exp(1.2 * z)));
  };
}

interface Upstream {
  corpus: Corpus;
  data: string;
  /** The .gem file names, for curl. */
  files: string[];
}

/** The generated gems imported into a quarry data folder, cached under bench/.work/mirror. */
async function prepareUpstream(kind: Corpus['kind'], count: number): Promise<Upstream> {
  const dir = join(work, 'mirror', `${kind}-${count}`);
  const marker = join(dir, 'ready.json');
  const want = { generator: GENERATOR, kind, count };
  if (existsSync(marker)) {
    const have = JSON.parse(readFileSync(marker, 'utf8')) as typeof want & {
      corpus: Corpus;
      files: string[];
    };
    if (have.generator === want.generator && have.kind === kind && have.count === count) {
      return { corpus: have.corpus, data: join(dir, 'data'), files: have.files };
    }
  }
  rmSync(dir, { recursive: true, force: true });
  say(`generating the ${kind} upstream (${count} gems)`);
  const gems = generateGems({
    count,
    seed: 12,
    ...(kind === 'sized' ? { payloadSize: sizedPayload() } : {}),
  });
  const bytes = writeGems(join(dir, 'gems'), gems);
  say(`quarry import of ${gems.length} gems (${(bytes / 1e6).toFixed(1)} MB)`);
  const r = await run(
    'quarry import',
    process.execPath,
    [quarryBin, 'import', join(dir, 'gems'), '--data', join(dir, 'data')],
    quarryEnv(),
  );
  if (r.code !== 0) throw new Error(`quarry import failed:\n${r.stderr.slice(-3000)}`);
  rmSync(join(dir, 'gems'), { recursive: true, force: true });
  const corpus: Corpus = { kind, gems: gems.length, names: new Set(gems.map((g) => g.name)).size, bytes };
  const files = gems.map((g) => `${g.file}.gem`);
  writeFileSync(marker, JSON.stringify({ ...want, corpus, files }));
  return { corpus, data: join(dir, 'data'), files };
}

interface Served {
  pid: number;
  url: string;
}

async function serve(data: string, log: string): Promise<Served> {
  const port = await freePort();
  const pid = start(
    'upstream quarry serve',
    process.execPath,
    [quarryBin, 'serve', '--host', '127.0.0.1', '--port', String(port), '--data', data],
    { log, env: quarryEnv({ QUARRY_LOG__LEVEL: 'warn' }) },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(pid, `${url}/health`);
  return { pid, url };
}

/** Runs a command to its end: wall time, CPU time, peak RSS (polled), other processes' CPU share. */
const timed = (cmd: string, args: string[], env: NodeJS.ProcessEnv) => runWithPeak(cmd, args, env);

interface MirrorJson {
  planned: number;
  fetched: string[];
  present: string[];
  failed: { file: string; reason: string }[];
  changedSince: { names: number } | null;
}

/**
 * One `quarry mirror --all` of the whole upstream into `data`, expecting `expectFetched` gems
 * fetched. A re-run (`again`) goes from the mark of the complete run before it (nothing changed
 * upstream: no name resolved), or with `again: 'recheck'` resolves every name (all present).
 */
async function mirrorOnce(
  up: Upstream,
  url: string,
  concurrency: number,
  data: string,
  expectFetched: number,
  again?: 'mark' | 'recheck',
): Promise<Sample> {
  const r = await timed(
    process.execPath,
    [
      quarryBin,
      'mirror',
      '--all',
      '--pre',
      '--platform',
      ALL_PLATFORMS,
      '--upstream',
      url,
      '--data',
      data,
      '--concurrency',
      String(concurrency),
      '--json',
      ...(again === 'recheck' ? ['--recheck'] : []),
    ],
    quarryEnv(),
  );
  let report: MirrorJson;
  try {
    report = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as MirrorJson;
  } catch {
    throw new Error(`quarry mirror printed no report (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
  }
  if (r.code !== 0 || report.failed.length > 0 || report.fetched.length !== expectFetched) {
    throw new Error(
      `quarry mirror: exit ${r.code}, fetched ${report.fetched.length} of ${expectFetched}, failed ${JSON.stringify(report.failed.slice(0, 5))}\n${r.stderr.slice(-2000)}`,
    );
  }
  if (again === 'mark') {
    if (report.changedSince?.names !== 0 || report.planned !== 0)
      throw new Error(`quarry mirror again: not from the mark (${JSON.stringify(report.changedSince)})`);
  } else if (report.fetched.length + report.present.length !== up.corpus.gems)
    throw new Error('quarry mirror: not the whole upstream');
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakMiB: r.peakMiB, foreign: r.foreign };
}

/** curl's command line: the URLs of `config` fetched C at a time, into `dir` (or, null, as the config's `output` says). */
const curlArgs = (config: string, concurrency: number, dir: string | null): string[] => [
  '-s',
  '-S',
  '--fail',
  '--noproxy',
  '*',
  '--parallel',
  '--parallel-max',
  String(concurrency),
  ...(dir === null ? [] : ['--remote-name-all', '--output-dir', dir]),
  '-K',
  config,
];

async function curlOnce(up: Upstream, config: string, concurrency: number, dir: string): Promise<Sample> {
  mkdirSync(dir, { recursive: true });
  const r = await timed('curl', curlArgs(config, concurrency, dir), process.env);
  if (r.code !== 0) throw new Error(`curl failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  const got = readdirSync(dir);
  const bytes = got.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  if (got.length !== up.corpus.gems || bytes !== up.corpus.bytes)
    throw new Error(
      `curl fetched ${got.length} files, ${bytes} bytes; expected ${up.corpus.gems}, ${up.corpus.bytes}`,
    );
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakMiB: Number.NaN, foreign: r.foreign };
}

/** curl fetching the same URLs at the same concurrency, every body written to /dev/null: its transport alone. */
async function curlDiscardOnce(config: string, concurrency: number): Promise<Sample> {
  const r = await timed('curl', curlArgs(config, concurrency, null), process.env);
  if (r.code !== 0) throw new Error(`curl failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakMiB: Number.NaN, foreign: r.foreign };
}

const floorScript = join(root, 'bench', 'mirror', 'floor.mjs');
const getOnlyScript = join(root, 'bench', 'mirror', 'get-only.mjs');

/** bench/mirror/get-only.mjs: bare Node GETting the .gem URLs curl fetches, bodies thrown away. */
async function getOnlyOnce(up: Upstream, list: string, concurrency: number): Promise<Sample> {
  const r = await timed(process.execPath, [getOnlyScript, list, String(concurrency)], quarryEnv());
  if (r.code !== 0) throw new Error(`get-only.mjs failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  const got = JSON.parse(r.stdout.trim()) as { gems: number; bytes: number };
  if (got.gems !== up.corpus.gems || got.bytes !== up.corpus.bytes)
    throw new Error(`get-only.mjs fetched ${got.gems} gems, ${got.bytes} bytes; expected ${up.corpus.gems}`);
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakMiB: r.peakMiB, foreign: r.foreign };
}

/** bench/mirror/floor.mjs: bare Node fetching /versions, every /info and every .gem, checked and written. */
async function floorOnce(up: Upstream, url: string, concurrency: number, dir: string): Promise<Sample> {
  const r = await timed(process.execPath, [floorScript, url, dir, String(concurrency)], quarryEnv());
  if (r.code !== 0) throw new Error(`floor.mjs failed (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  const got = JSON.parse(r.stdout.trim()) as { gems: number; bytes: number };
  if (got.gems !== up.corpus.gems || got.bytes !== up.corpus.bytes)
    throw new Error(`floor.mjs fetched ${got.gems} gems, ${got.bytes} bytes; expected ${up.corpus.gems}`);
  return { seconds: r.seconds, cpuSeconds: r.cpuSeconds, peakMiB: r.peakMiB, foreign: r.foreign };
}

async function main(o: Options): Promise<void> {
  const t0 = performance.now();
  ensureBuilt();
  const curl = ensureCurl();
  mkdirSync(work, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'quarry-bench-mirror-'));
  const cleanup = () => {
    killAllNow();
    if (!o.keep) rmSync(tmp, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  const rows: Row[] = [];
  const extras: Extra[] = [];
  const corpora: Corpus[] = [];
  try {
    for (const kind of o.corpora) {
      const up = await prepareUpstream(kind, o.gems);
      corpora.push(up.corpus);
      const server = await serve(up.data, join(tmp, `upstream-${kind}.log`));
      const config = join(tmp, `curl-${kind}.txt`);
      writeFileSync(config, up.files.map((f) => `url = "${server.url}/gems/${f}"\n`).join(''));
      const discard = join(tmp, `curl-discard-${kind}.txt`);
      writeFileSync(
        discard,
        up.files.map((f) => `url = "${server.url}/gems/${f}"\noutput = "/dev/null"\n`).join(''),
      );
      const list = join(tmp, `urls-${kind}.txt`);
      writeFileSync(list, up.files.map((f) => `${server.url}/gems/${f}\n`).join(''));
      // Warm-up, not measured: the upstream's caches and the page cache.
      await curlOnce(up, config, 8, join(tmp, 'warm'));
      rmSync(join(tmp, 'warm'), { recursive: true, force: true });
      const kindRows = o.concurrency.map(
        (c): Row => ({
          corpus: kind,
          concurrency: c,
          mirror: [],
          curl: [],
          curlDiscard: [],
          getOnly: [],
          floor: [],
        }),
      );
      for (let round = 0; round < o.runs; round++) {
        const waited = await waitQuiet(0.15, o.quietMs);
        say(
          `${kind}: round ${round + 1} of ${o.runs}${waited > 1500 ? ` (waited ${Math.round(waited / 1000)} s for a quiet CPU)` : ''}`,
        );
        for (const row of kindRows) {
          const c = row.concurrency;
          const out = join(tmp, `curl-${kind}-${c}-${round}`);
          row.curl.push(await curlOnce(up, config, c, out));
          rmSync(out, { recursive: true, force: true });
          row.curlDiscard.push(await curlDiscardOnce(discard, c));
          row.getOnly.push(await getOnlyOnce(up, list, c));
          const floorDir = join(tmp, `floor-${kind}-${c}-${round}`);
          row.floor.push(await floorOnce(up, server.url, c, floorDir));
          rmSync(floorDir, { recursive: true, force: true });
          const data = join(tmp, `mirror-${kind}-${c}-${round}`);
          const m = await mirrorOnce(up, server.url, c, data, up.corpus.gems);
          row.mirror.push(m);
          say(
            `  c=${c}: curl ${row.curl.at(-1)!.seconds.toFixed(2)} s, GET only ${row.getOnly.at(-1)!.seconds.toFixed(2)} s, floor ${row.floor.at(-1)!.seconds.toFixed(2)} s, mirror ${m.seconds.toFixed(2)} s, ${m.peakMiB.toFixed(0)} MiB`,
          );
          if (kind === o.corpora[0] && c === 8 && round === o.runs - 1) {
            const again = await mirrorOnce(up, server.url, 8, data, 0, 'mark');
            extras.push({ label: 're-run, nothing new', corpus: up.corpus, concurrency: 8, sample: again });
            const all = await mirrorOnce(up, server.url, 8, data, 0, 'recheck');
            extras.push({ label: 're-run --recheck', corpus: up.corpus, concurrency: 8, sample: all });
          }
          rmSync(data, { recursive: true, force: true });
        }
      }
      rows.push(...kindRows);
      await stop(server.pid);
    }
    for (const scale of o.scaleGems) {
      const up = await prepareUpstream('small', scale);
      const server = await serve(up.data, join(tmp, 'upstream-scale.log'));
      await waitQuiet(0.15, o.quietMs);
      const data = join(tmp, 'mirror-scale');
      const s = await mirrorOnce(up, server.url, 8, data, up.corpus.gems);
      say(`scale: ${up.corpus.gems} gems in ${s.seconds.toFixed(2)} s, ${s.peakMiB.toFixed(0)} MiB`);
      extras.push({ label: 'larger upstream', corpus: up.corpus, concurrency: 8, sample: s });
      rmSync(data, { recursive: true, force: true });
      await stop(server.pid);
    }
  } finally {
    cleanup();
  }
  const starts: number[] = [];
  for (let i = 0; i < 5; i++) starts.push((await timed(process.execPath, ['-e', '0'], quarryEnv())).seconds);
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: root,
    encoding: 'utf8',
  }).stdout.trim();
  const report: MirrorBenchReport = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}`,
    quarryCommit: commit || 'unknown',
    curl,
    corpora,
    rows,
    extras,
    nodeStart: starts.sort((a, b) => a - b)[2]!,
  };
  const md = markdown(report);
  writeFileSync(join(work, 'mirror-results.md'), md);
  writeFileSync(join(work, 'mirror-results.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(md);
  say(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s; bench/.work/mirror-results.md`);
}

main(parseArgs(process.argv.slice(2))).catch((e: unknown) => {
  killAllNow();
  process.stderr.write(`bench:mirror: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
