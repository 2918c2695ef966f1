/** Membership of many strings in little memory. */

/** FNV-1a, 32 bits. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Membership by 32-bit hashes, sorted: 4 bytes a name where a Set of 190,000 names held 12 MB. A
 * false "yes" (about one name in 20,000 at that size) costs one catalog query, never a wrong answer.
 */
export function hashSet(names: readonly string[]): (name: string) => boolean {
  const hashes = Uint32Array.from(names, hash32).sort();
  return (name) => {
    const h = hash32(name);
    let lo = 0;
    let hi = hashes.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = hashes[mid]!;
      if (v === h) return true;
      if (v < h) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  };
}
