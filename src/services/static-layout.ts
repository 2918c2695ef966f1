/**
 * The on-disk layout of a static gem source, published through one atomic switch.
 *
 * Every run of `quarry index DIR` builds a complete generation of the index in
 * DIR/.quarry/staging-*, renames it to DIR/.quarry/gen-N, and publishes it by one rename(2) of
 * the symlink DIR/.quarry/current (-> gen-N). The public names in DIR (versions, names, info,
 * quick, the legacy lists) are symlinks through it (DIR/versions -> .quarry/current/versions), so
 * a reader that resolves a path sees either the old generation or the new one, whole, whenever
 * the run is killed. Quick specs are pooled: DIR/.quarry/pool-K/quick holds them, a full build
 * starts a new pool, an update adds to the current one before the switch and removes from it after.
 *
 * Anything a killed run left (staging folders, generations and pools that are not current) is
 * removed by the next run, which holds DIR/.quarry/lock.
 */
import { randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
  symlinkSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** The public names, in the order an old layout's real files are replaced by links. */
export const PUBLIC_NAMES = [
  'quick',
  'info',
  'names',
  'versions',
  'specs.4.8',
  'specs.4.8.gz',
  'latest_specs.4.8',
  'latest_specs.4.8.gz',
  'prerelease_specs.4.8',
  'prerelease_specs.4.8.gz',
] as const;

export const QUARRY_DIR = '.quarry';
const CURRENT = 'current';

export interface Generation {
  /** e.g. gen-7 */
  name: string;
  n: number;
  /** Absolute path of the generation folder. */
  path: string;
  /** Absolute path of the pool folder its quick/ links to (holds quick/Marshal.4.8), or null. */
  pool: string | null;
}

const numberOf = (name: string, prefix: string): number | null => {
  const m = new RegExp(`^${prefix}-(\\d+)$`).exec(name);
  return m ? Number(m[1]) : null;
};

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EINVAL') return null;
    throw e;
  }
}

/** The published generation of `dir`, or null when there is none (or it is gone). */
export function currentGeneration(dir: string): Generation | null {
  const q = join(dir, QUARRY_DIR);
  const target = readlinkOrNull(join(q, CURRENT));
  if (target === null) return null;
  const name = basename(target);
  const n = numberOf(name, 'gen');
  if (n === null || target !== name) return null;
  const path = join(q, name);
  if (!lstatOrNull(path)?.isDirectory()) return null;
  const quick = readlinkOrNull(join(path, 'quick'));
  const pool = quick === null ? null : dirname(resolve(path, quick));
  return { name, n, path, pool };
}

/**
 * Removes what earlier runs left in DIR/.quarry: staging folders, generations and pools other than
 * `keep`'s, temporary links. Each is first renamed to a `trash-*` name (so nothing half-deleted
 * keeps a name a run looks for), then deleted in the background: the returned promise settles when
 * the deletions are done. `next` is the number after the highest generation or pool number seen.
 */
export function removeLeftovers(dir: string, keep: Generation | null): { next: number; done: Promise<void> } {
  const q = join(dir, QUARRY_DIR);
  let next = (keep?.n ?? 0) + 1;
  let entries: string[];
  try {
    entries = readdirSync(q);
  } catch {
    return { next, done: Promise.resolve() };
  }
  const keepPool = keep?.pool ? basename(keep.pool) : null;
  const doomed: string[] = [];
  for (const e of entries) {
    const gen = numberOf(e, 'gen');
    const pool = numberOf(e, 'pool');
    const n = gen ?? pool;
    if (n !== null && n >= next) next = n + 1;
    const stale =
      e.startsWith('staging-') ||
      e.startsWith('.tmp-') ||
      e.startsWith('trash-') ||
      (gen !== null && e !== keep?.name) ||
      (pool !== null && e !== keepPool);
    if (!stale) continue;
    if (e.startsWith('trash-')) doomed.push(join(q, e));
    else {
      const trash = join(q, `trash-${randomBytes(4).toString('hex')}-${e}`);
      renameSync(join(q, e), trash);
      doomed.push(trash);
    }
  }
  const done = Promise.all(doomed.map((d) => rm(d, { recursive: true, force: true }))).then(() => {});
  return { next, done };
}

export const newStaging = (dir: string): string =>
  join(dir, QUARRY_DIR, `staging-${process.pid}-${randomBytes(4).toString('hex')}`);

/** Points `link` at `target` with one rename(2): a reader sees the old target or the new one. */
function replaceLink(link: string, target: string): void {
  const tmp = join(dirname(link), `.tmp-link-${process.pid}-${randomBytes(4).toString('hex')}`);
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, link);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Publishes the finished generation in `staging` as generation `n`: renames it into place, makes
 * sure every public name is a link through DIR/.quarry/current (a missing one is created first,
 * and resolves to nothing until the switch), switches `current` with one rename, and then replaces
 * what an older layout left as real files or folders (one by one: only that first run is not
 * atomic across files). Calls `onSwitched` right after the switch. Returns the new generation.
 */
export function publishGeneration(
  dir: string,
  staging: string,
  n: number,
  onSwitched: () => void = () => {},
): Generation {
  const q = join(dir, QUARRY_DIR);
  const name = `gen-${n}`;
  const path = join(q, name);
  renameSync(staging, path);
  const foreign: string[] = [];
  for (const p of PUBLIC_NAMES) {
    const at = join(dir, p);
    const want = `${QUARRY_DIR}/${CURRENT}/${p}`;
    const st = lstatOrNull(at);
    if (st === null) symlinkSync(want, at);
    else if (!st.isSymbolicLink() || readlinkSync(at) !== want) foreign.push(p);
  }
  replaceLink(join(q, CURRENT), name);
  onSwitched();
  for (const p of foreign) {
    const at = join(dir, p);
    const want = `${QUARRY_DIR}/${CURRENT}/${p}`;
    const st = lstatSync(at);
    if (st.isDirectory()) {
      // rename(2) cannot put a link over a folder: move the folder aside first.
      const trash = join(q, `trash-${randomBytes(4).toString('hex')}-${p}`);
      renameSync(at, trash);
      symlinkSync(want, at);
      rmSync(trash, { recursive: true, force: true });
    } else {
      replaceLink(at, want);
    }
  }
  const quick = readlinkOrNull(join(path, 'quick'));
  return { name, n, path, pool: quick === null ? null : dirname(resolve(path, quick)) };
}

/** Creates `path`'s folder and any missing parents. */
export const ensureDir = (path: string): void => {
  mkdirSync(path, { recursive: true });
};
