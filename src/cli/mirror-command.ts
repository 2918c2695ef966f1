/** `quarry mirror` and `quarry import`: gems into this catalog (or a folder), resumably, with progress. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { clockFromEnv } from '../config/clock.ts';
import type { Config } from '../config/schema.ts';
import { isQuarryError, QuarryError } from '../errors.ts';
import { parseConstraint } from '../gem/requirement.ts';
import type { ClosureRoot } from '../index/closure.ts';
import { parseLockfile } from '../index/closure.ts';
import type { MirrorPlan, MirrorReport } from '../services/mirror.ts';
import type { CommonOptions } from './common.ts';
import { boundHeapGrowth, configFrom, upstreamFromFlag, withCommon } from './common.ts';
import { FileSpool } from './file-spool.ts';

interface MirrorFlags extends CommonOptions {
  lockfile?: string;
  all?: boolean;
  latest?: string;
  upstream?: string;
  platform?: string;
  pre?: boolean;
  exclude?: string[];
  to?: string;
  dryRun?: boolean;
  syncYanks?: boolean;
  recheck?: boolean;
  concurrency?: string;
  retries?: string;
  json?: boolean;
}

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const count = (flag: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new QuarryError('config', `${flag} must be a number, not "${v}"`);
  return Number(v);
};

/** `rails '>= 7.1' rack '~> 3.0' nokogiri`: names, each with the constraints after it. */
export function parseGemArgs(args: readonly string[]): ClosureRoot[] {
  const out: ClosureRoot[] = [];
  for (const a of args) {
    const t = a.trim();
    if (/^(=|!=|>=|<=|>|<|~>)?\s*\d/.test(t)) {
      const last = out.at(-1);
      if (!last) throw new QuarryError('bad_request', `requirement "${t}" comes before any gem name`);
      for (const part of t.split(',')) {
        parseConstraint(part.trim());
        last.requirement.push(part.trim());
      }
    } else {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(t))
        throw new QuarryError('bad_request', `"${t}" is not a gem name`);
      out.push({ name: t, requirement: [] });
    }
  }
  return out;
}

/**
 * Progress on stderr: a bar redrawn every 100 ms on a terminal; elsewhere a line every 5 s, when
 * the phase changes, and the last state at the end (a count that catches up with its total while a
 * closure is still resolving is not an end).
 */
function progress(stream: NodeJS.WriteStream) {
  const t0 = Date.now();
  let lastAt = 0;
  let shownPhase = '';
  let latest: { phase: string; done: number; total: number; bytes: number } | null = null;
  let shown = true;
  const show = (): void => {
    if (!latest) return;
    const { phase, done, total, bytes } = latest;
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    const mb = bytes / 1048576;
    const rate = `${(done / secs).toFixed(1)} gems/s, ${(mb / secs).toFixed(2)} MB/s`;
    if (stream.isTTY) {
      const width = 24;
      const fill = total > 0 ? Math.round((done / total) * width) : width;
      stream.write(
        `\r\x1b[K${phase} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total} gems, ${mb.toFixed(1)} MB, ${rate}`,
      );
    } else {
      stream.write(`${phase}: ${done}/${total} gems, ${mb.toFixed(1)} MB, ${rate}\n`);
    }
    shown = true;
    shownPhase = phase;
  };
  return {
    update(phase: string, done: number, total: number, bytes: number): void {
      latest = { phase, done, total, bytes };
      shown = false;
      const now = Date.now();
      if (phase === shownPhase && now - lastAt < (stream.isTTY ? 100 : 5_000)) return;
      lastAt = now;
      show();
    },
    end(): void {
      if (stream.isTTY) stream.write('\r\x1b[K');
      else if (!shown) show();
    },
  };
}

function upstreamOf(config: Config, flag: string | undefined): Config['upstreams'][number] {
  if (flag !== undefined) {
    const { name } = upstreamFromFlag(flag);
    return {
      name,
      url: flag,
      timeout_ms: 30_000,
      max_age_ms: 0,
      fail_timeout_ms: 0,
      exclude: [],
      tls_verify: true,
    };
  }
  const u = config.upstreams[0];
  if (!u) throw new QuarryError('config', 'no upstream: pass --upstream URL or configure upstreams');
  return u;
}

function summary(r: MirrorReport, dryRun: boolean, wouldFetch: readonly string[]): void {
  if (dryRun) {
    for (const f of wouldFetch) print(`would fetch ${f}.gem`);
    print(
      `would fetch ${r.wouldFetch} gem${r.wouldFetch === 1 ? '' : 's'} (${(r.wouldFetchBytes / 1048576).toFixed(1)} MB); ${r.present} already here`,
    );
  } else {
    print(
      `fetched ${r.fetched}, already present ${r.present}, failed ${r.failed.length}${r.yanked.length > 0 ? `, yanked ${r.yanked.length}` : ''} (${(r.bytes / 1048576).toFixed(1)} MB)`,
    );
    for (const y of r.yanked) print(`yanked ${y}`);
  }
  if (r.changedSince) {
    const n = r.changedSince.names;
    process.stderr.write(
      `quarry: checked the ${n} name${n === 1 ? '' : 's'} changed upstream since the complete run of ${r.changedSince.recordedAt} (--recheck: every name)\n`,
    );
  }
  if (r.stale.length > 0) {
    const few = r.stale.slice(0, 10).join(', ');
    process.stderr.write(
      `quarry: warning: the upstream's /info of ${r.stale.length} name${r.stale.length === 1 ? '' : 's'} lacks versions its /versions lists (${few}${r.stale.length > 10 ? ', …' : ''}): those versions are missing here; the next run asks again\n`,
    );
  }
  if (r.excluded.length > 0) process.stderr.write(`quarry: excluded: ${r.excluded.join(', ')}\n`);
  for (const m of r.missing) process.stderr.write(`quarry: not found upstream: ${m}\n`);
  for (const f of r.failed) process.stderr.write(`quarry: failed: ${f.file}.gem: ${f.reason}\n`);
}

export function registerMirror(program: Command): void {
  withCommon(program.command('mirror'))
    .description('copy gems with their dependency closure (or a whole source) from an upstream')
    .argument('[gems...]', "gem names, each optionally followed by requirements: rails '>= 7.1' rack")
    .option('--lockfile <file>', 'everything a Gemfile.lock names, at the locked versions')
    .option('--all', 'the whole upstream')
    .option('--latest <n>', 'only the newest N versions of each gem')
    .option('--upstream <url>', 'the source to copy from (default: the first configured upstream)')
    .option('--platform <list>', 'platforms to copy, comma-separated (default ruby)')
    .option('--pre', 'prerelease versions too')
    .option('--exclude <pattern...>', 'gem-name globs never copied')
    .option('--to <dir>', 'into DIR/gems, for quarry index, instead of the catalog')
    .option('--dry-run', 'list what would be fetched, with the count and total size')
    .option('--sync-yanks', 'yank here what the upstream yanked')
    .option(
      '--recheck',
      'with --all: check every name, not only those changed upstream since the last complete run',
    )
    .option('--concurrency <n>', 'parallel downloads (default 8)')
    .option('--retries <n>', 'retries of a failing download (default 3)')
    .option('--json', 'print the report as JSON')
    .action(async (gems: string[], opts: MirrorFlags) => {
      boundHeapGrowth();
      const config = await configFrom(opts);
      const m = config.mirror;
      const roots = parseGemArgs(gems.length > 0 ? gems : m.gems);
      const lockfile = opts.lockfile ?? m.lockfile ?? undefined;
      let plan: MirrorPlan;
      const base = {
        all: opts.all ?? m.all,
        latest: count('--latest', opts.latest, m.latest),
        platforms: (opts.platform ?? m.platforms.join(','))
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean),
        pre: opts.pre ?? m.pre,
        exclude: opts.exclude ?? m.exclude,
      };
      if (lockfile) {
        const locked = parseLockfile(readFileSync(resolve(lockfile), 'utf8'));
        if (locked.length === 0)
          throw new QuarryError('bad_request', `${lockfile} names no gems (no GEM specs section)`);
        plan = {
          ...base,
          roots: locked.map((l) => ({
            name: l.name,
            requirement: [],
            exact: { version: l.version, platform: l.platform },
          })),
          platforms: ['*'],
          pre: true,
          latest: 0,
          follow: false,
        };
      } else {
        if (roots.length === 0 && !base.all)
          throw new QuarryError('bad_request', 'name gems to mirror, or pass --lockfile FILE or --all');
        plan = { ...base, roots, follow: true };
      }
      const { composeServices, composeMirror } = await import('../compose.ts');
      const s = await composeServices(config, clockFromEnv(process.env), {
        metricsDefaults: false,
        env: process.env,
      });
      const { markRun } = await import('../services/mirror.ts');
      const to = opts.to ?? m.to;
      const endRun = await markRun(config.data, s.blobs, to ? { to: resolve(to) } : {});
      const spool = opts.json ? new FileSpool() : null;
      const wouldFetch: string[] = [];
      try {
        const mirror = composeMirror(s, upstreamOf(config, opts.upstream), process.env);
        const bar = progress(process.stderr);
        const report = await mirror.run(plan, {
          concurrency: count('--concurrency', opts.concurrency, m.concurrency),
          retries: count('--retries', opts.retries, 3),
          dryRun: opts.dryRun === true,
          syncYanks: opts.syncYanks ?? m.sync_yanks,
          recheck: opts.recheck === true,
          ...((opts.to ?? m.to) ? { to: resolve((opts.to ?? m.to)!) } : {}),
          onProgress: (p) =>
            bar.update(p.phase === 'resolve' ? 'resolving' : 'fetching', p.done, p.total, p.bytes),
          onFile: (kind, file) => {
            if (kind === 'would_fetch' && !spool) wouldFetch.push(file);
            else spool?.add(kind, file);
          },
        });
        bar.end();
        if (to && !opts.dryRun && report.fetched > 0) {
          const { buildStaticIndex } = await import('../services/static-index.ts');
          await buildStaticIndex({
            dir: resolve(to),
            update: existsIndex(resolve(to)),
            now: clockFromEnv(process.env),
            info: { createdAt: config.index.info_created_at },
          });
        }
        if (spool) {
          const { fetched: _f, present: _p, wouldFetch: _w, ...rest } = report;
          // --dry-run: `fetched` lists what would be fetched.
          spool.print(rest, { [opts.dryRun ? 'would_fetch' : 'fetched']: 'fetched', present: 'present' });
        } else summary(report, opts.dryRun === true, wouldFetch);
        if (report.failed.length > 0 || report.missing.length > 0) process.exitCode = 1;
      } finally {
        spool?.remove();
        endRun();
        await s.close();
      }
    });

  withCommon(program.command('import'))
    .description('load .gem files (or folders of them) into the catalog, with the checks of a push')
    .argument('<paths...>', '.gem files or folders (searched recursively)')
    .option('--json', 'print the report as JSON')
    .action(async (paths: string[], opts: CommonOptions & { json?: boolean }) => {
      boundHeapGrowth();
      const files: string[] = [];
      const walk = (p: string): void => {
        const st = statSync(p);
        if (st.isDirectory()) {
          for (const e of readdirSync(p).sort()) walk(join(p, e));
        } else if (p.endsWith('.gem')) files.push(p);
      };
      for (const p of paths) {
        try {
          walk(resolve(p));
        } catch (e) {
          throw new QuarryError('not_found', `${p}: ${(e as Error).message}`);
        }
      }
      const config = await configFrom(opts);
      const { composeServices } = await import('../compose.ts');
      const s = await composeServices(config, clockFromEnv(process.env), { metricsDefaults: false });
      const { markRun } = await import('../services/mirror.ts');
      const endRun = await markRun(config.data, s.blobs);
      const imported: string[] = [];
      const present: string[] = [];
      const failed: { file: string; reason: string }[] = [];
      const bar = progress(process.stderr);
      let bytes = 0;
      try {
        for (const [i, f] of files.entries()) {
          try {
            const body = readFileSync(f);
            const r = await s.gems.importGem(body);
            (r.alreadyPushed ? present : imported).push(f);
            bytes += body.length;
          } catch (e) {
            if (!isQuarryError(e) && !(e as NodeJS.ErrnoException).code) throw e;
            failed.push({ file: f, reason: (e as Error).message });
          }
          bar.update('importing', i + 1, files.length, bytes);
        }
      } finally {
        bar.end();
        endRun();
        await s.close();
      }
      if (opts.json) print(JSON.stringify({ imported, present, failed }));
      else {
        print(`imported ${imported.length}, already present ${present.length}, failed ${failed.length}`);
        for (const f of failed) process.stderr.write(`quarry: failed: ${f.file}: ${f.reason}\n`);
      }
      if (failed.length > 0) process.exitCode = 1;
    });
}

/** True when DIR already holds a quarry index (then --update). */
function existsIndex(dir: string): boolean {
  try {
    return statSync(join(dir, '.quarry')).isDirectory();
  } catch {
    return false;
  }
}
