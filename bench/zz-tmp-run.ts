/**
 * Indexing benchmark: `gem generate_index` (RubyGems' own static indexer) against `quarry index`.
 *
 *   npm run bench                         sizes 1000 and 10000
 *   npm run bench -- --sizes 1000         one size (comma-separated or repeated for several)
 *   npm run bench -- --updates 7          repeats of the one-gem update (default 5)
 *
 * For each size N it generates (or reuses) a synthetic corpus of N .gem files (bench/gen-corpus.rb),
 * copies it into two fresh folders, and times, each tool in its own folder:
 *   1. a full build of the index;
 *   2. UPDATES times: copy one new gem into gems/, then an incremental update (median reported).
 * The table goes to stdout and to bench/.work/results.md (raw numbers: bench/.work/results.json).
 * Everything is local: no network is used. A missing `gem`, `ruby` or quarry build is an error.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './measure.ts';
import { ensureGnuTime, GNU_TIME, measure, median } from './measure.ts';
import type { Environment, SizeResult, StepResult } from './report.ts';
import { markdownReport } from './report.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const quarryBin = '/tmp/fakeq/quarry.mjs';

interface Options {
  sizes: number[];
  updates: number;
}

function parseArgs(argv: readonly string[]): Options {
  const sizes: number[] = [];
  let updates = 5;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--sizes' || arg.startsWith('--sizes=')) {
      const values = arg.includes('=') ? [arg.slice('--sizes='.length)] : [];
      while (!arg.includes('=') && i + 1 < argv.length && !argv[i + 1]!.startsWith('--'))
        values.push(argv[++i]!);
      for (const v of values.flatMap((s) => s.split(','))) {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1)
          throw new Error(`--sizes: ${JSON.stringify(v)} is not a positive integer`);
        sizes.push(n);
      }
    } else if (arg === '--updates') {
      updates = Number(argv[++i]);
      if (!Number.isInteger(updates) || updates < 1) throw new Error('--updates needs a positive integer');
    } else {
      throw new Error(`unknown argument ${JSON.stringify(arg)} (known: --sizes N[,N...], --updates K)`);
    }
  }
  return { sizes: sizes.length > 0 ? sizes : [1000, 10000], updates };
}

/** Output of a command that must exist; its absence fails the benchmark. */
function required(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `${what} is required for the benchmark: \`${cmd} ${args.join(' ')}\` failed (${r.error?.message ?? r.stderr})`,
    );
  }
  return r.stdout.trim();
}

function environment(rssSource: string): Environment {
  const cpu = cpus();
  return {
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    cpus: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    os: `${platform()} ${release()}`,
    node: process.version,
    ruby: required('ruby', ['-v'], 'Ruby'),
    rubygems: required('gem', ['--version'], 'RubyGems (`gem`)'),
    rssSource,
  };
}

const gemFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.gem'))
    .sort();

function corpus(n: number, updates: number): string {
  const dir = join(work, `corpus-${n}`);
  const extra = String(Math.max(10, updates));
  execFileSync('ruby', [join(root, 'bench', 'gen-corpus.rb'), String(n), dir, '--extra', extra], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const got = gemFiles(join(dir, 'gems')).length;
  if (got !== n) throw new Error(`corpus ${dir} has ${got} gems, not ${n}`);
  return dir;
}

function copyGems(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of gemFiles(from)) copyFileSync(join(from, f), join(to, f));
}

function dirMiB(dir: string): number {
  return gemFiles(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0) / 2 ** 20;
}

/** Checks an update really appended `NAME VERSION MD5` to /versions instead of rebuilding it. */
function assertAppended(before: Buffer, after: Buffer, gem: string): void {
  const m = /^(.+)-([^-]+)\.gem$/.exec(gem);
  const prefix = m ? `${m[1]} ${m[2]} ` : `${gem} `;
  const tail = after.subarray(before.length).toString('utf8');
  const appended = tail.startsWith(prefix) && /^[0-9a-f]{32}\n$/.test(tail.slice(prefix.length));
  if (!after.subarray(0, before.length).equals(before) || !appended) {
    throw new Error(
      `quarry index --update did not append one versions line for ${gem} (got ${JSON.stringify(tail)})`,
    );
  }
}

const medianOf = (ms: readonly Measurement[]): Measurement => ({
  wallMs: median(ms.map((m) => m.wallMs)),
  peakRssKiB: median(ms.map((m) => m.peakRssKiB)),
  rssSource: ms[0]!.rssSource,
});

async function benchSize(n: number, updates: number): Promise<SizeResult> {
  const source = corpus(n, updates);
  const extra = gemFiles(join(source, 'extra')).slice(0, updates);
  if (extra.length < updates) throw new Error(`corpus ${source} has only ${extra.length} extra gems`);
  const run = join(work, `run-${n}`);
  rmSync(run, { recursive: true, force: true });
  const gemDir = join(run, 'rubygems');
  const quarryDir = join(run, 'quarry');
  copyGems(join(source, 'gems'), join(gemDir, 'gems'));
  copyGems(join(source, 'gems'), join(quarryDir, 'gems'));
  const log = join(run, 'commands.log');
  const say = (msg: string): boolean => process.stderr.write(`bench ${n}: ${msg}\n`);

  say('gem generate_index (full)');
  const gemFull = await measure('gem', ['generate_index', '-d', gemDir], { log });
  if (!existsSync(join(gemDir, 'specs.4.8.gz'))) throw new Error('gem generate_index wrote no specs.4.8.gz');

  say('quarry index (full)');
  const quarryFull = await measure(process.execPath, [quarryBin, 'index', quarryDir], { log });
  const versions = join(quarryDir, 'versions');
  if (!existsSync(versions)) throw new Error('quarry index wrote no versions file');
  const names = readFileSync(versions, 'utf8').split('\n---\n')[1]!.split('\n').filter(Boolean).length;

  const gemUpdates: Measurement[] = [];
  const quarryUpdates: Measurement[] = [];
  for (const [k, f] of extra.entries()) {
    say(`update ${k + 1}/${updates}: + ${f}`);
    copyFileSync(join(source, 'extra', f), join(gemDir, 'gems', f));
    gemUpdates.push(await measure('gem', ['generate_index', '-d', gemDir, '--update'], { log }));
    copyFileSync(join(source, 'extra', f), join(quarryDir, 'gems', f));
    const before = readFileSync(versions);
    quarryUpdates.push(await measure(process.execPath, [quarryBin, 'index', quarryDir, '--update'], { log }));
    assertAppended(before, readFileSync(versions), f);
  }
  const full: StepResult = { gem: gemFull, quarry: quarryFull };
  const update: StepResult = { gem: medianOf(gemUpdates), quarry: medianOf(quarryUpdates) };
  return { gems: n, names, corpusMiB: dirMiB(join(source, 'gems')), full, update, updates };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!true)
    throw new Error('quarry is not built: run `npm run build`');
  const gnuTime = ensureGnuTime();
  const env = environment(gnuTime ? `GNU time (${GNU_TIME} -f '%e %M')` : '/proc/PID/status VmHWM polling');
  mkdirSync(work, { recursive: true });
  const results: SizeResult[] = [];
  for (const n of opts.sizes) results.push(await benchSize(n, opts.updates));
  const report = markdownReport(env, results);
  writeFileSync(join(work, 'results.md'), report);
  writeFileSync(join(work, 'results.json'), `${JSON.stringify({ env, results }, null, 2)}\n`);
  process.stdout.write(`\n${report}`);
  process.stderr.write(`bench: wrote ${join('bench', '.work', 'results.md')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
