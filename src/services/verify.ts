/**
 * `quarry verify`: the catalog against the blob store.
 *
 * - Every blob a version (live or yanked) refers to is read as a stream and hashed: a blob that is
 *   absent is "missing", one whose SHA-256 differs is "corrupt", one the store fails to read is
 *   "unreadable". These are the problems: nothing here can repair them.
 * - Every object under the gem folder that no version refers to is an orphan: the blob of a push
 *   whose catalog row never committed (or is still committing). With `fix`, orphans older than
 *   `minAgeMs` are deleted; younger ones may belong to a push under way and are kept.
 * - Stores that write through temp files (fs) list the leftovers of interrupted writes; with `fix`,
 *   the ones older than `minAgeMs` are removed.
 *
 * A referenced blob is never deleted. Before deleting, the catalog's references are read again, so
 * a push that committed a row for an orphan's bytes during the run keeps them. (A push checks that
 * its blob exists before it commits its row; a delete in the instant between the two would still
 * lose the blob, and the next verify reports it missing. Run --fix when pushes are rare.)
 */
import { createHash } from 'node:crypto';
import { GEM_BLOB_PREFIX, gemBlobKey } from '../blobs/keys.ts';
import type { BlobEntry, BlobStore } from '../blobs/types.ts';
import { readBlobStream } from '../blobs/types.ts';
import type { BlobRef, Catalog } from '../catalog/types.ts';
import { mapLimit } from '../util/atomic-fs.ts';

export const ONE_HOUR_MS = 60 * 60 * 1000;

export interface VerifyDeps {
  catalog: Pick<Catalog, 'blobRefs'>;
  blobs: BlobStore;
  /** Orphans and temp files are aged against this clock. */
  now: () => Date;
}

export interface VerifyOptions {
  /** Delete orphans and temp files older than minAgeMs. */
  fix?: boolean;
  /** Default one hour. */
  minAgeMs?: number;
  /** Blobs hashed at once (default 4). */
  concurrency?: number;
}

export interface BlobProblem {
  kind: 'missing' | 'corrupt' | 'unreadable';
  /** The .gem file name of a version that refers to the blob: NAME-VERSION[-PLATFORM].gem. */
  file: string;
  key: string;
  sha256: string;
  /** The size the catalog recorded. */
  size: number;
  /** For corrupt: what the store holds. */
  actualSha256?: string;
  actualSize?: number;
  /** For unreadable: the store's error. */
  error?: string;
}

/**
 * removed: deleted (--fix); recent: younger than the minimum age, kept; kept: no --fix;
 * referenced: a version came to refer to it during the run, kept.
 */
export type LeftoverAction = 'removed' | 'recent' | 'kept' | 'referenced';

export interface OrphanBlob {
  key: string;
  size: number;
  modified: string;
  action: LeftoverAction;
}

export interface TempLeftover {
  path: string;
  size: number;
  modified: string;
  action: Exclude<LeftoverAction, 'referenced'>;
}

export interface VerifyReport {
  /** Distinct blobs the catalog refers to. */
  referenced: number;
  /** Of those, how many were present and intact. */
  intact: number;
  problems: BlobProblem[];
  orphans: OrphanBlob[];
  tempFiles: TempLeftover[];
  /** True when no referenced blob is missing, corrupt or unreadable (orphans do not count). */
  ok: boolean;
}

async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    size += chunk.length;
  }
  return { sha256: h.digest('hex'), size };
}

async function check(blobs: BlobStore, ref: BlobRef): Promise<BlobProblem | null> {
  const key = gemBlobKey(ref.sha256);
  const base = { file: `${ref.fullName}.gem`, key, sha256: ref.sha256, size: ref.size };
  try {
    const stream = await readBlobStream(blobs, key);
    if (stream === null) return { kind: 'missing', ...base };
    const got = await hashStream(stream);
    if (got.sha256 === ref.sha256) return null;
    return { kind: 'corrupt', ...base, actualSha256: got.sha256, actualSize: got.size };
  } catch (e) {
    return { kind: 'unreadable', ...base, error: (e as Error).message };
  }
}

const referencedKeys = (refs: readonly BlobRef[]): Set<string> =>
  new Set(refs.map((r) => gemBlobKey(r.sha256)));

export async function verifyBlobs(deps: VerifyDeps, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { catalog, blobs } = deps;
  const fix = options.fix ?? false;
  const minAgeMs = options.minAgeMs ?? ONE_HOUR_MS;

  const refs = await catalog.blobRefs();
  const wanted = referencedKeys(refs);
  // Listed after the references were read: a blob pushed since is an orphan here, but a young one.
  const unreferenced: BlobEntry[] = [];
  for await (const e of blobs.list(GEM_BLOB_PREFIX, { md5: false })) {
    if (!wanted.has(e.key)) unreferenced.push(e);
  }

  const checked = await mapLimit(refs, options.concurrency ?? 4, (ref) => check(blobs, ref));
  const problems = checked.filter((p): p is BlobProblem => p !== null);
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));

  const cutoff = deps.now().getTime() - minAgeMs;
  const old = (modified: Date) => modified.getTime() <= cutoff;

  const orphans: OrphanBlob[] = [];
  // Read again just before deleting: a version committed during the run may now refer to an orphan.
  const stillWanted =
    fix && unreferenced.some((e) => old(e.modified)) ? referencedKeys(await catalog.blobRefs()) : wanted;
  for (const e of unreferenced) {
    let action: LeftoverAction;
    if (!fix) action = 'kept';
    else if (!old(e.modified)) action = 'recent';
    else if (stillWanted.has(e.key)) action = 'referenced';
    else {
      await blobs.delete(e.key);
      action = 'removed';
    }
    orphans.push({ key: e.key, size: e.size, modified: e.modified.toISOString(), action });
  }

  const tempFiles: TempLeftover[] = [];
  if (blobs.tempFiles) {
    for await (const t of blobs.tempFiles()) {
      let action: TempLeftover['action'];
      if (!fix || !blobs.removeTempFile) action = 'kept';
      else if (!old(t.modified)) action = 'recent';
      else {
        await blobs.removeTempFile(t.path);
        action = 'removed';
      }
      tempFiles.push({ path: t.path, size: t.size, modified: t.modified.toISOString(), action });
    }
  }

  return {
    referenced: refs.length,
    intact: refs.length - problems.length,
    problems,
    orphans,
    tempFiles,
    ok: problems.length === 0,
  };
}
