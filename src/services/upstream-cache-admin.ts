/**
 * Inspecting and trimming the cached upstream .gem files (`quarry cache list | prune`). Pruning
 * forgets cached gems fetched before a cutoff and removes their blobs unless a hosted version or
 * another cached gem shares the bytes: hosted gems are never touched. Offline work, not for the
 * request path: a node may fetch the same gem again later, which is harmless.
 */
import { gemBlobKey } from '../blobs/keys.ts';
import type { BlobStore } from '../blobs/types.ts';
import type { CachedGem, Catalog } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';

/** `30d`, `12h`, `45m`: a duration in milliseconds. */
export function parseAge(input: string): number {
  const m = /^(\d+)([dhm])$/.exec(input.trim());
  if (!m) throw new QuarryError('bad_request', `age "${input}" is not like 30d, 12h or 45m`);
  const n = Number(m[1]);
  return n * (m[2] === 'd' ? 86_400_000 : m[2] === 'h' ? 3_600_000 : 60_000);
}

export interface PruneResult {
  /** Cached gems forgotten. */
  forgotten: CachedGem[];
  /** Blobs removed (bytes no hosted version or other cached gem shares). */
  removedBlobs: number;
  freedBytes: number;
}

export async function pruneCachedGems(
  catalog: Catalog,
  blobs: BlobStore,
  before: Date,
  o: { dryRun?: boolean; upstream?: string } = {},
): Promise<PruneResult> {
  const all = await catalog.listCachedGems();
  const old = all.filter(
    (g) =>
      Date.parse(g.fetchedAt) < before.getTime() && (o.upstream === undefined || g.upstream === o.upstream),
  );
  const oldKeys = new Set(old.map((g) => `${g.upstream}\u0000${g.file}`));
  const keep = new Set((await catalog.blobRefs()).map((r) => r.sha256));
  for (const g of all) if (!oldKeys.has(`${g.upstream}\u0000${g.file}`)) keep.add(g.sha256);
  let removedBlobs = 0;
  let freedBytes = 0;
  const removed = new Set<string>();
  for (const g of old) {
    if (!o.dryRun) await catalog.deleteCachedGem(g.upstream, g.file);
    if (keep.has(g.sha256) || removed.has(g.sha256)) continue;
    removed.add(g.sha256);
    removedBlobs++;
    freedBytes += g.size;
    if (!o.dryRun) await blobs.delete(gemBlobKey(g.sha256));
  }
  return { forgotten: old, removedBlobs, freedBytes };
}
