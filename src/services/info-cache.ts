/**
 * The /info representations an IndexView keeps: a hot set of objects, and every body loaded in an
 * InfoStore outside the JS heap. No IO; the view decides when an entry is current.
 */
import type { Representation } from './index-bodies.ts';
import { InfoStore } from './index-bodies.ts';

/**
 * /info representations kept as objects (the hot set). Each costs about 3 KiB of JS heap with the
 * headers the HTTP layer prepares for it: at 190,000 gems that was 575 MB of heap and garbage
 * collections pausing the server for up to 0.8 s. Bodies beyond the hot set stay in an InfoStore.
 */
const INFO_HOT = 20_000;
/**
 * Bytes of /info bodies kept outside the JS heap (InfoStore): every gem of a catalog as large as
 * rubygems.org's (190,000 names, 173 MB of bodies) fits.
 */
const INFO_STORE_BYTES = 256 * 1024 * 1024;

export class InfoCache {
  /** The hot representations, oldest first (at most hotMax); null: never published. */
  private readonly hot = new Map<string, Representation | null>();
  /**
   * Names served from the store once lately (at most hotMax): a second request puts the body in
   * the hot set. Requests spread over every name then make short-lived representations the young
   * generation collects cheaply, instead of churning the hot set (long-lived garbage, full GCs).
   */
  private seen = new Set<string>();

  /**
   * @param hotMax representations kept as objects
   * @param store every body loaded (INFO_STORE_BYTES of them by default), outside the heap
   */
  constructor(
    private readonly hotMax = INFO_HOT,
    private readonly store = new InfoStore(INFO_STORE_BYTES),
  ) {}

  /** A cached /info (null: never published), or undefined when not cached. */
  get(name: string): Representation | null | undefined {
    const hot = this.hot.get(name);
    if (hot !== undefined) return hot;
    const stored = this.store.get(name);
    if (!stored) return undefined;
    if (this.seen.delete(name)) return this.promote(name, stored);
    if (this.seen.size >= this.hotMax) this.seen = new Set();
    this.seen.add(name);
    return stored;
  }

  /** Caches a loaded /info; returns it. */
  keep(name: string, rep: Representation | null): Representation | null {
    const stored = rep !== null && this.store.set(name, rep);
    // Once the hot set is full, a body loaded goes to the store only and, like one served from
    // there, joins the hot set when asked for again: a sweep over every gem (a mirror, a cold
    // start) then churns nothing long-lived.
    if (stored && this.hot.size >= this.hotMax) return rep;
    return this.promote(name, rep);
  }

  delete(name: string): void {
    this.hot.delete(name);
    this.store.delete(name);
  }

  clear(): void {
    this.hot.clear();
    this.store.clear();
    this.seen.clear();
  }

  /** Puts an /info in the hot set, dropping the oldest past hotMax (their bodies stay stored). */
  private promote(name: string, rep: Representation | null): Representation | null {
    this.hot.delete(name);
    this.hot.set(name, rep);
    if (this.hot.size > this.hotMax) this.hot.delete(this.hot.keys().next().value!);
    return rep;
  }
}
