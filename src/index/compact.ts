/**
 * Compact index bodies: /names, /versions and /info/NAME (PROTOCOL.md section 5). Pure.
 * Bytes are stable: a changed byte in an info body changes its MD5 in /versions.
 */
import { hash } from 'node:crypto';
import { compactIndexRequirement, requirementToString } from '../gem/requirement.ts';
import type { IndexEntry } from './entry.ts';
import { versionToken } from './entry.ts';
import { byteCompare } from './order.ts';

export const md5Hex = (body: string | Uint8Array): string => hash('md5', body, 'hex');

export interface InfoOptions {
  /** Emit the v2 `created_at:` key (for Bundler's cooldown) when the entry has one. */
  createdAt?: boolean;
}

/** One /info line without its trailing newline. */
export function infoLine(e: IndexEntry, options: InfoOptions = {}): string {
  const deps = e.dependencies
    .map((d, i) => ({ d, i }))
    .sort((x, y) => byteCompare(x.d.name, y.d.name) || x.i - y.i)
    .map(({ d }) => `${d.name}:${compactIndexRequirement(d.requirement)}`)
    .join(',');
  let req = `checksum:${e.sha256}`;
  // The compact index leaves these out only when the requirement reads exactly ">= 0".
  if (requirementToString(e.requiredRubyVersion) !== '>= 0') {
    req += `,ruby:${compactIndexRequirement(e.requiredRubyVersion)}`;
  }
  if (requirementToString(e.requiredRubygemsVersion) !== '>= 0') {
    req += `,rubygems:${compactIndexRequirement(e.requiredRubygemsVersion)}`;
  }
  if (options.createdAt && e.createdAt) req += `,created_at:${e.createdAt}`;
  return `${versionToken(e)} ${deps}|${req}`;
}

/** The /info/NAME body for one gem's live entries, in the order given. */
export function infoBody(entries: readonly IndexEntry[], options: InfoOptions = {}): string {
  let body = '---\n';
  for (const e of entries) body += `${infoLine(e, options)}\n`;
  return body;
}

/** The /names body: every name with at least one live version, byte order. */
export function namesBody(names: Iterable<string>): string {
  const sorted = [...new Set(names)].sort(byteCompare);
  return `---\n${sorted.join('\n')}\n`;
}

export interface VersionsLine {
  name: string;
  /** Version tokens; a leading '-' marks a yank. */
  tokens: readonly string[];
  /** MD5 of the gem's /info body right after this line's change. */
  infoMd5: string;
}

export const versionsLine = (l: VersionsLine): string => `${l.name} ${l.tokens.join(',')} ${l.infoMd5}\n`;

/** `created_at` uses seconds precision ISO 8601 in UTC, as rubygems.org writes it. */
export const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A base /versions file: header, then one line per gem in byte order of name. */
export function versionsBody(createdAt: Date, lines: readonly VersionsLine[]): string {
  let body = `created_at: ${isoSeconds(createdAt)}\n---\n`;
  for (const l of [...lines].sort((a, b) => byteCompare(a.name, b.name))) body += versionsLine(l);
  return body;
}

/** Reads the `created_at:` header of a /versions body, or null. */
export function versionsCreatedAt(body: string): string | null {
  const end = body.indexOf('\n---\n');
  const header = end < 0 ? '' : body.slice(0, end);
  const m = /^created_at: (\S+)$/m.exec(header);
  return m ? m[1]! : null;
}
