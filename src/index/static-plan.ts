/**
 * Plans the files of a static gem source (the layout `gem generate_index` writes, plus the compact
 * index). Pure: takes parsed gems and the previous state, returns ordered writes and deletes.
 *
 * Write order is the publish order that keeps readers consistent: quick specs, then info/*, then
 * names, then versions, then the legacy indexes; deletes come last.
 */
import { deflateSync } from 'node:zlib';
import { QuarryError } from '../errors.ts';
import type { GemSpec } from '../gem/spec.ts';
import { fullName } from '../gem/spec.ts';
import { isPrerelease } from '../gem/version.ts';
import { dumpQuickSpec } from '../marshal/rubygems.ts';
import type { InfoOptions, VersionsLine } from './compact.ts';
import { infoLine, isoSeconds, md5Hex, namesBody, versionsBody, versionsLine } from './compact.ts';
import type { IndexEntry } from './entry.ts';
import { entryFromSpec, entryKey, versionToken } from './entry.ts';
import { legacyFiles, legacyLists } from './legacy.ts';
import { byteCompare, compareEntries, compareWithinGem, groupByName } from './order.ts';

/** Bumped when the state's shape changes; an unknown layout forces a full rebuild. */
export const STATIC_STATE_LAYOUT = 2;

/** One indexed .gem: what every derived file needs, flat, so the state reads back fast. */
export interface IndexedFile {
  /** File name under gems/. */
  file: string;
  name: string;
  /** Normalized Gem::Version string. */
  version: string;
  /** Original platform ('ruby' for pure-Ruby gems). */
  platform: string;
  /** Hex SHA-256 of the .gem. */
  sha256: string;
  /** The gem's /info line, without its newline. */
  info: string;
}

export interface StaticState {
  layout: number;
  /** created_at of the current /versions base. */
  versionsCreatedAt: string;
  /** Byte length and MD5 of /versions as last written: a mismatch means someone else changed it. */
  versionsLength: number;
  versionsMd5: string;
  /** Whether info lines carry created_at (a change of option needs a full build). */
  infoCreatedAt: boolean;
  /** In index order (name, then version and platform). */
  files: IndexedFile[];
}

export interface ParsedGem {
  file: string;
  spec: GemSpec;
  sha256: string;
}

export interface PlannedWrite {
  path: string;
  body: Buffer;
}

export interface StaticPlan {
  writes: PlannedWrite[];
  /** Paths to remove after every write has landed. */
  deletes: string[];
  state: StaticState;
  /** For an update: the files it added and the file names it removed (the state log's record). */
  change?: { added: IndexedFile[]; removed: string[] };
  added: number;
  removed: number;
  names: number;
}

export const quickSpecPath = (e: Pick<IndexEntry, 'name' | 'version' | 'platform'>): string =>
  `quick/Marshal.4.8/${fullName(e.name, e.version, e.platform)}.gemspec.rz`;

export const infoPath = (name: string): string => `info/${name}`;

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** The .rz body: zlib (RFC 1950) of Marshal.dump(spec), as Gem.deflate writes it. */
export const quickSpecBody = (spec: GemSpec): Buffer => deflateSync(dumpQuickSpec(spec));

function quickSpecWrite(g: ParsedGem): PlannedWrite {
  return { path: quickSpecPath(g.spec), body: quickSpecBody(g.spec) };
}

/** The info body of one name's files: index order, one line each. */
export function infoBodyOf(files: readonly IndexedFile[]): string {
  let body = '---\n';
  for (const f of [...files].sort(compareWithinGem)) body += `${f.info}\n`;
  return body;
}

/** An indexed file from a parsed gem: its info line is computed here, once. */
export function indexedFile(g: ParsedGem, options: InfoOptions = {}): IndexedFile {
  const entry = entryFromSpec(g.spec, g.sha256);
  return {
    file: g.file,
    name: entry.name,
    version: entry.version,
    platform: entry.platform,
    sha256: g.sha256,
    info: infoLine(entry, options),
  };
}

/** `files` must be in index order (compareEntries). */
function stateOf(
  createdAt: string,
  versions: string,
  files: IndexedFile[],
  options: InfoOptions,
): StaticState {
  return {
    layout: STATIC_STATE_LAYOUT,
    versionsCreatedAt: createdAt,
    versionsLength: Buffer.byteLength(versions),
    versionsMd5: md5Hex(versions),
    infoCreatedAt: options.createdAt === true,
    files,
  };
}

/** Merges two lists in index order into one (linear: an update keeps the big list as it is). */
export function mergeSorted(a: readonly IndexedFile[], b: readonly IndexedFile[]): IndexedFile[] {
  if (b.length === 0) return [...a];
  const out: IndexedFile[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(compareEntries(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/** Two files may not publish the same (name, version, platform); `files` is in index order. */
function assertUnique(files: readonly IndexedFile[]): void {
  for (let i = 1; i < files.length; i++) {
    const a = files[i - 1]!;
    const f = files[i]!;
    if (a.name === f.name && a.version === f.version && a.platform === f.platform) {
      throw new QuarryError(
        'conflict',
        `gems/${f.file} and gems/${a.file} are the same gem (${fullName(f.name, f.version, f.platform)})`,
      );
    }
  }
}

/** The legacy files; the prerelease pair only when `prerelease` (an update that touched none skips them). */
function legacyWrites(files: readonly IndexedFile[], prerelease = true): PlannedWrite[] {
  const all = legacyFiles(legacyLists(files, { sorted: true }));
  return prerelease ? all : all.filter((f) => !f.path.startsWith('prerelease_'));
}

/** A complete index from scratch. */
export function planFullBuild(
  gems: readonly ParsedGem[],
  createdAt: Date,
  options: InfoOptions = {},
): StaticPlan {
  const plan = planFullBuildOf(
    gems.map((g) => indexedFile(g, options)),
    createdAt,
    options,
  );
  plan.writes.unshift(...gems.map(quickSpecWrite));
  return plan;
}

/**
 * A complete index from indexed files whose quick specs the caller writes itself (the parallel
 * reader writes them as it goes): every other file.
 */
export function planFullBuildOf(
  indexed: readonly IndexedFile[],
  createdAt: Date,
  options: InfoOptions = {},
): StaticPlan {
  const files = [...indexed].sort(compareEntries);
  assertUnique(files);
  const writes: PlannedWrite[] = [];
  const groups = groupByName(files);
  const lines: VersionsLine[] = [];
  for (const [name, group] of groups) {
    const body = infoBodyOf(group);
    writes.push({ path: infoPath(name), body: utf8(body) });
    lines.push({ name, tokens: group.map(versionToken), infoMd5: md5Hex(body) });
  }
  writes.push({ path: 'names', body: utf8(namesBody(groups.keys())) });
  const versions = versionsBody(createdAt, lines);
  writes.push({ path: 'versions', body: utf8(versions) });
  writes.push(...legacyWrites(files));
  return {
    writes,
    deletes: [],
    state: stateOf(isoSeconds(createdAt), versions, files, options),
    added: files.length,
    removed: 0,
    names: groups.size,
  };
}

/**
 * An incremental update: new gems are appended to /versions, removed gems are appended as yanks
 * (`-VERSION`), and only the info files of affected names are rewritten. One appended line per
 * affected name, names in byte order, yank tokens first, each line carrying the new info MD5.
 * The caller checks that `prev` was made with the same info options (else: a full build).
 */
export function planUpdate(
  prev: StaticState,
  prevVersions: string,
  added: readonly ParsedGem[],
  removedFiles: readonly string[],
  options: InfoOptions = {},
): StaticPlan {
  const removedSet = new Set(removedFiles);
  const removed = prev.files.filter((f) => removedSet.has(f.file));
  const kept = removed.length === 0 ? prev.files : prev.files.filter((f) => !removedSet.has(f.file));
  const addedFiles = added.map((g) => indexedFile(g, options));
  const files = mergeSorted(kept, [...addedFiles].sort(compareEntries));
  assertUnique(files);

  const writes: PlannedWrite[] = added.map(quickSpecWrite);
  const liveKeys = new Set(addedFiles.map(entryKey));
  const deletes = removed.filter((f) => !liveKeys.has(entryKey(f))).map(quickSpecPath);

  const affected = new Set([...removed, ...addedFiles].map((f) => f.name));
  // Only the affected gems' info files change: group just their files.
  const groups = groupByName(files.filter((f) => affected.has(f.name)));
  const removedBy = groupByName(removed);
  const addedBy = groupByName(addedFiles);
  let versions = prevVersions;
  for (const name of [...affected].sort(byteCompare)) {
    const body = infoBodyOf(groups.get(name) ?? []);
    writes.push({ path: infoPath(name), body: utf8(body) });
    const tokens = [
      ...(removedBy.get(name) ?? []).map((e) => `-${versionToken(e)}`),
      ...(addedBy.get(name) ?? []).map(versionToken),
    ];
    versions += versionsLine({ name, tokens, infoMd5: md5Hex(body) });
  }
  const state = stateOf(prev.versionsCreatedAt, versions, files, options);
  const names = new Set(state.files.map((f) => f.name));
  if (affected.size > 0) {
    // /names changes only when a name appears or loses its last file.
    const before = new Set(prev.files.filter((f) => affected.has(f.name)).map((f) => f.name));
    if ([...affected].some((n) => before.has(n) !== groups.has(n)))
      writes.push({ path: 'names', body: utf8(namesBody(names)) });
    writes.push({ path: 'versions', body: utf8(versions) });
    const touchedPre = [...removed, ...addedFiles].some((f) => isPrerelease(f.version));
    writes.push(...legacyWrites(files, touchedPre));
  }
  return {
    writes,
    deletes,
    state,
    change: { added: addedFiles, removed: removed.map((f) => f.file) },
    added: added.length,
    removed: removed.length,
    names: names.size,
  };
}
