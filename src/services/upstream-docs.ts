/**
 * The cache of one upstream's compact index documents (/versions, /info/NAME): served from memory
 * while fresh (max_age_ms), else loaded from the blob store (another node's fetch, or one from
 * before a restart) and revalidated with the caller's fetch, and served stale when the upstream
 * fails. What is fetched is stored in the blob store (so it survives restarts and is shared by every
 * node), in the records of upstream/doc-record.ts. Concurrent misses for the same document share
 * one upstream request.
 */
import type { BlobStore } from '../blobs/types.ts';
import { QuarryError } from '../errors.ts';
import {
  bareRecord,
  bodyKey,
  bodyMatches,
  docKey,
  INLINE_BODY_MAX,
  inlineRecord,
  parseRecord,
  storedMeta,
} from '../upstream/doc-record.ts';
import { isFresh, NOT_FOUND_TTL_MS } from '../upstream/policy.ts';
import { SingleFlight } from '../upstream/single-flight.ts';
import type { Representation } from './index-view.ts';
import { represent } from './index-view.ts';

/** A cached upstream document. */
export interface UpstreamDoc {
  body: Buffer;
  etag: string | null;
  /** Wall-clock ms of the last fetch or revalidation. */
  checkedAt: number;
  sha256: string;
  /** The representation served (MD5 ETag, digests), made once per body. */
  rep: Representation;
}

/** What happened, for metrics. */
export type UpstreamEvent = 'hit' | 'miss' | 'revalidated' | 'stale' | 'error' | 'not_found' | 'tampered';

export function makeDoc(body: Buffer, etag: string | null, checkedAt: number, sha?: string): UpstreamDoc {
  const rep = represent(body, new Date(checkedAt));
  // The representation's SHA-256 (base64) is the body's: not computed a second time.
  const sha256 = sha ?? Buffer.from(rep.sha256, 'base64').toString('hex');
  return { body, etag, checkedAt, sha256, rep };
}

/** Fetches a document anew, given the cached copy (for a conditional GET); null: the upstream has none. */
export type Revalidate = (cur: UpstreamDoc | null) => Promise<UpstreamDoc | null>;

export interface DocCacheDeps {
  /** The upstream's name: its folder in the blob store. */
  name: string;
  blobs: BlobStore;
  /** Wall clock. */
  now: () => Date;
  /** Answer from the cache alone; never contact the upstream. */
  offline: boolean;
  /** How long a document stays fresh (the upstream's max_age_ms). */
  maxAgeMs: () => number;
  /** The upstream's URL of a path, for messages. */
  urlOf: (path: string) => string;
  event: (event: UpstreamEvent, what: string, ms?: number) => void;
  log?: (msg: string, detail: Record<string, unknown>) => void;
  /** Documents kept in memory (default DOCS_MAX). */
  docsMax?: number;
}

/**
 * Compact index documents kept in memory, at most this many and this many bytes of bodies (the
 * least recently used leave first; they are in the blob store and are read from there again):
 * a mirror of a whole source reads every /info once, and memory must not grow with the source.
 */
export const DOCS_MAX = 4_096;
const DOCS_BYTES_MAX = 64 * 1024 * 1024;

export class UpstreamDocCache {
  private readonly docs = new Map<string, UpstreamDoc>();
  private docsBytes = 0;
  /** Upstream 404s by path, with when they were seen. */
  private readonly missing = new Map<string, number>();
  private readonly flights = new SingleFlight();

  private readonly docsMax: number;

  constructor(private readonly d: DocCacheDeps) {
    this.docsMax = d.docsMax ?? DOCS_MAX;
  }

  /**
   * A compact index document: from memory while fresh, else revalidated (or loaded from the store),
   * stale when the upstream fails, 503 when nothing is cached. null: the upstream has no such file.
   * @param force ask the upstream even while the cached copy is fresh.
   */
  async get(path: string, revalidate: Revalidate, force = false): Promise<UpstreamDoc | null> {
    const now = this.d.now().getTime();
    const maxAge = this.d.maxAgeMs();
    const mem = this.docs.get(path);
    if (mem && !force && isFresh(mem.checkedAt, now, maxAge)) {
      this.d.event('hit', path);
      if (path !== 'versions' && this.docs.size > 1) {
        // Most recently used last.
        this.docs.delete(path);
        this.docs.set(path, mem);
      }
      return mem;
    }
    const gone = this.missing.get(path);
    if (!mem && gone !== undefined && now - gone < Math.min(maxAge, NOT_FOUND_TTL_MS)) return null;
    return this.flights.run(`doc:${path}${force ? ':force' : ''}`, async () => {
      let cur = this.docs.get(path) ?? null;
      if (!cur) {
        cur = await this.loadStored(path);
        if (cur) this.remember(path, cur);
      }
      const t = this.d.now().getTime();
      if (cur && !force && isFresh(cur.checkedAt, t, maxAge)) {
        this.d.event('hit', path);
        return cur;
      }
      if (this.d.offline) {
        if (cur) return cur;
        throw new QuarryError('upstream_unavailable', `offline: ${this.d.urlOf(path)} is not cached`, {
          retryAfter: 60,
        });
      }
      const t0 = performance.now();
      try {
        const next = await revalidate(cur);
        const ms = performance.now() - t0;
        if (next === null) {
          this.d.event('not_found', path, ms);
          this.missing.set(path, this.d.now().getTime());
          this.forget(path);
          return null;
        }
        this.missing.delete(path);
        this.d.event(cur ? 'revalidated' : 'miss', path, ms);
        if (!cur || cur.sha256 !== next.sha256 || cur.etag !== next.etag) await this.store(path, next);
        else await this.store(path, next).catch(() => {});
        this.remember(path, next);
        return next;
      } catch (e) {
        if (cur && e instanceof QuarryError && e.code.startsWith('upstream_')) {
          this.d.event('stale', path, performance.now() - t0);
          this.d.log?.('upstream failed; serving the cached copy', {
            upstream: this.d.name,
            path,
            error: e.message,
          });
          return cur;
        }
        this.d.event('error', path, performance.now() - t0);
        if (e instanceof QuarryError && e.code.startsWith('upstream_')) throw e;
        if (e instanceof QuarryError && e.code === 'invalid_index') {
          throw new QuarryError('upstream_bad_gateway', `upstream ${this.d.name}: ${e.message}`, {
            cause: e,
          });
        }
        throw e;
      }
    });
  }

  /** A document in memory, as the most recently used; the least recently used leave past the bounds. */
  private remember(path: string, doc: UpstreamDoc): void {
    this.forget(path);
    this.docs.set(path, doc);
    this.docsBytes += doc.body.length;
    while ((this.docs.size > this.docsMax || this.docsBytes > DOCS_BYTES_MAX) && this.docs.size > 1) {
      const oldest = this.docs.keys().next().value as string;
      // /versions is read by every request of the merged index: it stays.
      if (oldest === 'versions') this.remember(oldest, this.docs.get(oldest)!);
      else this.forget(oldest);
    }
  }

  private forget(path: string): void {
    const old = this.docs.get(path);
    if (!old) return;
    this.docs.delete(path);
    this.docsBytes -= old.body.length;
  }

  /** The stored copy (another node's fetch, or one from before a restart), or null. */
  private async loadStored(path: string): Promise<UpstreamDoc | null> {
    const record = await this.d.blobs.get(docKey(this.d.name, path)).catch(() => null);
    if (!record) return null;
    const parsed = parseRecord(record);
    if (!parsed) return null;
    const { meta } = parsed;
    const body = parsed.body ?? (await this.d.blobs.get(bodyKey(this.d.name, meta.sha256)).catch(() => null));
    if (!body || !bodyMatches(meta, body)) return null;
    return makeDoc(body, meta.etag, Date.parse(meta.checkedAt), meta.sha256);
  }

  /**
   * Stores a record with its body in one blob (written whole or not at all), or, for a large body,
   * the body first and then the record pointing to it: readers never see a partial one.
   */
  private async store(path: string, doc: UpstreamDoc): Promise<void> {
    const meta = storedMeta(doc);
    if (doc.body.length <= INLINE_BODY_MAX) {
      await this.d.blobs.put(docKey(this.d.name, path), inlineRecord(meta, doc.body), {
        contentType: 'application/octet-stream',
      });
      return;
    }
    const key = bodyKey(this.d.name, doc.sha256);
    if ((await this.d.blobs.head(key)) === null) await this.d.blobs.put(key, doc.body);
    await this.d.blobs.put(docKey(this.d.name, path), bareRecord(meta), { contentType: 'application/json' });
  }
}
