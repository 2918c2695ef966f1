/**
 * The marks of complete `quarry mirror --all` runs, as pure functions of the plan and the
 * upstream's /versions bytes (no IO; the catalog keeps the marks): which plan a mark belongs to,
 * and which names changed since it.
 */
import { createHash } from 'node:crypto';
import type { MirrorPlan } from './mirror.ts';

/**
 * The choices of a whole-source plan that decide which versions it copies and yanks (with the
 * upstream configuration's exclude list), as a short hash: a mark of a complete run applies only to
 * runs that would choose the same.
 */
export function planKey(
  plan: MirrorPlan,
  syncYanks: boolean,
  upstreamExclude: readonly string[] = [],
): string {
  const choices = {
    latest: plan.latest,
    platforms: [...plan.platforms].sort(),
    pre: plan.pre,
    exclude: [...plan.exclude].sort(),
    syncYanks,
    // The upstream's own `exclude` (its configuration) leaves names out as --exclude does.
    upstreamExclude: [...upstreamExclude].sort(),
  };
  return createHash('sha256').update(JSON.stringify(choices)).digest('hex').slice(0, 32);
}

/**
 * The names to resolve from the mark of a complete run: those on the lines after it, when the body
 * starts with the bytes the mark was made from (size and SHA-256); else null (every name: the
 * upstream rewrote /versions, or this is another file).
 */
export function namesSinceMark(
  body: Buffer,
  mark: { versionsSize: number; versionsSha256: string },
): Set<string> | null {
  const names = changedNames(body, mark.versionsSize);
  if (!names) return null;
  const sha = createHash('sha256').update(body.subarray(0, mark.versionsSize)).digest('hex');
  return sha === mark.versionsSha256 ? names : null;
}

/**
 * The names on the lines of a /versions body from byte `from` to its end, each once, in order of
 * first appearance; null when `from` is not the start of a line within the body (not a mark of
 * this file: every name must be resolved).
 */
export function changedNames(body: Buffer, from: number): Set<string> | null {
  if (!Number.isSafeInteger(from) || from < 1 || from > body.length || body[from - 1] !== 0x0a) return null;
  const names = new Set<string>();
  for (let at = from; at < body.length; ) {
    let end = body.indexOf(0x0a, at);
    if (end < 0) end = body.length;
    const space = body.indexOf(0x20, at);
    if (space > at && space < end) names.add(body.toString('latin1', at, space));
    at = end + 1;
  }
  return names;
}
