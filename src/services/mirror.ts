/**
 * `quarry mirror`: copies chosen gems with their dependency closure (or a whole source) from an
 * upstream into this catalog and blob store, or into a folder for `quarry index`.
 *
 * - The upstream's compact index is read through an UpstreamSource, whose copies of /versions and
 *   /info persist in the blob store: a later run revalidates /versions with a Range request and
 *   asks again only for the /info files whose MD5 changed.
 * - Downloads run in parallel over keep-alive connections, with retries and backoff. Each .gem is
 *   checked against the upstream's SHA-256 before it is recorded, and stored before its catalog row,
 *   so a run killed at any point leaves no half-stored gem and the next run goes on where it stopped.
 * - Memory holds the closure and at most `concurrency` gems, never the whole source.
 * - A whole source (--all) that completes is marked (mirror-marks.ts): the next run with the same
 *   choices resolves only the names on /versions lines after the mark.
 *
 * The parts: mirror-catalog.ts (already here? yanked upstream?), mirror-recorder.ts (catalog rows
 * in batches), mirror-marks.ts (marks of complete runs, no IO), mirror-runs.ts (run markers).
 */

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Catalog } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';
import type { ClosureEntry, ClosureRoot } from '../index/closure.ts';
import { resolveClosure } from '../index/closure.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import { excluded } from '../upstream/policy.ts';
import { fileWriter } from '../util/file-writer.ts';
import { WorkQueue } from '../util/work-queue.ts';
import type { GemService, StagedGem } from './gems.ts';
import { fileOf, presentCheck, syncYanks } from './mirror-catalog.ts';
import { namesSinceMark, planKey } from './mirror-marks.ts';
import { Recorder } from './mirror-recorder.ts';
import type { UpstreamSource } from './upstream-source.ts';

export { markRun } from './mirror-runs.ts';

export interface MirrorPlan {
  /** Named gems with requirements, lockfile entries (exact), or every name (--all). */
  roots: ClosureRoot[];
  all: boolean;
  latest: number;
  platforms: string[];
  pre: boolean;
  exclude: string[];
  /** Follow runtime dependencies (not for lockfiles: their entries are the closure). */
  follow: boolean;
}

export interface MirrorOptions {
  concurrency: number;
  retries: number;
  dryRun: boolean;
  syncYanks: boolean;
  /**
   * A whole source (--all): resolve every name, even when an earlier complete run with the same
   * plan marked where the upstream's /versions stood (then only the names on later lines are).
   */
  recheck?: boolean;
  /** Write .gem files into DIR/gems instead of the catalog. */
  to?: string;
  onProgress?: (p: MirrorProgress) => void;
  /**
   * Told of each file (NAME-VERSION[-PLATFORM], no .gem) once it is settled: fetched and recorded,
   * already here, or (--dry-run) to be fetched. The report itself keeps only counts.
   */
  onFile?: (kind: 'fetched' | 'present' | 'would_fetch', file: string) => void;
}

export interface MirrorProgress {
  phase: 'resolve' | 'fetch';
  done: number;
  total: number;
  bytes: number;
}

export interface MirrorFailure {
  file: string;
  reason: string;
}

/** What a run did: counts, and the names of what failed, was missing or left out (never per gem). */
export interface MirrorReport {
  /** Files in the closure (or the whole source). */
  planned: number;
  fetched: number;
  present: number;
  failed: MirrorFailure[];
  missing: string[];
  /** Names left out by --exclude (not a failure). */
  excluded: string[];
  yanked: string[];
  bytes: number;
  /** For --dry-run: how many files would be fetched, and their total size when the upstream says it. */
  wouldFetch: number;
  wouldFetchBytes: number;
  /**
   * A whole source resolved from the mark of an earlier complete run: the names on /versions lines
   * after it (the others were all here then). Null when every name was resolved.
   */
  changedSince: { recordedAt: string; names: number } | null;
  /**
   * Names whose /info lacks versions that /versions lists (the upstream failed and the stored copy
   * was used, or a cache before it is behind): those versions are missing until a later run.
   */
  stale: string[];
}

export interface MirrorDeps {
  source: UpstreamSource;
  client: UpstreamClient;
  catalog: Catalog;
  gems: GemService;
  sleep?: (ms: number) => Promise<void>;
  /** Wall clock, for the marks of complete runs. */
  now: () => Date;
}

/** Names of a whole source (--all) resolved at a time: the closure is never held whole. */
const ALL_CHUNK = 512;
/** Staged gems whose blob writes may be under way at once (their bytes are held meanwhile). */
const STORES_MAX = 64;
const STORES_BYTES_MAX = 16 * 1024 * 1024;
/** Entries waiting for a download before the resolution waits for them. */
const QUEUE_MAX = 2048;

export class Mirror {
  constructor(private readonly d: MirrorDeps) {}

  async run(plan: MirrorPlan, o: MirrorOptions): Promise<MirrorReport> {
    const upstream = this.d.source.name;
    // /versions first (revalidated: a Range request when a copy is stored), so that each /info is
    // asked again only when its MD5 changed.
    const versions = await this.d.source.versions(true);
    const report: MirrorReport = {
      planned: 0,
      fetched: 0,
      present: 0,
      failed: [],
      missing: [],
      excluded: [],
      yanked: [],
      bytes: 0,
      wouldFetch: 0,
      wouldFetchBytes: 0,
      changedSince: null,
      stale: [],
    };
    // A whole source copied into the catalog: where the last complete run with this plan stood.
    const markPlan =
      plan.all && !o.to && !o.dryRun ? planKey(plan, o.syncYanks, this.d.source.config.exclude) : null;
    const mark = markPlan && !o.recheck ? await this.d.catalog.mirrorMark(upstream, markPlan) : null;
    const changed = mark ? namesSinceMark(versions.doc.body, mark) : null;
    if (mark && changed) report.changedSince = { recordedAt: mark.recordedAt, names: changed.size };
    const present = await presentCheck(this.d.catalog, o.to);
    const queue = new WorkQueue<ClosureEntry>();
    const recorder = o.to || o.dryRun ? null : new Recorder(this.d.gems, report, o);
    let done = 0;
    let resolving = true;
    const progress = () =>
      o.onProgress?.({
        phase: resolving ? 'resolve' : 'fetch',
        done,
        total: report.planned,
        bytes: report.bytes,
      });
    const wouldFetch: ClosureEntry[] = [];
    /** Blob writes of staged gems not done yet, with their sizes. */
    const storing = new Map<Promise<void>, number>();
    let storingBytes = 0;
    // Downloads start as soon as the first entries are chosen, while the rest is resolved.
    const worker = async (): Promise<void> => {
      for (let e = await queue.take(); e; e = await queue.take()) {
        const file = fileOf(e);
        try {
          if (await present(e)) {
            report.present++;
            o.onFile?.('present', file);
          } else if (o.dryRun) {
            wouldFetch.push(e);
          } else {
            const got = await this.fetchOne(e, upstream, o);
            report.bytes += got.size;
            if (got.staged) {
              // The download slot is free while the blob is written: at most STORES_MAX writes or
              // STORES_BYTES_MAX bytes wait, then the downloads wait for the disk.
              const stored = got.staged.stored;
              storing.set(stored, got.size);
              storingBytes += got.size;
              void stored
                .catch(() => {})
                .finally(() => {
                  storing.delete(stored);
                  storingBytes -= got.size;
                });
              while (storing.size >= STORES_MAX || storingBytes >= STORES_BYTES_MAX)
                await Promise.race([...storing.keys()].map((p) => p.catch(() => {})));
            }
            if (got.staged && recorder) await recorder.add(file, got.staged);
            else {
              report.fetched++;
              o.onFile?.('fetched', file);
            }
          }
        } catch (err) {
          report.failed.push({ file, reason: (err as Error).message });
        }
        done++;
        progress();
      }
    };
    const workers = Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
    const onEntry = (e: ClosureEntry) => {
      report.planned++;
      queue.push(e);
    };
    const closureOptions = {
      platforms: plan.platforms,
      pre: plan.pre,
      latest: plan.latest,
      // Names the upstream's configuration excludes are left out as --exclude leaves them out.
      excluded: (n: string) => excluded(plan.exclude, n) || !this.d.source.allows(n),
      concurrency: o.concurrency,
      onEntry,
    };
    let resolved = 0;
    const info = async (name: string) => {
      const live = versions.live.get(name);
      const got = live === undefined ? null : await this.d.source.infoLinesOf(name, live.infoMd5);
      // Another body than /versions names: stale when it lacks a version /versions lists (a newer
      // one, from a push since /versions was read, lists them all).
      if (got && live && got.md5 !== live.infoMd5) {
        const listed = new Set(got.lines.map((l) => l.token));
        if (live.tokens.some((t) => !listed.has(t))) report.stale.push(name);
      }
      resolved++;
      return got?.lines ?? null;
    };
    try {
      if (plan.all) {
        // A whole source: its names in chunks, each resolved while the earlier ones download.
        let chunk: ClosureRoot[] = [];
        const total = changed?.size ?? versions.live.size;
        const flush = async () => {
          const r = await resolveClosure(chunk, info, { ...closureOptions, follow: false });
          report.missing.push(...r.missing);
          report.excluded.push(...r.excluded);
          chunk = [];
          o.onProgress?.({ phase: 'resolve', done: resolved, total, bytes: report.bytes });
          await queue.roomFor(QUEUE_MAX);
        };
        // Names with no live version are not asked for (a yank of the last one is for syncYanks).
        const names = changed
          ? [...changed].filter((n) => (versions.live.get(n)?.tokens.length ?? 0) > 0)
          : (function* () {
              for (const [name, live] of versions.live) if (live.tokens.length > 0) yield name;
            })();
        for (const name of names) {
          chunk.push({ name, requirement: [] });
          if (chunk.length >= ALL_CHUNK) await flush();
        }
        if (chunk.length > 0) await flush();
      } else {
        const r = await resolveClosure(plan.roots, info, { ...closureOptions, follow: plan.follow });
        report.missing.push(...r.missing);
        report.excluded.push(...r.excluded);
      }
    } finally {
      resolving = false;
      queue.close();
      await workers;
      await recorder?.flush();
    }
    if (o.dryRun) {
      wouldFetch.sort((a, b) => (fileOf(a) < fileOf(b) ? -1 : 1));
      report.wouldFetch = wouldFetch.length;
      report.wouldFetchBytes = await this.sizes(wouldFetch, o.concurrency);
      for (const e of wouldFetch) o.onFile?.('would_fetch', fileOf(e));
    }
    // This catalog's log as of the yank check: rows after it (versions recorded here meanwhile, by
    // any run) are checked again by the next run from the mark.
    const localSeq = markPlan ? await this.d.catalog.versionsLogSeq() : 0;
    if (o.syncYanks && !o.to && !o.dryRun) {
      // From a mark: the names changed upstream since, and the names changed here since the last check.
      const only =
        mark && changed
          ? new Set([...changed, ...(await this.d.catalog.versionsLogNamesSince(mark.localSeq))])
          : undefined;
      report.yanked = await syncYanks(this.d.catalog, this.d.gems, upstream, versions.live, only);
    }
    report.missing.sort();
    report.excluded.sort();
    report.stale.sort();
    report.failed.sort((a, b) => (a.file < b.file ? -1 : 1));
    // Complete: every version this /versions lists, as the plan chooses them, is here now.
    const complete = report.failed.length === 0 && report.missing.length === 0 && report.stale.length === 0;
    if (markPlan && complete) {
      await this.d.catalog.recordMirrorMark({
        upstream,
        plan: markPlan,
        versionsSize: versions.doc.body.length,
        versionsSha256: versions.doc.sha256,
        localSeq,
        recordedAt: this.d.now().toISOString(),
      });
    }
    return report;
  }

  /** Sizes from HEAD requests (Content-Length), for --dry-run. */
  private async sizes(todo: readonly ClosureEntry[], concurrency: number): Promise<number> {
    let total = 0;
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const e = todo[next++]!;
        const n = await this.d.client.size(`gems/${fileOf(e)}.gem`).catch(() => null);
        if (n !== null) total += n;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return total;
  }

  /**
   * Downloads and verifies one gem, with retries and backoff, then stores it: into the --to folder,
   * or read, checked and stored in the blob store for the recorder (staged). Returns its size.
   */
  private async fetchOne(
    e: ClosureEntry,
    upstream: string,
    o: MirrorOptions,
  ): Promise<{ size: number; staged: StagedGem | null }> {
    const file = fileOf(e);
    if (!e.checksum)
      throw new QuarryError('upstream_bad_gateway', `the upstream gives no checksum for ${file}`);
    const sleep = this.d.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    let last: unknown;
    for (let attempt = 0; attempt <= o.retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(5_000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random()));
      try {
        const r = await this.d.client.get(`gems/${file}.gem`);
        if (r.status === 404 || r.status === 410)
          throw new QuarryError('not_found', `gems/${file}.gem: upstream answered ${r.status}`);
        if (r.status !== 200)
          throw new QuarryError('upstream_bad_gateway', `gems/${file}.gem: upstream answered ${r.status}`);
        const sha = createHash('sha256').update(r.body).digest('hex');
        if (sha !== e.checksum) {
          throw new QuarryError(
            'upstream_bad_gateway',
            `gems/${file}.gem: SHA-256 ${sha} does not match the upstream's checksum ${e.checksum}`,
          );
        }
        // A temp file (.tmp-PID-…) and a rename: a reader sees all of it or none.
        if (o.to) {
          await fileWriter.write(join(o.to, 'gems', `${file}.gem`), r.body);
          return { size: r.body.length, staged: null };
        }
        // The SHA-256 just checked is the gem's: not computed again.
        return {
          size: r.body.length,
          staged: await this.d.gems.stageMirrored(r.body, upstream, { sha256: sha }),
        };
      } catch (err) {
        last = err;
        // A 404 or a gem that cannot be read will not change on a retry.
        if (err instanceof QuarryError && !err.code.startsWith('upstream_')) break;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }
}
