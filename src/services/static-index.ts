/**
 * `quarry index DIR`: builds the static gem source for DIR/gems/*.gem into DIR.
 *
 * Everything is parsed and planned before anything live is touched; the new files are written to a
 * staging directory inside DIR, then renamed into place one by one in publish order (each rename is
 * atomic, so a reader sees the old or the new version of every file, never a partial one). State for
 * incremental updates lives in DIR/.quarry/index-state and index-state.log (static-state.ts).
 */
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { QuarryError } from '../errors.ts';
import type { InfoOptions } from '../index/compact.ts';
import { md5Hex } from '../index/compact.ts';
import type { ParsedGem, StaticPlan } from '../index/static-plan.ts';
import { planFullBuildOf, planUpdate, quickSpecPath } from '../index/static-plan.ts';
import type { LoadedState } from '../index/static-state.ts';
import {
  applyLog,
  logBlock,
  logFollows,
  logHeader,
  parseState,
  serializeState,
} from '../index/static-state.ts';
import { takeLock, writeFileAtomic } from '../util/atomic-fs.ts';
import { indexGemFiles, parseGemFiles } from './gem-parse.ts';

export interface StaticIndexOptions {
  dir: string;
  update: boolean;
  now: () => Date;
  info?: InfoOptions;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export interface StaticIndexResult {
  mode: 'full' | 'update';
  /** Why a requested update became a full build, if it did. */
  fullReason?: string;
  gems: number;
  names: number;
  added: number;
  removed: number;
  written: number;
  deleted: number;
}

const STATE_FILE = '.quarry/index-state';
const LOCK_FILE = '.quarry/lock';
/** Updates since the snapshot in STATE_FILE (static-state.ts). */
const STATE_LOG = '.quarry/index-state.log';
/** After this many logged updates, the next one writes a fresh snapshot instead. */
const LOG_MAX_BLOCKS = 200;
/** The state file of layout 1, removed once a newer state is written. */
const OLD_STATE_FILE = '.quarry/index.json';

async function listGemFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync(join(dir, 'gems'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new QuarryError(
        'not_found',
        `no gems/ folder in ${dir}: put the .gem files in ${join(dir, 'gems')}`,
      );
    }
    throw e;
  }
  return names.filter((n) => n.endsWith('.gem') && !n.startsWith('.'));
}

function parseGems(dir: string, files: readonly string[], opts: StaticIndexOptions): Promise<ParsedGem[]> {
  return parseGemFiles(join(dir, 'gems'), files, {
    onProgress: (done, total) => opts.onProgress?.('reading gems', done, total),
  });
}

interface Previous {
  loaded: LoadedState;
  versions: string;
  /** Whether STATE_LOG follows the snapshot (append to it) or must be started anew. */
  logFollows: boolean;
}

async function loadState(dir: string, info: InfoOptions | undefined): Promise<Previous | string> {
  let text: string;
  try {
    text = readFileSync(join(dir, STATE_FILE), 'utf8');
  } catch {
    return 'no previous index state';
  }
  let loaded = parseState(text);
  if (typeof loaded === 'string') return loaded;
  let log = '';
  try {
    log = readFileSync(join(dir, STATE_LOG), 'utf8');
  } catch {
    // No log: no updates since the snapshot.
  }
  const follows = logFollows(log, loaded.id);
  if (follows) {
    const applied = applyLog(loaded, log);
    if (typeof applied === 'string') return applied;
    loaded = applied;
  }
  const { state } = loaded;
  if (state.infoCreatedAt !== (info?.createdAt === true)) return 'the --info-created-at option changed';
  let versions: string;
  try {
    versions = readFileSync(join(dir, 'versions'), 'utf8');
  } catch {
    return 'no versions file';
  }
  if (Buffer.byteLength(versions) !== state.versionsLength || md5Hex(versions) !== state.versionsMd5) {
    return 'versions was changed since the last run';
  }
  return { loaded, versions, logFollows: follows };
}

/**
 * Records the new state: an update appends one block to the log; a full build, or an update once
 * the log is long, writes a new snapshot (atomically) and then drops the log.
 */
async function saveState(dir: string, plan: StaticPlan, prev: Previous | null): Promise<void> {
  if (prev && plan.change && prev.loaded.logBlocks < LOG_MAX_BLOCKS) {
    const block = logBlock(plan.change, plan.state);
    if (prev.logFollows) appendFileSync(join(dir, STATE_LOG), block);
    else writeFileSync(join(dir, STATE_LOG), logHeader(prev.loaded.id) + block);
    return;
  }
  await writeFileAtomic(join(dir, STATE_FILE), serializeState(plan.state, randomBytes(8).toString('hex')));
  rmSync(join(dir, STATE_LOG), { force: true });
  rmSync(join(dir, OLD_STATE_FILE), { force: true });
}

const newStaging = (dir: string): string =>
  join(dir, '.quarry', `staging-${process.pid}-${randomBytes(4).toString('hex')}`);

/**
 * Publishes the plan from `staging`, where `prewritten` paths already are: writes the plan's
 * files there, then moves everything into place in publish order (quick specs, info, names,
 * versions, legacy lists), then deletes, then writes the state. Into a folder with no index yet,
 * quick/ and info/ move as whole folders; otherwise file by file, each rename atomic.
 */
async function applyPlan(
  dir: string,
  staging: string,
  plan: StaticPlan,
  prev: Previous | null,
  prewritten: readonly string[] = [],
): Promise<number> {
  const fullBuild = prev === null;
  const made = new Set<string>();
  const ensureDir = (d: string): void => {
    if (made.has(d)) return;
    mkdirSync(d, { recursive: true });
    made.add(d);
  };
  for (const w of plan.writes) {
    const p = join(staging, w.path);
    ensureDir(dirname(p));
    writeFileSync(p, w.body);
  }
  const order = [...prewritten, ...plan.writes.map((w) => w.path)];
  const whole = new Set<string>();
  if (fullBuild) {
    for (const sub of ['quick', 'info']) {
      if (existsSync(join(staging, sub)) && !existsSync(join(dir, sub))) {
        renameSync(join(staging, sub), join(dir, sub));
        whole.add(`${sub}/`);
      }
    }
  }
  for (const path of order) {
    if (whole.has(path.slice(0, path.indexOf('/') + 1))) continue;
    const target = join(dir, path);
    ensureDir(dirname(target));
    renameSync(join(staging, path), target);
  }
  let deleted = 0;
  const deletes = new Set(plan.deletes);
  if (fullBuild) {
    // Anything a previous build left in quick/ or info/ that this build did not write is stale.
    const written = new Set(order);
    for (const sub of ['quick/Marshal.4.8', 'info']) {
      if (whole.has(`${sub.split('/')[0]}/`)) continue;
      const existing = await readdir(join(dir, sub)).catch(() => [] as string[]);
      for (const f of existing) if (!written.has(`${sub}/${f}`)) deletes.add(`${sub}/${f}`);
    }
  }
  for (const d of deletes) {
    rmSync(join(dir, d), { force: true });
    deleted++;
  }
  // Nothing changed: the state on disk is still right.
  if (fullBuild || plan.writes.length > 0 || deletes.size > 0) await saveState(dir, plan, prev);
  return deleted;
}

/** One run at a time per folder: a second one stops with the first one's PID. */
export async function buildStaticIndex(opts: StaticIndexOptions): Promise<StaticIndexResult> {
  const files = await listGemFiles(opts.dir);
  const lock = takeLock(join(opts.dir, LOCK_FILE));
  if (typeof lock === 'number') {
    throw new QuarryError(
      'conflict',
      `another quarry index (pid ${lock}) is working on ${opts.dir}; if it is gone, remove ${join(opts.dir, LOCK_FILE)}`,
    );
  }
  try {
    return await build(opts, files);
  } finally {
    lock();
  }
}

async function build(opts: StaticIndexOptions, files: string[]): Promise<StaticIndexResult> {
  const { dir } = opts;
  let fullReason: string | undefined;
  if (opts.update) {
    const prev = await loadState(dir, opts.info);
    if (typeof prev !== 'string') {
      const { state } = prev.loaded;
      const known = new Set(state.files.map((f) => f.file));
      const present = new Set(files);
      const addedFiles = files.filter((f) => !known.has(f)).sort();
      const removed = state.files.filter((f) => !present.has(f.file)).map((f) => f.file);
      const added = await parseGems(dir, addedFiles, opts);
      const plan = planUpdate(state, prev.versions, added, removed, opts.info);
      const staging = newStaging(dir);
      let deleted: number;
      try {
        deleted = await applyPlan(dir, staging, plan, prev);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      return {
        mode: 'update',
        gems: plan.state.files.length,
        names: plan.names,
        added: plan.added,
        removed: plan.removed,
        written: plan.writes.length,
        deleted,
      };
    }
    fullReason = prev;
  }
  const staging = newStaging(dir);
  let plan: StaticPlan;
  let deleted: number;
  let quickSpecs: number;
  try {
    const job = { gemsDir: join(dir, 'gems'), outDir: staging, info: opts.info ?? {} };
    const indexed = await indexGemFiles(job, files.sort(), {
      onProgress: (done, total) => opts.onProgress?.('reading gems', done, total),
    });
    plan = planFullBuildOf(indexed, opts.now(), opts.info);
    quickSpecs = indexed.length;
    deleted = await applyPlan(dir, staging, plan, null, indexed.map(quickSpecPath));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const result: StaticIndexResult = {
    mode: 'full',
    gems: plan.added,
    names: plan.names,
    added: plan.added,
    removed: 0,
    written: quickSpecs + plan.writes.length,
    deleted,
  };
  if (fullReason) result.fullReason = fullReason;
  return result;
}
