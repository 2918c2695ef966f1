/**
 * The dependency closure of a mirror: every version of each gem that satisfies a requirement in the
 * closure, on the listed platforms, following runtime dependencies (the compact index lists no
 * others) until nothing new appears. The /info lookup is passed in; the logic is pure.
 */

import { isPrereleaseRequirement, parseRequirement, satisfiedBy } from '../gem/requirement.ts';
import type { Requirement } from '../gem/spec.ts';
import { compareVersions, isPrerelease } from '../gem/version.ts';
import type { ParsedInfoLine } from './compact-parse.ts';

export interface ClosureRoot {
  name: string;
  /** Constraints such as `>= 7.1`; none: every version. */
  requirement: string[];
  /** Exactly this version (a lockfile entry); overrides requirement. */
  exact?: { version: string; platform: string };
}

export interface ClosureOptions {
  /** Platforms to take (`ruby` for pure-Ruby gems); a gem with none of them contributes nothing. */
  platforms: readonly string[];
  /** Take prerelease versions too (otherwise only when a requirement asks for one). */
  pre: boolean;
  /** Only the newest N matching versions of each requirement (after the other filters); 0: all. */
  latest: number;
  /** Name globs never taken. */
  excluded: (name: string) => boolean;
  /** Follow dependencies (false for lockfiles, whose entries are already the closure). */
  follow: boolean;
  /** /info lookups in flight at once: the next names in the queue are asked ahead (default 1). */
  concurrency?: number;
  /** Told of each entry as soon as it is chosen (a mirror starts its download then). */
  onEntry?: (e: ClosureEntry) => void;
}

export interface ClosureEntry {
  name: string;
  version: string;
  platform: string;
  /** The /info line's token: VERSION or VERSION-PLATFORM. */
  token: string;
  /** Hex SHA-256 from the upstream's /info; null when it gives none. */
  checksum: string | null;
}

export interface ClosureResult {
  entries: ClosureEntry[];
  /** Names asked for that the upstream does not have. */
  missing: string[];
  /** Names met (asked for, or depended on) that --exclude leaves out: not copied, not an error. */
  excluded: string[];
}

/** The platform of an /info line matches one of the listed ones (as written, or normalized). */
const platformListed = (platform: string, platforms: readonly string[]): boolean =>
  platforms.includes(platform) || platforms.includes('*');

export async function resolveClosure(
  roots: readonly ClosureRoot[],
  info: (name: string) => Promise<ParsedInfoLine[] | null>,
  o: ClosureOptions,
): Promise<ClosureResult> {
  const chosen = new Map<string, ClosureEntry>();
  const missing = new Set<string>();
  const excludedNames = new Set<string>();
  /** Requirements already expanded per name, to stop on cycles. */
  const seen = new Map<string, Set<string>>();
  const queue: ClosureRoot[] = [...roots];
  // A read position rather than shift(): a whole source (--all) queues every name at once.
  let head = 0;
  // Lookups are memoized as promises, and the next names in the queue are asked ahead, at most
  // `limit` at a time, so that a source of many names is not read one round trip after another.
  const limit = Math.max(1, o.concurrency ?? 1);
  const lines = new Map<string, Promise<ParsedInfoLine[] | null>>();
  let active = 0;
  const waiting: (() => void)[] = [];
  const limited = async (name: string): Promise<ParsedInfoLine[] | null> => {
    while (active >= limit) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await info(name);
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
  const lookup = (name: string): Promise<ParsedInfoLine[] | null> => {
    let p = lines.get(name);
    if (!p) {
      p = limited(name);
      p.catch(() => {}); // awaited when its turn comes; a failure surfaces there
      lines.set(name, p);
    }
    return p;
  };
  const askAhead = (): void => {
    if (limit === 1) return;
    let started = 0;
    for (let i = head; i < queue.length && i < head + 4 * limit && started < limit; i++) {
      const n = queue[i]!.name;
      if (lines.has(n) || o.excluded(n)) continue;
      void lookup(n);
      started++;
    }
  };
  while (head < queue.length) {
    const root = queue[head++]!;
    askAhead();
    if (o.excluded(root.name)) {
      excludedNames.add(root.name);
      continue;
    }
    const key = root.exact ? `=${root.exact.version}-${root.exact.platform}` : root.requirement.join('&');
    const done = seen.get(root.name) ?? new Set<string>();
    if (done.has(key)) continue;
    done.add(key);
    seen.set(root.name, done);
    const all = await lookup(root.name);
    // Without following, a name is not met again (lockfile entries of one name are few): keep
    // memory to the names in flight.
    if (!o.follow) lines.delete(root.name);
    if (!all || all.length === 0) {
      missing.add(root.name);
      continue;
    }
    let picked: ParsedInfoLine[];
    if (root.exact) {
      const { version, platform } = root.exact;
      picked = all.filter((l) => l.version === version && l.platform === platform);
      if (picked.length === 0)
        missing.add(`${root.name} (${version}${platform === 'ruby' ? '' : `-${platform}`})`);
    } else {
      const req: Requirement = parseRequirement(root.requirement.length > 0 ? root.requirement : ['>= 0']);
      const pre = o.pre || isPrereleaseRequirement(req);
      picked = all.filter(
        (l) =>
          platformListed(l.platform, o.platforms) &&
          (pre || !isPrerelease(l.version)) &&
          satisfiedBy(req, l.version),
      );
      if (o.latest > 0) {
        const versions = [...new Set(picked.map((l) => l.version))].sort((a, b) => compareVersions(b, a));
        const keep = new Set(versions.slice(0, o.latest));
        picked = picked.filter((l) => keep.has(l.version));
      }
    }
    for (const l of picked) {
      const id = `${root.name} ${l.token}`;
      if (chosen.has(id)) continue;
      const entry: ClosureEntry = {
        name: root.name,
        version: l.version,
        platform: l.platform,
        token: l.token,
        checksum: l.checksum ?? null,
      };
      chosen.set(id, entry);
      o.onEntry?.(entry);
      if (!o.follow) continue;
      for (const d of l.dependencies) queue.push({ name: d.name, requirement: d.requirements });
    }
  }
  const entries = [...chosen.values()].sort((a, b) =>
    a.name < b.name
      ? -1
      : a.name > b.name
        ? 1
        : compareVersions(a.version, b.version) || (a.platform < b.platform ? -1 : 1),
  );
  return { entries, missing: [...missing].sort(), excluded: [...excludedNames].sort() };
}

/** The gems of a Gemfile.lock's GEM sections: name, version and platform of each spec line. */
export function parseLockfile(text: string): { name: string; version: string; platform: string }[] {
  const out: { name: string; version: string; platform: string }[] = [];
  let inSpecs = false;
  let inGem = false;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\S/.test(raw)) {
      inGem = raw.trim() === 'GEM';
      inSpecs = false;
      continue;
    }
    if (!inGem) continue;
    if (/^ {2}specs:\s*$/.test(raw)) {
      inSpecs = true;
      continue;
    }
    if (/^ {2}\S/.test(raw)) {
      inSpecs = false;
      continue;
    }
    // Four spaces: a locked gem; six: one of its dependencies.
    const m = inSpecs ? /^ {4}([^ (]+) \(([^)]+)\)\s*$/.exec(raw) : null;
    if (!m) continue;
    const full = m[2]!;
    const dash = full.indexOf('-');
    out.push(
      dash < 0
        ? { name: m[1]!, version: full, platform: 'ruby' }
        : { name: m[1]!, version: full.slice(0, dash), platform: full.slice(dash + 1) },
    );
  }
  return out;
}
