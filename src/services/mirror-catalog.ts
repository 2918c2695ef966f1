/**
 * What `quarry mirror` asks of the catalog besides recording gems: whether a version is already
 * here with the upstream's bytes, and the versions mirrored from the upstream that it yanked.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../catalog/types.ts';
import type { ClosureEntry } from '../index/closure.ts';
import { hashSet } from '../util/hash-set.ts';
import type { GemService } from './gems.ts';

/** A closure entry's file name without .gem: NAME-VERSION[-PLATFORM]. */
export const fileOf = (e: Pick<ClosureEntry, 'name' | 'token'>): string => `${e.name}-${e.token}`;

/**
 * Already here with the upstream's bytes? One catalog query per name that has versions here (the
 * last few names' answers are kept: a name's entries come together), none for the names the
 * catalog does not know: a first mirror of a large source asks nothing per gem.
 */
export async function presentCheck(
  catalog: Catalog,
  to: string | undefined,
): Promise<(e: ClosureEntry) => Promise<boolean>> {
  if (to) return async (e) => existsSync(join(to, 'gems', `${fileOf(e)}.gem`));
  const known = hashSet(await catalog.gemNames());
  const recent = new Map<string, Promise<Map<string, string>>>();
  return async (e) => {
    if (!known(e.name)) return false;
    let shas = recent.get(e.name);
    if (!shas) {
      shas = catalog.allVersions(e.name).then((vs) => {
        const m = new Map<string, string>();
        for (const v of vs) m.set(`${v.number} ${v.platform}`, v.sha256);
        return m;
      });
      if (recent.size >= 64) recent.delete(recent.keys().next().value as string);
      recent.set(e.name, shas);
    }
    const sha = (await shas).get(`${e.version} ${e.platform}`);
    return sha !== undefined && (e.checksum === null || sha === e.checksum);
  };
}

/**
 * Yanks here the versions mirrored from this upstream that it no longer lists: of every name, or
 * of `only` (from a complete run's mark: the names on /versions lines after it, as a yank upstream
 * adds a line, and the names recorded here since its yank check).
 */
export async function syncYanks(
  catalog: Catalog,
  gems: Pick<GemService, 'yank'>,
  upstream: string,
  live: { get(name: string): { tokens: string[] } | undefined },
  only?: ReadonlySet<string>,
): Promise<string[]> {
  const out: string[] = [];
  const origin = `mirror:${upstream}`;
  const names = only ? [...only].sort() : await catalog.gemNames();
  for (const name of names) {
    const tokens = new Set(live.get(name)?.tokens ?? []);
    for (const v of await catalog.liveVersions(name)) {
      if (v.origin !== origin) continue;
      const token = v.platform === 'ruby' ? v.number : `${v.number}-${v.platform}`;
      if (tokens.has(token)) continue;
      await gems.yank(name, v.number, v.platform);
      out.push(`${name}-${token}`);
    }
  }
  return out;
}
