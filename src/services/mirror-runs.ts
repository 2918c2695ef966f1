/**
 * Run markers of `quarry mirror` and `quarry import`, the clean-up of what killed runs left, and
 * the marks of complete `--all` runs (where the upstream's /versions stood).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { BlobStore } from '../blobs/types.ts';
import { alive } from '../util/atomic-fs.ts';
import type { MirrorPlan } from './mirror.ts';

/** The PID in a temp file name of writeFileAtomic (.tmp-PID-HEX), or null. */
const tempPid = (name: string): number | null => {
  const m = /^\.tmp-(\d+)-[0-9a-f]+$/.exec(name);
  return m ? Number(m[1]) : null;
};

/**
 * Marks a mirror or import run in DATA/.runs (one file per run, HOST-PID), and removes the temp
 * files of earlier runs on this host that were killed (their marker remains, their process is
 * gone): a SIGKILL in the middle of a blob write leaves its `.tmp-PID-…` file behind, and the next
 * run clears it before it starts. Temp files of live processes, of other hosts sharing the store,
 * and of other writers (pushes, proxy fills) are never touched. Call the returned function when the
 * run ends.
 */
export async function markRun(
  dataDir: string,
  blobs: BlobStore,
  o: { to?: string } = {},
): Promise<() => void> {
  const dir = join(dataDir, '.runs');
  mkdirSync(dir, { recursive: true });
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
  const dead = new Map<number, string>();
  for (const f of readdirSync(dir)) {
    const at = f.lastIndexOf('-');
    const pid = Number(f.slice(at + 1));
    if (f.slice(0, at) !== host || !Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    dead.set(pid, join(dir, f));
  }
  const mine = join(dir, `${host}-${process.pid}`);
  writeFileSync(mine, `${new Date().toISOString()}\n`);
  if (dead.size > 0) {
    if (blobs.tempFiles && blobs.removeTempFile) {
      for await (const t of blobs.tempFiles()) {
        const pid = tempPid(basename(t.path));
        if (pid !== null && dead.has(pid)) await blobs.removeTempFile(t.path);
      }
    }
    const gems = o.to ? join(o.to, 'gems') : null;
    if (gems && existsSync(gems)) {
      for (const f of readdirSync(gems)) {
        const pid = tempPid(f);
        if (pid !== null && dead.has(pid)) rmSync(join(gems, f), { force: true });
      }
    }
    for (const marker of dead.values()) rmSync(marker, { force: true });
  }
  return () => rmSync(mine, { force: true });
}

/**
 * The choices of a whole-source plan that decide which versions it copies and yanks (with the
 * upstream configuration's exclude list), as a short hash: a mark of a complete run applies only to
 * runs that would choose the same.
 */
export function planKey(
  plan: MirrorPlan,
  syncYanks: boolean,
  upstreamExclude: readonly string[] = [],
): string {
  const choices = {
    latest: plan.latest,
    platforms: [...plan.platforms].sort(),
    pre: plan.pre,
    exclude: [...plan.exclude].sort(),
    syncYanks,
    // The upstream's own `exclude` (its configuration) leaves names out as --exclude does.
    upstreamExclude: [...upstreamExclude].sort(),
  };
  return createHash('sha256').update(JSON.stringify(choices)).digest('hex').slice(0, 32);
}

/**
 * The names to resolve from the mark of a complete run: those on the lines after it, when the body
 * starts with the bytes the mark was made from (size and SHA-256); else null (every name: the
 * upstream rewrote /versions, or this is another file).
 */
export function namesSinceMark(
  body: Buffer,
  mark: { versionsSize: number; versionsSha256: string },
): Set<string> | null {
  const names = changedNames(body, mark.versionsSize);
  if (!names) return null;
  const sha = createHash('sha256').update(body.subarray(0, mark.versionsSize)).digest('hex');
  return sha === mark.versionsSha256 ? names : null;
}

/**
 * The names on the lines of a /versions body from byte `from` to its end, each once, in order of
 * first appearance; null when `from` is not the start of a line within the body (not a mark of
 * this file: every name must be resolved).
 */
export function changedNames(body: Buffer, from: number): Set<string> | null {
  if (!Number.isSafeInteger(from) || from < 1 || from > body.length || body[from - 1] !== 0x0a) return null;
  const names = new Set<string>();
  for (let at = from; at < body.length; ) {
    let end = body.indexOf(0x0a, at);
    if (end < 0) end = body.length;
    const space = body.indexOf(0x20, at);
    if (space > at && space < end) names.add(body.toString('latin1', at, space));
    at = end + 1;
  }
  return names;
}
