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
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import type { BlobStore } from '../blobs/types.ts';
import type { Catalog } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';
import type { ClosureEntry, ClosureRoot } from '../index/closure.ts';
import { resolveClosure } from '../index/closure.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import { excluded } from '../upstream/policy.ts';
import { writeFileAtomic } from '../util/atomic-fs.ts';
import type { GemService } from './gems.ts';
import type { UpstreamSource } from './upstream-source.ts';

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
  /** Write .gem files into DIR/gems instead of the catalog. */
  to?: string;
  onProgress?: (p: MirrorProgress) => void;
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

export interface MirrorReport {
  planned: ClosureEntry[];
  fetched: string[];
  present: string[];
  failed: MirrorFailure[];
  missing: string[];
  /** Names left out by --exclude (not a failure). */
  excluded: string[];
  yanked: string[];
  bytes: number;
  /** For --dry-run: the total size of what would be fetched, when the upstream says it. */
  wouldFetchBytes: number;
}

export interface MirrorDeps {
  source: UpstreamSource;
  client: UpstreamClient;
  catalog: Catalog;
  gems: GemService;
  sleep?: (ms: number) => Promise<void>;
}

const fileOf = (e: Pick<ClosureEntry, 'name' | 'token'>): string => `${e.name}-${e.token}`;

export class Mirror {
  constructor(private readonly d: MirrorDeps) {}

  private async roots(plan: MirrorPlan): Promise<ClosureRoot[]> {
    if (!plan.all) return plan.roots;
    const v = await this.d.source.versions();
    const out: ClosureRoot[] = [];
    for (const [name, live] of v.live) if (live.tokens.length > 0) out.push({ name, requirement: [] });
    return out;
  }

  async run(plan: MirrorPlan, o: MirrorOptions): Promise<MirrorReport> {
    const upstream = this.d.source.name;
    // /versions first (revalidated: a Range request when a copy is stored), so that each /info is
    // asked again only when its MD5 changed.
    const versions = await this.d.source.versions(true);
    const roots = await this.roots(plan);
    let resolved = 0;
    const closure = await resolveClosure(
      roots,
      async (name) => {
        const md5 = versions.live.get(name)?.infoMd5;
        const lines = md5 === undefined ? null : await this.d.source.infoLines(name, md5);
        o.onProgress?.({ phase: 'resolve', done: ++resolved, total: roots.length, bytes: 0 });
        return lines;
      },
      {
        platforms: plan.platforms,
        pre: plan.pre,
        latest: plan.latest,
        excluded: (n) => excluded(plan.exclude, n),
        follow: plan.follow && !plan.all,
        concurrency: o.concurrency,
      },
    );
    const report: MirrorReport = {
      planned: closure.entries,
      fetched: [],
      present: [],
      failed: [],
      missing: closure.missing,
      excluded: closure.excluded,
      yanked: [],
      bytes: 0,
      wouldFetchBytes: 0,
    };
    const todo: ClosureEntry[] = [];
    const present = await this.presentCheck(o.to);
    for (const e of closure.entries) {
      if (await present(e)) report.present.push(fileOf(e));
      else todo.push(e);
    }
    if (o.dryRun) {
      report.wouldFetchBytes = await this.sizes(todo, o.concurrency);
      report.fetched = todo.map(fileOf);
      return report;
    }
    let done = 0;
    const queue = [...todo];
    const worker = async (): Promise<void> => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        try {
          const bytes = await this.fetchOne(e, upstream, o);
          report.fetched.push(fileOf(e));
          report.bytes += bytes;
        } catch (err) {
          report.failed.push({ file: fileOf(e), reason: (err as Error).message });
        }
        o.onProgress?.({ phase: 'fetch', done: ++done, total: todo.length, bytes: report.bytes });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
    if (o.syncYanks && !o.to) report.yanked = await this.syncYanks(upstream, versions.live);
    report.fetched.sort();
    report.failed.sort((a, b) => (a.file < b.file ? -1 : 1));
    return report;
  }

  /**
   * Already here with the upstream's bytes? One catalog query per name that has versions here
   * (entries come sorted by name), none for the names the catalog does not know: a first mirror of
   * a large source asks nothing per gem.
   */
  private async presentCheck(to: string | undefined): Promise<(e: ClosureEntry) => Promise<boolean>> {
    if (to) return async (e) => existsSync(join(to, 'gems', `${fileOf(e)}.gem`));
    const known = new Set(await this.d.catalog.gemNames());
    let cached: { name: string; sha: Map<string, string> } | null = null;
    return async (e) => {
      if (!known.has(e.name)) return false;
      if (cached?.name !== e.name) {
        const sha = new Map<string, string>();
        for (const v of await this.d.catalog.allVersions(e.name))
          sha.set(`${v.number} ${v.platform}`, v.sha256);
        cached = { name: e.name, sha };
      }
      const sha = cached.sha.get(`${e.version} ${e.platform}`);
      return sha !== undefined && (e.checksum === null || sha === e.checksum);
    };
  }

  /** Sizes from HEAD requests (Content-Length), for --dry-run. */
  private async sizes(todo: readonly ClosureEntry[], concurrency: number): Promise<number> {
    let total = 0;
    const queue = [...todo];
    const worker = async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        const n = await this.d.client.size(`gems/${fileOf(e)}.gem`).catch(() => null);
        if (n !== null) total += n;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return total;
  }

  /** Downloads, verifies and records one gem, with retries and backoff. Returns its size. */
  private async fetchOne(e: ClosureEntry, upstream: string, o: MirrorOptions): Promise<number> {
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
        if (o.to) await writeFileAtomic(join(o.to, 'gems', `${file}.gem`), r.body);
        else await this.d.gems.mirrorGem(r.body, upstream);
        return r.body.length;
      } catch (err) {
        last = err;
        // A 404 or a conflict will not change on a retry.
        if (err instanceof QuarryError && (err.code === 'not_found' || err.code === 'conflict')) break;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  /** Yanks here the versions mirrored from this upstream that it no longer lists. */
  private async syncYanks(
    upstream: string,
    live: ReadonlyMap<string, { tokens: string[] }>,
  ): Promise<string[]> {
    const out: string[] = [];
    const origin = `mirror:${upstream}`;
    const names = await this.d.catalog.gemNames();
    for (const name of names) {
      const tokens = new Set(live.get(name)?.tokens ?? []);
      for (const v of await this.d.catalog.liveVersions(name)) {
        if (v.origin !== origin) continue;
        const token = v.platform === 'ruby' ? v.number : `${v.number}-${v.platform}`;
        if (tokens.has(token)) continue;
        await this.d.gems.yank(name, v.number, v.platform);
        out.push(`${name}-${token}`);
      }
    }
    return out;
  }
}

/** True when a process with this PID exists on this host. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
