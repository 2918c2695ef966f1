/**
 * Pure derivations from catalog records that the catalog itself needs under its write lock (the
 * /info MD5 of a gem after a change) and that the index view shares, so both compute the same bytes.
 */

import type { GemSpec } from '../gem/spec.ts';
import type { InfoOptions } from '../index/compact.ts';
import { infoBody, infoLine, md5Hex, versionsBody } from '../index/compact.ts';
import type { IndexEntry } from '../index/entry.ts';
import { entryFromSpec, versionToken } from '../index/entry.ts';
import type { VersionRecord } from './types.ts';

export const recordEntry = (v: VersionRecord, withCreatedAt: boolean): IndexEntry =>
  entryFromSpec(v.spec, v.sha256, withCreatedAt ? v.createdAt : undefined);

/** The /info body for a gem's live versions, in publication order (as rubygems.org). */
export function infoFor(live: readonly VersionRecord[], options: InfoOptions): string {
  return infoBody(
    live.map((v) => recordEntry(v, options.createdAt === true)),
    options,
  );
}

/**
 * A version's /info line as the catalog stores it (versions.info_line): without `created_at`, which
 * the InfoOptions add when the body is put together (infoFromLines), so the option may change.
 */
export const storedInfoLine = (spec: GemSpec, sha256: string): string =>
  infoLine(entryFromSpec(spec, sha256));

/** A version's stored /info line and publication time. */
export interface InfoLineRow {
  line: string;
  createdAt: string;
}

/** The /info body from stored lines in publication order: byte for byte infoFor() of the same versions. */
export function infoFromLines(rows: readonly InfoLineRow[], options: InfoOptions): string {
  let body = '---\n';
  if (options.createdAt) for (const r of rows) body += `${r.line},created_at:${r.createdAt}\n`;
  else for (const r of rows) body += `${r.line}\n`;
  return body;
}

/** A /versions line's MD5 for a gem: that of its /info body after the change. */
export const infoMd5For = (live: readonly VersionRecord[], options: InfoOptions): string =>
  md5Hex(infoFor(live, options));

/** One gem's line of a /versions base. */
export interface BaseLine {
  name: string;
  /** Live versions' tokens in publication order. */
  tokens: string[];
  infoMd5: string;
}

/** A fresh /versions base: one line per live gem, in the given order. */
export function baseBody(createdAt: Date, lines: readonly BaseLine[]): string {
  return versionsBody(createdAt, lines);
}

/** A fresh /versions base from full records (small catalogs, tests). */
export function baseFor(live: readonly VersionRecord[], createdAt: Date, options: InfoOptions): string {
  const byName = new Map<string, VersionRecord[]>();
  for (const v of live) {
    const g = byName.get(v.name);
    if (g) g.push(v);
    else byName.set(v.name, [v]);
  }
  return versionsBody(
    createdAt,
    [...byName].map(([name, vs]) => ({
      name,
      tokens: vs.map((v) => versionToken(v.spec)),
      infoMd5: md5Hex(infoFor(vs, options)),
    })),
  );
}
