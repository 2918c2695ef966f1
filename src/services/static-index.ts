/**
 * `quarry index DIR`: builds the static gem source for DIR/gems/*.gem into DIR.
 *
 * Everything is parsed and planned before anything is published. Each run writes a complete new
 * generation of the index and publishes it with one atomic switch (static-layout.ts), so a reader
 * sees the old index or the new one, whole, whenever the run stops, even by `kill -9`. The state
 * for incremental updates (static-state.ts) is part of each generation: it always describes the
 * index published beside it.
 */
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
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
import { takeLock } from '../util/atomic-fs.ts';
import { fileKind } from '../util/regular-file.ts';
import { indexGemFiles, parseGemFiles } from './gem-parse.ts';
import {
  currentGeneration,
  type Generation,
  newStaging,
  publishGeneration,
  QUARRY_DIR,
  removeLeftovers,
} from './static-layout.ts';

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
  /** Files written: the plan's, plus the quick specs of a full build. */
  written: number;
  /** Quick specs an update removed (a full build starts a new generation instead). */
  deleted: number;
}

/** In each generation: the state snapshot, and the updates since it (static-state.ts). */
const STATE_FILE = 'index-state';
const STATE_LOG = 'index-state.log';
const LOCK_FILE = `${QUARRY_DIR}/lock`;
/** After this many logged updates, the next one writes a fresh snapshot instead. */
const LOG_MAX_BLOCKS = 200;
/** State files of older layouts, directly in DIR/.quarry; removed once a generation is published. */
const OLD_STATE_FILES = ['index.json', 'index-state', 'index-state.log'];

/**
 * The *.gem names in DIR/gems. Each must be a regular file (or a symlink to one): a directory,
 * FIFO, socket or device named *.gem stops the run here, before anything is read.
 */
function listGemFiles(dir: string): string[] {
  const gemsDir = join(dir, 'gems');
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(gemsDir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new QuarryError('not_found', `no gems/ folder in ${dir}: put the .gem files in ${gemsDir}`);
    }
    if (code === 'ENOTDIR') throw new QuarryError('not_found', `${gemsDir} is not a folder`);
    throw new QuarryError('io', `cannot list ${gemsDir} (${code ?? 'error'})`, { cause: e });
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.name.endsWith('.gem') || e.name.startsWith('.')) continue;
    if (!e.isFile()) {
      const st = statOrNull(join(gemsDir, e.name));
      if (st === null) {
        throw new QuarryError('invalid_gem', 'is a broken symlink', { subject: `gems/${e.name}` });
      }
      if (!st.isFile()) {
        const via = e.isSymbolicLink() ? 'a symlink to ' : '';
        throw new QuarryError('invalid_gem', `is ${via}${fileKind(st)}, not a .gem file`, {
          subject: `gems/${e.name}`,
        });
      }
    }
    out.push(e.name);
  }
  return out;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function parseGems(dir: string, files: readonly string[], opts: StaticIndexOptions): Promise<ParsedGem[]> {
  return parseGemFiles(join(dir, 'gems'), files, {
    onProgress: (done, total) => opts.onProgress?.('reading gems', done, total),
  });
}

interface Previous {
  gen: Generation;
  loaded: LoadedState;
  versions: string;
  /** The generation's log, when it follows its snapshot (the next one appends to it). */
  log: string | null;
}

/** The state of the published generation, or why it cannot be used. */
function loadState(gen: Generation | null, info: InfoOptions | undefined): Previous | string {
  if (gen === null) return 'no previous index state';
  let text: string;
  try {
    text = readFileSync(join(gen.path, STATE_FILE), 'utf8');
  } catch {
    return 'no previous index state';
  }
  let loaded = parseState(text);
  if (typeof loaded === 'string') return loaded;
  let log = '';
  try {
    log = readFileSync(join(gen.path, STATE_LOG), 'utf8');
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
  if (gen.pool === null) return 'the published index has no quick/ folder';
  let versions: string;
  try {
    versions = readFileSync(join(gen.path, 'versions'), 'utf8');
  } catch {
    return 'no versions file';
  }
  if (Buffer.byteLength(versions) !== state.versionsLength || md5Hex(versions) !== state.versionsMd5) {
    return 'versions was changed since the last run';
  }
  return { gen, loaded, versions, log: follows ? log : null };
}

/**
 * Writes the new state into the staging generation: an update adds one block to a copy of the
 * log and links the snapshot; a full build, or an update once the log is long, writes a snapshot.
 */
function writeState(staging: string, plan: StaticPlan, prev: Previous | null): void {
  if (prev && plan.change && prev.loaded.logBlocks < LOG_MAX_BLOCKS) {
    const block = logBlock(plan.change, plan.state);
    linkOrCopy(join(prev.gen.path, STATE_FILE), join(staging, STATE_FILE));
    writeFileSync(join(staging, STATE_LOG), (prev.log ?? logHeader(prev.loaded.id)) + block);
    return;
  }
  writeFileSync(join(staging, STATE_FILE), serializeState(plan.state, randomBytes(8).toString('hex')));
}

/** Writes the plan's files (all but quick specs) into the staging generation. */
function writeFiles(staging: string, plan: StaticPlan, skipQuick: boolean): void {
  const made = new Set<string>();
  for (const w of plan.writes) {
    if (skipQuick && w.path.startsWith('quick/')) continue;
    const p = join(staging, w.path);
    const d = dirname(p);
    if (!made.has(d)) {
      mkdirSync(d, { recursive: true });
      made.add(d);
    }
    writeFileSync(p, w.body);
  }
}

/** Links the quick/ of a staging generation to the pool folder `pool` (holding quick/). */
function linkPool(staging: string, pool: string): void {
  symlinkSync(join(relative(staging, pool), 'quick'), join(staging, 'quick'));
}

/**
 * Publishes a staging generation, then removes the state files of older layouts. Killed at any
 * point before the switch, nothing published changes; the next run removes the leftovers.
 * `onSwitched` is called the moment the new generation is the published one.
 */
function publish(dir: string, staging: string, n: number, onSwitched: () => void): void {
  publishGeneration(dir, staging, n, onSwitched);
  for (const f of OLD_STATE_FILES) rmSync(join(dir, QUARRY_DIR, f), { force: true });
}

/** One run at a time per folder: a second one stops with the first one's PID. */
export async function buildStaticIndex(opts: StaticIndexOptions): Promise<StaticIndexResult> {
  const files = listGemFiles(opts.dir);
  let crashed = false;
  const lock = takeLock(join(opts.dir, LOCK_FILE), () => {
    crashed = true;
  });
  if (typeof lock === 'number') {
    throw new QuarryError(
      'conflict',
      `another quarry index (pid ${lock}) is working on ${opts.dir}; if it is gone, remove ${join(opts.dir, LOCK_FILE)}`,
    );
  }
  try {
    return await build(opts, files, crashed);
  } finally {
    lock();
  }
}

/**
 * An update: new quick specs go into the published pool first (files nobody lists yet), the new
 * generation links every unchanged file of the current one, and the quick specs of removed gems
 * leave the pool only after the switch.
 */
async function update(
  opts: StaticIndexOptions,
  files: string[],
  prev: Previous,
  next: number,
  crashed: boolean,
): Promise<StaticIndexResult> {
  const { dir } = opts;
  const { state } = prev.loaded;
  const pool = prev.gen.pool!;
  const known = new Set(state.files.map((f) => f.file));
  const present = new Set(files);
  const addedFiles = files.filter((f) => !known.has(f)).sort();
  const removed = state.files.filter((f) => !present.has(f.file)).map((f) => f.file);
  const added = await parseGems(dir, addedFiles, opts);
  const plan = planUpdate(state, prev.versions, added, removed, opts.info);
  // A killed update may have left quick specs of gems that are not published: drop them.
  if (crashed) sweepPool(pool, new Set(state.files.map((f) => quickSpecPath(f))));
  const result: StaticIndexResult = {
    mode: 'update',
    gems: plan.state.files.length,
    names: plan.names,
    added: plan.added,
    removed: plan.removed,
    written: plan.writes.length,
    deleted: 0,
  };
  if (plan.writes.length === 0 && plan.deletes.length === 0) return result;

  const staging = newStaging(dir);
  const pooled: string[] = [];
  let published = false;
  try {
    mkdirSync(join(staging, 'info'), { recursive: true });
    for (const w of plan.writes) {
      if (!w.path.startsWith('quick/')) continue;
      writeIntoPool(pool, w.path, w.body);
      pooled.push(w.path);
    }
    writeFiles(staging, plan, true);
    const written = new Set(plan.writes.map((w) => w.path));
    for (const f of readdirSync(prev.gen.path)) {
      if (f === 'info' || f === 'quick' || f === STATE_FILE || f === STATE_LOG || written.has(f)) continue;
      linkOrCopy(join(prev.gen.path, f), join(staging, f));
    }
    for (const f of readdirSync(join(prev.gen.path, 'info'))) {
      if (!written.has(`info/${f}`)) linkOrCopy(join(prev.gen.path, 'info', f), join(staging, 'info', f));
    }
    linkPool(staging, pool);
    writeState(staging, plan, prev);
    publish(dir, staging, next, () => {
      published = true;
    });
  } catch (e) {
    // Not published: the new quick specs are nobody's (those of gems already listed stay).
    if (!published) {
      const listed = new Set(state.files.map((f) => quickSpecPath(f)));
      for (const p of pooled) if (!listed.has(p)) rmSync(join(pool, p), { force: true });
    }
    throw e;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  for (const d of plan.deletes) {
    rmSync(join(pool, d), { force: true });
    result.deleted++;
  }
  return result;
}

/** Hard-links `from` to `to`; copies where the file system has no hard links. */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (
      code !== 'EPERM' &&
      code !== 'ENOTSUP' &&
      code !== 'EOPNOTSUPP' &&
      code !== 'EXDEV' &&
      code !== 'EMLINK'
    ) {
      throw e;
    }
    copyFileSync(from, to);
  }
}

/** Writes one quick spec into a published pool: a temp file, then a rename. */
function writeIntoPool(pool: string, path: string, body: Buffer): void {
  const target = join(pool, path);
  const tmp = join(dirname(target), `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(tmp, body);
  renameSync(tmp, target);
}

/** Removes the pool's quick specs that `keep` does not list, and temp files. */
function sweepPool(pool: string, keep: Set<string>): void {
  const sub = 'quick/Marshal.4.8';
  let names: string[];
  try {
    names = readdirSync(join(pool, sub));
  } catch {
    return;
  }
  for (const f of names) {
    if (!keep.has(`${sub}/${f}`)) rmSync(join(pool, sub, f), { force: true });
  }
}

async function build(
  opts: StaticIndexOptions,
  files: string[],
  crashed: boolean,
): Promise<StaticIndexResult> {
  const { dir } = opts;
  const current = currentGeneration(dir);
  // What earlier runs left is deleted while this one works (and before it lets go of the lock).
  const { next, done } = removeLeftovers(dir, current);
  try {
    return await buildNext(opts, files, crashed, current, next);
  } finally {
    await done;
  }
}

async function buildNext(
  opts: StaticIndexOptions,
  files: string[],
  crashed: boolean,
  current: Generation | null,
  next: number,
): Promise<StaticIndexResult> {
  const { dir } = opts;
  let fullReason: string | undefined;
  if (opts.update) {
    const prev = loadState(current, opts.info);
    if (typeof prev !== 'string') return update(opts, files, prev, next, crashed);
    fullReason = prev;
  }
  // A full build: a new pool of quick specs, written by the gem readers as they go.
  const pool = join(dir, QUARRY_DIR, `pool-${next}`);
  const staging = newStaging(dir);
  let plan: StaticPlan;
  let quickSpecs: number;
  let published = false;
  try {
    mkdirSync(staging, { recursive: true });
    const job = { gemsDir: join(dir, 'gems'), outDir: pool, info: opts.info ?? {} };
    const indexed = await indexGemFiles(job, files.sort(), {
      onProgress: (done, total) => opts.onProgress?.('reading gems', done, total),
    });
    plan = planFullBuildOf(indexed, opts.now(), opts.info);
    quickSpecs = indexed.length;
    writeFiles(staging, plan, false);
    linkPool(staging, pool);
    writeState(staging, plan, null);
    publish(dir, staging, next, () => {
      published = true;
    });
  } catch (e) {
    // Not published: the new pool is nobody's.
    if (!published) rmSync(pool, { recursive: true, force: true });
    throw e;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const result: StaticIndexResult = {
    mode: 'full',
    gems: plan.added,
    names: plan.names,
    added: plan.added,
    removed: 0,
    written: quickSpecs + plan.writes.length,
    deleted: 0,
  };
  if (fullReason) result.fullReason = fullReason;
  return result;
}
