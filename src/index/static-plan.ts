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
import { dumpQuickSpec } from '../marshal/rubygems.ts';
import type { InfoOptions, VersionsLine } from './compact.ts';
import { infoBody, isoSeconds, md5Hex, namesBody, versionsBody, versionsLine } from './compact.ts';
import type { IndexEntry } from './entry.ts';
import { entryFromSpec, entryKey, versionToken } from './entry.ts';
import { legacyFiles, legacyLists } from './legacy.ts';
import { byteCompare, groupByName } from './order.ts';

/** Bumped when the state file's shape changes; an unknown layout forces a full rebuild. */
export const STATIC_STATE_LAYOUT = 1;

export interface IndexedFile {
  /** File name under gems/. */
  file: string;
  entry: IndexEntry;
}

export interface StaticState {
  layout: number;
  /** created_at of the current /versions base. */
  versionsCreatedAt: string;
  /** Byte length and MD5 of /versions as last written: a mismatch means someone else changed it. */
  versionsLength: number;
  versionsMd5: string;
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

function stateOf(createdAt: string, versions: string, files: IndexedFile[]): StaticState {
  const sorted = [...files].sort((a, b) => byteCompare(a.file, b.file));
  return {
    layout: STATIC_STATE_LAYOUT,
    versionsCreatedAt: createdAt,
    versionsLength: Buffer.byteLength(versions),
    versionsMd5: md5Hex(versions),
    files: sorted,
  };
}

/** Two files may not publish the same (name, version, platform). */
function assertUnique(files: readonly IndexedFile[]): void {
  const seen = new Map<string, string>();
  for (const f of files) {
    const key = entryKey(f.entry);
    const other = seen.get(key);
    if (other !== undefined) {
      throw new QuarryError(
        'conflict',
        `gems/${f.file} and gems/${other} are the same gem (${fullName(f.entry.name, f.entry.version, f.entry.platform)})`,
      );
    }
    seen.set(key, f.file);
  }
}

/** A complete index from scratch. */
export function planFullBuild(
  gems: readonly ParsedGem[],
  createdAt: Date,
  options: InfoOptions = {},
): StaticPlan {
  const files: IndexedFile[] = gems.map((g) => ({ file: g.file, entry: entryFromSpec(g.spec, g.sha256) }));
  assertUnique(files);
  const writes: PlannedWrite[] = gems.map(quickSpecWrite);
  const groups = groupByName(files.map((f) => f.entry));
  const lines: VersionsLine[] = [];
  for (const [name, entries] of groups) {
    const body = infoBody(entries, options);
    writes.push({ path: infoPath(name), body: utf8(body) });
    lines.push({ name, tokens: entries.map(versionToken), infoMd5: md5Hex(body) });
  }
  writes.push({ path: 'names', body: utf8(namesBody(groups.keys())) });
  const versions = versionsBody(createdAt, lines);
  writes.push({ path: 'versions', body: utf8(versions) });
  for (const f of legacyFiles(legacyLists(files.map((f) => f.entry)))) writes.push(f);
  return {
    writes,
    deletes: [],
    state: stateOf(isoSeconds(createdAt), versions, files),
    added: gems.length,
    removed: 0,
    names: groups.size,
  };
}

/**
 * An incremental update: new gems are appended to /versions, removed gems are appended as yanks
 * (`-VERSION`), and only the info files of affected names are rewritten. One appended line per
 * affected name, names in byte order, yank tokens first, each line carrying the new info MD5.
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
  const kept = prev.files.filter((f) => !removedSet.has(f.file));
  const addedFiles: IndexedFile[] = added.map((g) => ({
    file: g.file,
    entry: entryFromSpec(g.spec, g.sha256),
  }));
  const files = [...kept, ...addedFiles];
  assertUnique(files);

  const writes: PlannedWrite[] = added.map(quickSpecWrite);
  const liveKeys = new Set(files.map((f) => entryKey(f.entry)));
  const deletes = removed.filter((f) => !liveKeys.has(entryKey(f.entry))).map((f) => quickSpecPath(f.entry));

  const affected = new Set([...removed, ...addedFiles].map((f) => f.entry.name));
  // Only the affected gems' info files change: group just their entries.
  const groups = groupByName(files.filter((f) => affected.has(f.entry.name)).map((f) => f.entry));
  const names = new Set(files.map((f) => f.entry.name));
  const removedBy = groupByName(removed.map((f) => f.entry));
  const addedBy = groupByName(addedFiles.map((f) => f.entry));
  let versions = prevVersions;
  for (const name of [...affected].sort(byteCompare)) {
    const body = infoBody(groups.get(name) ?? [], options);
    writes.push({ path: infoPath(name), body: utf8(body) });
    const tokens = [
      ...(removedBy.get(name) ?? []).map((e) => `-${versionToken(e)}`),
      ...(addedBy.get(name) ?? []).map(versionToken),
    ];
    versions += versionsLine({ name, tokens, infoMd5: md5Hex(body) });
  }
  if (affected.size > 0) {
    writes.push({ path: 'names', body: utf8(namesBody(names)) });
    writes.push({ path: 'versions', body: utf8(versions) });
    for (const f of legacyFiles(legacyLists(files.map((f) => f.entry)))) writes.push(f);
  }
  return {
    writes,
    deletes,
    state: stateOf(prev.versionsCreatedAt, versions, files),
    added: added.length,
    removed: removed.length,
    names: names.size,
  };
}
