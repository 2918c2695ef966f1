/** Small filesystem helpers for writers that must never leave a half-written file behind. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `body` to a temp file beside `path`, then renames it over `path` (atomic on POSIX).
 * `knownDirs`: folders already made, skipped (a folder removed since is made again); the folder
 * is added once made.
 */
export async function writeFileAtomic(
  path: string,
  body: Uint8Array | string,
  knownDirs?: Set<string>,
): Promise<void> {
  const dir = dirname(path);
  const made = knownDirs?.has(dir) ?? false;
  if (!made) await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    try {
      await writeFile(tmp, body);
    } catch (e) {
      if (!made || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await mkdir(dir, { recursive: true });
      await writeFile(tmp, body);
    }
    await rename(tmp, path);
  } catch (e) {
    knownDirs?.delete(dir);
    await rm(tmp, { force: true });
    throw e;
  }
  if (knownDirs && !made) {
    if (knownDirs.size >= 100_000) knownDirs.clear();
    knownDirs.add(dir);
  }
}

/** writeFileAtomic, blocking: for a thread whose only work is writing (src/util/file-writer.ts). */
export function writeFileAtomicSync(path: string, body: Uint8Array, knownDirs?: Set<string>): void {
  const dir = dirname(path);
  const made = knownDirs?.has(dir) ?? false;
  if (!made) mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    try {
      writeFileSync(tmp, body);
    } catch (e) {
      if (!made || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, body);
    }
    renameSync(tmp, path);
  } catch (e) {
    knownDirs?.delete(dir);
    rmSync(tmp, { force: true });
    throw e;
  }
  if (knownDirs && !made) {
    if (knownDirs.size >= 100_000) knownDirs.clear();
    knownDirs.add(dir);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** True when a process with this PID exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock file `path` for this process, or returns the PID of the live process holding it.
 * A lock left by a process that is gone is taken over (`onStale` is told: that process died
 * mid-run). Returns a release function on success.
 */
export function takeLock(path: string, onStale?: (pid: number) => void): (() => void) | number {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(path, 'utf8').trim());
    } catch (e) {
      // Removed by its holder in the meantime: try again.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) return holder;
    onStale?.(holder);
    rmSync(path, { force: true });
  }
  throw new Error(`could not take the lock ${path}`);
}
