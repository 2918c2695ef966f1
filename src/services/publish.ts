/**
 * `quarry publish`: writes the complete static gem source (gems, quick specs, info/*, names,
 * versions, legacy indexes) into a blob store, usually an S3 bucket, incrementally and in safe order.
 *
 * 1. List the bucket's objects of the layout (with MD5s) and load the publisher's state
 *    (quarry/state.json.gz) with the bucket's /versions. A state that is missing, unreadable or does not
 *    match /versions means a full rebuild; otherwise the static planner appends to /versions: new
 *    gems as versions, gems gone from the source as yanks (`-VERSION`).
 * 2. Plan every object and compare it with the listing: only new or changed objects are uploaded.
 *    Objects of the layout the bucket lacks (a quick spec or info file deleted by hand) are rebuilt.
 * 3. Upload phase by phase (gems, quick specs, info, names, versions, state, legacy indexes), each
 *    phase finished before the next starts, then delete what the source no longer has.
 * Everything is parsed and planned before the first write; a dry run stops there.
 */
import type { BlobStore } from '../blobs/types.ts';
import { QuarryError } from '../errors.ts';
import type { InfoOptions } from '../index/compact.ts';
import { md5Hex } from '../index/compact.ts';
import type { DesiredObject, Phase, PublishState, RemoteObject } from '../index/publish-plan.ts';
import {
  diffObjects,
  expectedKeys,
  headersFor,
  infoWrites,
  listWrites,
  PHASES,
  PUBLISH_STATE_KEY,
  parsePublishState,
  phaseOf,
  stateBody,
} from '../index/publish-plan.ts';
import type { StaticPlan } from '../index/static-plan.ts';
import { planFullBuild, planUpdate, quickSpecBody } from '../index/static-plan.ts';
import type { PublishSource, SourceGem } from './publish-sources.ts';

export interface PublishOptions {
  /** The published prefix: keys are written relative to it. */
  target: BlobStore;
  source: PublishSource;
  now: () => Date;
  /** Plan and report, write nothing. */
  dryRun?: boolean;
  /** Requests in flight at once within a phase (default 8). */
  concurrency?: number;
  /** Allow an empty source to delete every gem in the bucket. */
  allowEmpty?: boolean;
  info?: InfoOptions;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export interface PublishedObject {
  key: string;
  size: number;
  reason: 'new' | 'changed';
}

export interface PublishResult {
  mode: 'full' | 'update';
  /** Why the publish rebuilt everything, when it did. */
  fullReason?: string;
  dryRun: boolean;
  gems: number;
  names: number;
  added: number;
  removed: number;
  /** Objects uploaded (or, in a dry run, to upload), in upload order; the state object is not counted. */
  uploads: PublishedObject[];
  uploadedBytes: number;
  /** Objects of the layout already in the bucket with the same content. */
  unchanged: number;
  /** Keys deleted (or to delete), in deletion order. */
  deletes: string[];
  /** Whether quarry/state.json.gz was (or would be) written. */
  stateWritten: boolean;
}

interface PlannedObject extends DesiredObject {
  /** Index bodies are built in memory; gems are read from the source when uploaded. */
  body?: Buffer;
  gem?: SourceGem;
}

/** The prefixes holding keys of the layout; top-level files are listed by their own names. */
const LIST_PREFIXES = [
  'gems/',
  'quick/Marshal.4.8/',
  'info/',
  'quarry/',
  'names',
  'versions',
  'specs.4.8',
  'latest_specs.4.8',
  'prerelease_specs.4.8',
];

async function listRemote(target: BlobStore): Promise<Map<string, RemoteObject>> {
  const lists = await Promise.all(
    LIST_PREFIXES.map(async (prefix) => {
      const out: [string, RemoteObject][] = [];
      for await (const e of target.list(prefix)) {
        if (phaseOf(e.key) !== null) out.push([e.key, { size: e.size, md5: e.md5 }]);
      }
      return out;
    }),
  );
  return new Map(lists.flat());
}

async function loadRemoteState(
  target: BlobStore,
  remote: ReadonlyMap<string, RemoteObject>,
): Promise<{ state: PublishState; versions: string } | string> {
  const raw = remote.has(PUBLISH_STATE_KEY) ? await target.get(PUBLISH_STATE_KEY) : null;
  if (!raw) return 'no publish state in the bucket';
  const state = parsePublishState(raw);
  if (typeof state === 'string') return state;
  const versions = remote.has('versions') ? await target.get('versions') : null;
  if (!versions) return 'the bucket has no versions file';
  if (versions.length !== state.index.versionsLength || md5Hex(versions) !== state.index.versionsMd5) {
    return 'versions was changed since the last publish';
  }
  return { state, versions: versions.toString('utf8') };
}

/** Runs fn over items with at most `limit` in flight; stops starting new ones after the first failure. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failed === null && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== null) throw (failed as { error: unknown }).error;
}

function refuseEmpty(opts: PublishOptions, remote: ReadonlyMap<string, RemoteObject>): void {
  const published = [...remote.keys()].filter((k) => phaseOf(k) === 'gem').length;
  if (published > 0 && !opts.allowEmpty) {
    throw new QuarryError(
      'conflict',
      `${opts.source.label} has no gems; publishing it would delete the ${published} gems in the bucket (pass --allow-empty to do that)`,
    );
  }
}

export async function publish(opts: PublishOptions): Promise<PublishResult> {
  const progress = opts.onProgress ?? (() => {});
  const { source, target } = opts;
  const limit = opts.concurrency ?? 8;

  const remote = await listRemote(target);
  let prev = await loadRemoteState(target, remote);
  if (typeof prev !== 'string' && prev.state.index.infoCreatedAt !== (opts.info?.createdAt === true))
    prev = 'the info created_at option changed';
  const gems = await source.gems((d, t) => progress('reading source', d, t));
  if (gems.length === 0) refuseEmpty(opts, remote);
  const byFile = new Map(gems.map((g) => [g.file, g]));
  const parse = (list: readonly SourceGem[]) => source.parse(list, (d, t) => progress('parsing gems', d, t));

  let plan: StaticPlan;
  let versions: string;
  let fullReason: string | undefined;
  let previousMd5 = (_g: SourceGem): string | undefined => undefined;
  if (typeof prev !== 'string') {
    const known = new Map(prev.state.index.files.map((f) => [f.file, f]));
    // A file whose bytes changed is published as a yank of the old entry and a push of the new one.
    const added = gems.filter((g) => known.get(g.file)?.sha256 !== g.sha256);
    const removed = prev.state.index.files
      .filter((f) => byFile.get(f.file)?.sha256 !== f.sha256)
      .map((f) => f.file);
    plan = planUpdate(prev.state.index, prev.versions, await parse(added), removed, opts.info);
    versions = prev.versions;
    previousMd5 = (g) => (known.get(g.file)?.sha256 === g.sha256 ? prev.state.gemMd5[g.file] : undefined);
  } else {
    fullReason = prev;
    plan = planFullBuild(await parse(gems), opts.now(), opts.info);
    versions = '';
  }

  // Index objects: the plan's writes, names and legacy lists recomputed from the whole set (so a lost
  // or stale list heals), and any quick spec or info file of the layout the bucket lacks.
  const bodies = new Map(plan.writes.map((w) => [w.path, w.body]));
  versions = bodies.get('versions')?.toString('utf8') ?? versions;
  for (const w of listWrites(plan.state.files)) if (!bodies.has(w.path)) bodies.set(w.path, w.body);
  const expected = expectedKeys(plan.state.files, versions);
  const lacking = (k: string): boolean => !bodies.has(k) && !remote.has(k);
  const missingInfo = [...expected.info].filter(lacking).map((k) => k.slice('info/'.length));
  for (const w of infoWrites(missingInfo, plan.state.files)) bodies.set(w.path, w.body);
  const missingQuick = [...expected.quick].filter(([k]) => lacking(k));
  if (missingQuick.length > 0) {
    const parsed = await parse(missingQuick.map(([, f]) => byFile.get(f.file)!));
    parsed.forEach((p, i) => {
      bodies.set(missingQuick[i]![0], quickSpecBody(p.spec));
    });
  }

  // Gem objects: the MD5 comes from the source, from the state (same SHA-256), or from reading the bytes.
  const gemMd5 = new Map<string, string>();
  let hashed = 0;
  const unknown = gems.filter((g) => g.md5 === null && previousMd5(g) === undefined);
  await pool(unknown, limit, async (g) => {
    gemMd5.set(g.file, md5Hex(await source.read(g)));
    progress('hashing gems', ++hashed, unknown.length);
  });
  const desired: PlannedObject[] = gems.map((g) => {
    const md5 = g.md5 ?? previousMd5(g) ?? gemMd5.get(g.file)!;
    gemMd5.set(g.file, md5);
    const o: PlannedObject = { key: `gems/${g.file}`, size: g.size, md5, gem: g };
    const before = previousMd5(g);
    if (before !== undefined) o.previousMd5 = before;
    return o;
  });
  for (const [key, body] of bodies) desired.push({ key, size: body.length, md5: md5Hex(body), body });
  const state = stateBody(plan.state, gemMd5);
  desired.push({ key: PUBLISH_STATE_KEY, size: state.length, md5: md5Hex(state), body: state });

  const keep = new Set(['versions', ...expected.gems.keys(), ...expected.quick.keys(), ...expected.info]);
  const diff = diffObjects(desired, remote, keep);
  const uploads = diff.uploads.filter((u) => u.phase !== 'state');
  const wanted = new Set(desired.map((d) => d.key));
  const keptAsIs = [...keep].filter((k) => !wanted.has(k) && remote.has(k)).length;
  const result: PublishResult = {
    mode: fullReason === undefined ? 'update' : 'full',
    dryRun: opts.dryRun === true,
    gems: plan.state.files.length,
    names: plan.names,
    added: plan.added,
    removed: plan.removed,
    uploads: uploads.map((u) => ({ key: u.object.key, size: u.object.size, reason: u.reason })),
    uploadedBytes: uploads.reduce((n, u) => n + u.object.size, 0),
    unchanged: diff.unchanged.filter((d) => d.key !== PUBLISH_STATE_KEY).length + keptAsIs,
    deletes: diff.deletes,
    stateWritten: diff.uploads.length > uploads.length,
  };
  if (fullReason !== undefined) result.fullReason = fullReason;
  if (opts.dryRun) return result;

  const total = diff.uploads.length + diff.deletes.length;
  let done = 0;
  for (const phase of PHASES) {
    const batch = diff.uploads.filter((u) => u.phase === phase);
    await pool(batch, limit, async ({ object }) => {
      const body = object.body ?? (await source.read(object.gem!));
      await target.put(object.key, body, headersFor(object.key));
      progress('uploading', ++done, total);
    });
  }
  // Deletes last, in reverse phase order: nothing published refers to these keys any more.
  const deletePhases: Phase[] = ['info', 'quick', 'gem'];
  for (const phase of deletePhases) {
    await pool(
      diff.deletes.filter((k) => phaseOf(k) === phase),
      limit,
      async (key) => {
        await target.delete(key);
        progress('deleting', ++done, total);
      },
    );
  }
  return result;
}
