/**
 * Pure planning for `quarry publish`: which objects make up a published static gem source, the
 * headers each object carries, the order in which they may be uploaded, and the difference between
 * what should be in the bucket and what the bucket's listing says it holds.
 *
 * The index bodies themselves come from static-plan.ts (the code `quarry index` uses); this module
 * only adds the object-store view of them.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { namesBody } from './compact.ts';
import { legacyFiles, legacyLists } from './legacy.ts';
import { byteCompare, groupByName } from './order.ts';
import type { IndexedFile, PlannedWrite, StaticState } from './static-plan.ts';
import { infoBodyOf, infoPath, quickSpecPath, STATIC_STATE_LAYOUT } from './static-plan.ts';

/** Where the publisher keeps its state inside the published prefix (no dot-folder: keys refuse them). */
export const PUBLISH_STATE_KEY = 'quarry/state.json.gz';

/** Bumped when PublishState's shape changes; an unknown layout forces a full rebuild. */
export const PUBLISH_STATE_LAYOUT = 3;

export interface PublishState {
  layout: number;
  /** The static planner's state: the /versions base, its length and MD5, and every indexed file. */
  index: StaticState;
  /** Hex MD5 of each published .gem by file name, as last uploaded (S3 cannot tell it for multipart objects). */
  gemMd5: Record<string, string>;
}

/**
 * Upload phases in safe order: a reader never sees a /versions line (or a legacy index entry) whose
 * files are missing. The state goes right after /versions because it records /versions' MD5.
 */
export const PHASES = ['gem', 'quick', 'info', 'names', 'versions', 'state', 'legacy'] as const;
export type Phase = (typeof PHASES)[number];

const LEGACY = /^(specs|latest_specs|prerelease_specs)\.4\.8(\.gz)?$/;
const GEM_KEY = /^gems\/[^/]+\.gem$/;
const QUICK_KEY = /^quick\/Marshal\.4\.8\/[^/]+\.gemspec\.rz$/;
const INFO_KEY = /^info\/[^/]+$/;

/** The phase of a key of the static layout, or null for keys the publisher does not manage. */
export function phaseOf(key: string): Phase | null {
  if (GEM_KEY.test(key)) return 'gem';
  if (QUICK_KEY.test(key)) return 'quick';
  if (INFO_KEY.test(key)) return 'info';
  if (key === 'names') return 'names';
  if (key === 'versions') return 'versions';
  if (key === PUBLISH_STATE_KEY) return 'state';
  if (LEGACY.test(key)) return 'legacy';
  return null;
}

/** Keys the publisher may delete when they are no longer part of the source (files per gem or name). */
export const isPrunableKey = (key: string): boolean =>
  GEM_KEY.test(key) || QUICK_KEY.test(key) || INFO_KEY.test(key);

export interface ObjectHeaders {
  contentType: string;
  cacheControl: string;
}

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const SHORT = 'public, max-age=60';

/**
 * Content-Type and Cache-Control of a published key. Gzip files are bytes, never Content-Encoding
 * (Net::HTTP would inflate them and RubyGems would then fail to gunzip plain Marshal).
 */
export function headersFor(key: string): ObjectHeaders {
  const phase = phaseOf(key);
  switch (phase) {
    case 'gem':
    case 'quick':
      return { contentType: 'application/octet-stream', cacheControl: IMMUTABLE };
    case 'legacy':
      return { contentType: 'application/octet-stream', cacheControl: SHORT };
    case 'info':
    case 'names':
    case 'versions':
      return { contentType: 'text/plain; charset=utf-8', cacheControl: SHORT };
    case 'state':
      return { contentType: 'application/gzip', cacheControl: 'no-cache' };
    default:
      throw new Error(`not a key of the static layout: ${key}`);
  }
}

/** Names that have a line in a /versions body (live, or with every version yanked). */
export function versionsNames(body: string): string[] {
  const start = body.indexOf('\n---\n');
  if (start < 0) return [];
  const names = new Set<string>();
  for (const line of body.slice(start + 5).split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) names.add(line.slice(0, sp));
  }
  return [...names].sort(byteCompare);
}

/** The info bodies for names, from the indexed files ("---\n" for a name with no live file). */
export function infoWrites(names: Iterable<string>, files: readonly IndexedFile[]): PlannedWrite[] {
  const groups = groupByName(files);
  return [...names].map((name) => ({
    path: infoPath(name),
    body: Buffer.from(infoBodyOf(groups.get(name) ?? []), 'utf8'),
  }));
}

/** /names and the six legacy indexes for the indexed files: derived from the whole set, never appended. */
export function listWrites(files: readonly IndexedFile[]): PlannedWrite[] {
  return [
    { path: 'names', body: Buffer.from(namesBody(files.map((f) => f.name)), 'utf8') },
    ...legacyFiles(legacyLists(files)),
  ];
}

/** Every key a complete publish of these files consists of, besides names, versions and the legacy files. */
export function expectedKeys(
  files: readonly IndexedFile[],
  versionsBody: string,
): { gems: Map<string, IndexedFile>; quick: Map<string, IndexedFile>; info: Set<string> } {
  const gems = new Map<string, IndexedFile>();
  const quick = new Map<string, IndexedFile>();
  const info = new Set<string>();
  for (const f of files) {
    gems.set(`gems/${f.file}`, f);
    quick.set(quickSpecPath(f), f);
    info.add(infoPath(f.name));
  }
  for (const name of versionsNames(versionsBody)) info.add(infoPath(name));
  return { gems, quick, info };
}

export interface RemoteObject {
  size: number;
  /** Hex MD5 when the store knows it; null for multipart uploads and stores that cannot tell. */
  md5: string | null;
}

export interface DesiredObject {
  key: string;
  size: number;
  md5: string;
  /** MD5 of what was last uploaded under this key, trusted (with an equal size) when the store cannot tell. */
  previousMd5?: string;
}

export interface Upload<T extends DesiredObject> {
  object: T;
  phase: Phase;
  reason: 'new' | 'changed';
}

export interface ObjectDiff<T extends DesiredObject> {
  /** In safe order: by phase, then by key. */
  uploads: Upload<T>[];
  unchanged: T[];
  /** Managed keys the source no longer has, in reverse phase order (info, quick specs, gems). */
  deletes: string[];
}

function sameContent(d: DesiredObject, r: RemoteObject): boolean {
  if (r.md5 !== null) return r.md5 === d.md5;
  return r.size === d.size && d.previousMd5 === d.md5;
}

const phaseRank = (key: string): number => {
  const p = phaseOf(key);
  if (p === null) throw new Error(`not a key of the static layout: ${key}`);
  return PHASES.indexOf(p);
};

/**
 * Compares the desired objects with the bucket's listing. `keep` names further keys of the layout
 * that stay as they are (e.g. the quick specs of gems that did not change): they are not deleted.
 */
export function diffObjects<T extends DesiredObject>(
  desired: readonly T[],
  remote: ReadonlyMap<string, RemoteObject>,
  keep: ReadonlySet<string> = new Set(),
): ObjectDiff<T> {
  const uploads: Upload<T>[] = [];
  const unchanged: T[] = [];
  const wanted = new Set<string>();
  for (const d of desired) {
    const phase = phaseOf(d.key);
    if (phase === null) throw new Error(`not a key of the static layout: ${d.key}`);
    if (wanted.has(d.key)) throw new Error(`object planned twice: ${d.key}`);
    wanted.add(d.key);
    const r = remote.get(d.key);
    if (r && sameContent(d, r)) unchanged.push(d);
    else uploads.push({ object: d, phase, reason: r ? 'changed' : 'new' });
  }
  uploads.sort(
    (a, b) => phaseRank(a.object.key) - phaseRank(b.object.key) || byteCompare(a.object.key, b.object.key),
  );
  const deletes = [...remote.keys()]
    .filter((k) => isPrunableKey(k) && !wanted.has(k) && !keep.has(k))
    .sort((a, b) => phaseRank(b) - phaseRank(a) || byteCompare(a, b));
  return { uploads, unchanged, deletes };
}

/** The state as stored: stable JSON, so an unchanged publish writes byte-identical state. */
export function stateBody(index: StaticState, gemMd5: ReadonlyMap<string, string>): Buffer {
  const sorted: Record<string, string> = {};
  for (const file of [...gemMd5.keys()].sort(byteCompare)) sorted[file] = gemMd5.get(file)!;
  const state: PublishState = { layout: PUBLISH_STATE_LAYOUT, index, gemMd5: sorted };
  // Gzipped: it is re-uploaded on every publish, and JSON of ten thousand gems is megabytes.
  return gzipSync(`${JSON.stringify(state)}\n`);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The stored state, or the reason it cannot be used (then the publisher rebuilds). */
export function parsePublishState(body: Buffer): PublishState | string {
  let v: unknown;
  try {
    v = JSON.parse(gunzipSync(body, { maxOutputLength: 512 * 1024 * 1024 }).toString('utf8'));
  } catch {
    return `${PUBLISH_STATE_KEY} is not gzipped JSON`;
  }
  if (!isObject(v) || v['layout'] !== PUBLISH_STATE_LAYOUT) {
    return `${PUBLISH_STATE_KEY} has layout ${isObject(v) ? String(v['layout']) : '?'}, not ${PUBLISH_STATE_LAYOUT}`;
  }
  const index = v['index'];
  const gemMd5 = v['gemMd5'];
  if (
    !isObject(index) ||
    index['layout'] !== STATIC_STATE_LAYOUT ||
    typeof index['versionsCreatedAt'] !== 'string' ||
    typeof index['versionsLength'] !== 'number' ||
    typeof index['versionsMd5'] !== 'string' ||
    !Array.isArray(index['files']) ||
    !isObject(gemMd5)
  ) {
    return `${PUBLISH_STATE_KEY} is not a publish state of this Quarry`;
  }
  const fields = ['file', 'name', 'version', 'platform', 'sha256', 'info'];
  for (const f of index['files'] as unknown[]) {
    if (!isObject(f) || fields.some((k) => typeof f[k] !== 'string'))
      return `${PUBLISH_STATE_KEY} has a malformed file entry`;
  }
  if (typeof index['infoCreatedAt'] !== 'boolean')
    return `${PUBLISH_STATE_KEY} is not a publish state of this Quarry`;
  return v as unknown as PublishState;
}
