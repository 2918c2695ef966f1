/** Run markers of `quarry mirror` and `quarry import`, and the clean-up of what killed runs left. */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { BlobStore } from '../blobs/types.ts';
import { alive } from '../util/atomic-fs.ts';

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
