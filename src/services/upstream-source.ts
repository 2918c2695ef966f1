/**
 * One upstream's compact index and gems, cached: /versions and /info/NAME are fetched, checked,
 * stored in the blob store (so they survive restarts and are shared by every node), served from
 * memory while fresh (max_age_ms), revalidated after that (/versions with a Range from its size − 1
 * and If-None-Match, as Bundler does; /info with If-None-Match), and served stale when the upstream
 * fails. .gem files are verified against the upstream's /info checksum before they are stored, and
 * cached forever. Concurrent misses for the same thing share one upstream request.
 *
 * Layout in the blob store, per upstream NAME:
 *   upstream/NAME/docs/versions.json, upstream/NAME/docs/info/GEM.json   what was fetched, when
 *   upstream/NAME/bodies/SHA256                                           the bodies they point to
 * A body up to INLINE_BODY_MAX (every /info but the largest) is stored in its record instead, after
 * the record's JSON line: one file per /info, not two (a mirror of a whole source writes one for
 * every name). Records of either form are read.
 *   upstream/NAME/quick/FILE.gemspec.rz                                   quick specs (immutable)
 * and .gem files as every other gem: the content-addressed gems/sha256/XX/SHA256.gem, listed in the
 * catalog's cached_gems.
 */
import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { gemBlobKey } from '../blobs/keys.ts';
import type { BlobStore } from '../blobs/types.ts';
import type { CachedGem, Catalog } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';
import { isValidGemName } from '../gem/name.ts';
import { isoSeconds } from '../index/compact.ts';
import type { LiveVersions, ParsedInfoLine } from '../index/compact-parse.ts';
import { packedLiveVersions, parseInfoFile } from '../index/compact-parse.ts';
import type { GetOptions, UpstreamClient, UpstreamResponse } from '../upstream/client.ts';
import { excluded, isFresh, NOT_FOUND_TTL_MS } from '../upstream/policy.ts';
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

interface StoredMeta {
  etag: string | null;
  checkedAt: string;
  sha256: string;
  size: number;
}

/** The parsed /versions of an upstream: live tokens and MD5 per name. */
export interface UpstreamVersions {
  doc: UpstreamDoc;
  createdAt: string | null;
  /** Offset of the first line after `---`. */
  bodyStart: number;
  live: LiveVersions;
}

/** What happened, for metrics. */
export type UpstreamEvent = 'hit' | 'miss' | 'revalidated' | 'stale' | 'error' | 'not_found' | 'tampered';

export interface UpstreamSourceDeps {
  client: UpstreamClient;
  blobs: BlobStore;
  catalog: Catalog;
  /** Wall clock. */
  now: () => Date;
  /** Answer from the cache alone; never contact the upstream. */
  offline: boolean;
  onEvent?: (event: UpstreamEvent, what: string, ms?: number) => void;
  log?: (msg: string, detail: Record<string, unknown>) => void;
}

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `sha-256=:BASE64:` from Repr-Digest (or Digest: SHA-256=BASE64), as hex; null when absent. */
function declaredSha256(headers: Record<string, string>): string | null {
  const rd = headers['repr-digest'];
  const m = rd ? /sha-256=:([A-Za-z0-9+/=]+):/i.exec(rd) : null;
  if (m) return Buffer.from(m[1]!, 'base64').toString('hex');
  const d = headers['digest'];
  const m2 = d ? /sha-256=([A-Za-z0-9+/=]+)/i.exec(d) : null;
  return m2 ? Buffer.from(m2[1]!, 'base64').toString('hex') : null;
}

/**
 * Compact index documents kept in memory, at most this many and this many bytes of bodies (the
 * least recently used leave first; they are in the blob store and are read from there again):
 * a mirror of a whole source reads every /info once, and memory must not grow with the source.
 */
const DOCS_MAX = 4_096;
const DOCS_BYTES_MAX = 64 * 1024 * 1024;
/** Parsed /info files kept in memory (least recently used leave first). */
const PARSED_MAX = 1_024;

/** Bodies up to this size are stored inside their record (one blob), larger ones beside it. */
const INLINE_BODY_MAX = 256 * 1024;

/** How long a cached .gem record is taken from memory before the catalog is asked again. */
const KNOWN_GEM_TTL_MS = 60_000;

export class UpstreamSource {
  readonly name: string;
  private readonly docs = new Map<string, UpstreamDoc>();
  private docsBytes = 0;
  /** Upstream 404s by path, with when they were seen. */
  private readonly missing = new Map<string, number>();
  private readonly flights = new Map<string, Promise<unknown>>();
  private parsed: UpstreamVersions | null = null;
  /** The last /versions body checked on its way in, parsed then, so versions() need not again. */
  private scanned: { body: Buffer; parsed: ReturnType<typeof packedLiveVersions> } | null = null;
  private readonly parsedInfos = new Map<string, { sha: string; lines: ParsedInfoLine[] }>();
  /**
   * Cached .gem records by file name, remembered for KNOWN_GEM_TTL_MS (monotonic): a download that
   * hits the cache asks the catalog at most once a minute per file (a query per download was most of
   * its cost), and a prune by another process shows within that time.
   */
  private readonly knownGems = new Map<string, { g: CachedGem; at: number }>();

  constructor(private readonly d: UpstreamSourceDeps) {
    this.name = d.client.name;
  }

  get config() {
    return this.d.client.config;
  }

  /** True when the name may be asked of this upstream (not excluded by config). */
  allows(name: string): boolean {
    return !excluded(this.d.client.config.exclude, name);
  }

  private event(e: UpstreamEvent, what: string, ms?: number): void {
    this.d.onEvent?.(e, what, ms);
  }

  /** One flight per key: concurrent callers share the promise. */
  private single<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const cur = this.flights.get(key) as Promise<T> | undefined;
    if (cur) return cur;
    const p = fn().finally(() => this.flights.delete(key));
    this.flights.set(key, p);
    return p;
  }

  /**
   * A GET of the upstream. A call that fails (no answer within the deadline, a reset, a cut-off
   * body, a 5xx, an open breaker) is upstream_unavailable with a Retry-After: the caller serves its
   * cached copy, and with none the client gets 503, never 502 or 504. Bytes that arrive whole but
   * fail a check (digest, checksum) stay upstream_bad_gateway (502), raised by the callers.
   */
  private async get(path: string, o?: GetOptions): Promise<UpstreamResponse> {
    try {
      return await this.d.client.get(path, o);
    } catch (e) {
      if (!(e instanceof QuarryError) || e.code === 'upstream_unavailable') throw e;
      throw new QuarryError('upstream_unavailable', e.message, {
        cause: e,
        retryAfter: this.d.client.retryAfter(),
      });
    }
  }

  /** A document in memory, as the most recently used; the least recently used leave past the bounds. */
  private remember(path: string, doc: UpstreamDoc): void {
    this.forget(path);
    this.docs.set(path, doc);
    this.docsBytes += doc.body.length;
    while ((this.docs.size > DOCS_MAX || this.docsBytes > DOCS_BYTES_MAX) && this.docs.size > 1) {
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

  private docKey = (path: string) => `upstream/${this.name}/docs/${path}.json`;
  private bodyKey = (sha: string) => `upstream/${this.name}/bodies/${sha}`;

  private makeDoc(body: Buffer, etag: string | null, checkedAt: number, sha?: string): UpstreamDoc {
    const sha256 = sha ?? sha256Hex(body);
    return { body, etag, checkedAt, sha256, rep: represent(body, new Date(checkedAt)) };
  }

  /** The stored copy (another node's fetch, or one from before a restart), or null. */
  private async loadStored(path: string): Promise<UpstreamDoc | null> {
    const record = await this.d.blobs.get(this.docKey(path)).catch(() => null);
    if (!record) return null;
    // `JSON\nBODY` (the body inside), or the JSON alone (the body under bodies/).
    const nl = record.indexOf(10);
    let meta: StoredMeta;
    try {
      meta = JSON.parse(record.toString('utf8', 0, nl < 0 ? record.length : nl)) as StoredMeta;
    } catch {
      return null;
    }
    const body =
      nl >= 0 ? record.subarray(nl + 1) : await this.d.blobs.get(this.bodyKey(meta.sha256)).catch(() => null);
    if (!body || body.length !== meta.size || sha256Hex(body) !== meta.sha256) return null;
    return this.makeDoc(body, meta.etag, Date.parse(meta.checkedAt), meta.sha256);
  }

  /**
   * Stores a record with its body in one blob (written whole or not at all), or, for a large body,
   * the body first and then the record pointing to it: readers never see a partial one.
   */
  private async store(path: string, doc: UpstreamDoc): Promise<void> {
    const meta: StoredMeta = {
      etag: doc.etag,
      checkedAt: new Date(doc.checkedAt).toISOString(),
      sha256: doc.sha256,
      size: doc.body.length,
    };
    const json = Buffer.from(JSON.stringify(meta));
    if (doc.body.length <= INLINE_BODY_MAX) {
      await this.d.blobs.put(this.docKey(path), Buffer.concat([json, Buffer.from('\n'), doc.body]), {
        contentType: 'application/octet-stream',
      });
      return;
    }
    const bodyKey = this.bodyKey(doc.sha256);
    if ((await this.d.blobs.head(bodyKey)) === null) await this.d.blobs.put(bodyKey, doc.body);
    await this.d.blobs.put(this.docKey(path), json, { contentType: 'application/json' });
  }

  /**
   * A compact index document: from memory while fresh, else revalidated (or loaded from the store),
   * stale when the upstream fails, 503 when nothing is cached. null: the upstream has no such file.
   */
  private async doc(
    path: string,
    revalidate: (cur: UpstreamDoc | null) => Promise<UpstreamDoc | null>,
    force = false,
  ): Promise<UpstreamDoc | null> {
    const now = this.d.now().getTime();
    const maxAge = this.config.max_age_ms;
    const mem = this.docs.get(path);
    if (mem && !force && isFresh(mem.checkedAt, now, maxAge)) {
      this.event('hit', path);
      if (path !== 'versions' && this.docs.size > 1) {
        // Most recently used last.
        this.docs.delete(path);
        this.docs.set(path, mem);
      }
      return mem;
    }
    const gone = this.missing.get(path);
    if (!mem && gone !== undefined && now - gone < Math.min(maxAge, NOT_FOUND_TTL_MS)) return null;
    return this.single(`doc:${path}${force ? ':force' : ''}`, async () => {
      let cur = this.docs.get(path) ?? null;
      if (!cur) {
        cur = await this.loadStored(path);
        if (cur) this.remember(path, cur);
      }
      const t = this.d.now().getTime();
      if (cur && !force && isFresh(cur.checkedAt, t, maxAge)) {
        this.event('hit', path);
        return cur;
      }
      if (this.d.offline) {
        if (cur) return cur;
        throw new QuarryError('upstream_unavailable', `offline: ${this.d.client.urlOf(path)} is not cached`, {
          retryAfter: 60,
        });
      }
      const t0 = performance.now();
      try {
        const next = await revalidate(cur);
        const ms = performance.now() - t0;
        if (next === null) {
          this.event('not_found', path, ms);
          this.missing.set(path, this.d.now().getTime());
          this.forget(path);
          return null;
        }
        this.missing.delete(path);
        this.event(cur ? 'revalidated' : 'miss', path, ms);
        if (!cur || cur.sha256 !== next.sha256 || cur.etag !== next.etag) await this.store(path, next);
        else await this.store(path, next).catch(() => {});
        this.remember(path, next);
        return next;
      } catch (e) {
        if (cur && e instanceof QuarryError && e.code.startsWith('upstream_')) {
          this.event('stale', path, performance.now() - t0);
          this.d.log?.('upstream failed; serving the cached copy', {
            upstream: this.name,
            path,
            error: e.message,
          });
          return cur;
        }
        this.event('error', path, performance.now() - t0);
        if (e instanceof QuarryError && e.code.startsWith('upstream_')) throw e;
        if (e instanceof QuarryError && e.code === 'invalid_index') {
          throw new QuarryError('upstream_bad_gateway', `upstream ${this.name}: ${e.message}`, { cause: e });
        }
        throw e;
      }
    });
  }

  /** A full body from a 200 answer, checked against its Repr-Digest when the upstream sends one. */
  private checked(r: UpstreamResponse, path: string): Buffer {
    const want = declaredSha256(r.headers);
    if (want && sha256Hex(r.body) !== want) {
      throw new QuarryError(
        'upstream_bad_gateway',
        `${this.d.client.urlOf(path)}: body does not match its Repr-Digest`,
      );
    }
    return r.body;
  }

  /** The upstream's /versions. */
  /** @param revalidate ask the upstream even while the cached copy is fresh (quarry mirror). */
  async versions(revalidate = false): Promise<UpstreamVersions> {
    const doc = await this.doc('versions', (cur) => this.fetchVersions(cur), revalidate);
    if (!doc) throw new QuarryError('upstream_bad_gateway', `upstream ${this.name} has no /versions`);
    if (this.parsed?.doc !== doc) {
      const { createdAt, bodyStart, live } =
        this.scanned?.body === doc.body ? this.scanned.parsed : packedLiveVersions(doc.body);
      this.scanned = null;
      this.parsed = { doc, createdAt, bodyStart, live };
    }
    return this.parsed;
  }

  private async fetchVersions(cur: UpstreamDoc | null): Promise<UpstreamDoc | null> {
    const now = this.d.now().getTime();
    const full = async (): Promise<UpstreamDoc> => {
      const r = await this.get('versions');
      if (r.status !== 200) {
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.client.urlOf('versions')} answered ${r.status}`,
        );
      }
      const body = this.checked(r, 'versions');
      this.scan(body);
      return this.makeDoc(body, r.headers['etag'] ?? null, now);
    };
    if (!cur || cur.body.length === 0) return full();
    const r = await this.get('versions', { etag: cur.etag, from: cur.body.length - 1 });
    if (r.status === 304) return { ...cur, checkedAt: now };
    if (r.status === 206) {
      // The first byte repeats our last one ("\n"): a body that still extends ours.
      if (r.body.length === 0 || r.body[0] !== cur.body[cur.body.length - 1]) return full();
      const range = /bytes (\d+)-\d+\/(\d+)/.exec(r.headers['content-range'] ?? '');
      if (!range || Number(range[1]) !== cur.body.length - 1) return full();
      const body = Buffer.concat([cur.body, r.body.subarray(1)]);
      const want = declaredSha256(r.headers);
      if (want && sha256Hex(body) !== want) return full();
      if (Number(range[2]) !== body.length) return full();
      // A new created_at is the monthly rewrite: take the whole new file.
      if (this.scan(body).createdAt !== this.createdAtOf(cur)) return full();
      return this.makeDoc(body, r.headers['etag'] ?? null, now);
    }
    if (r.status === 200) {
      const body = this.checked(r, 'versions');
      this.scan(body);
      return this.makeDoc(body, r.headers['etag'] ?? null, now);
    }
    // 416 (the file shrank: rewritten) or anything else: the whole file.
    return full();
  }

  /** Checks a /versions body on its way in (throws on a bad one) and keeps it parsed for versions(). */
  private scan(body: Buffer): ReturnType<typeof packedLiveVersions> {
    const parsed = packedLiveVersions(body);
    this.scanned = { body, parsed };
    return parsed;
  }

  private createdAtOf(doc: UpstreamDoc): string | null {
    const head = doc.body.subarray(0, Math.min(doc.body.length, 200)).toString('latin1');
    return /^created_at: (\S+)$/m.exec(head)?.[1] ?? null;
  }

  /**
   * The upstream's /info/NAME, or null. `expectMd5` is the MD5 this node's /versions gives for the
   * name: a cached body that differs from it is revalidated at once, so that the merged /versions
   * and /info agree.
   */
  async info(name: string, expectMd5?: string): Promise<UpstreamDoc | null> {
    if (!isValidGemName(name) || !this.allows(name)) return null;
    const path = `info/${name}`;
    const fetch = async (cur: UpstreamDoc | null): Promise<UpstreamDoc | null> => {
      const now = this.d.now().getTime();
      const r = await this.get(path, { etag: cur?.etag ?? null });
      if (r.status === 304 && cur) return { ...cur, checkedAt: now };
      if (r.status === 404 || r.status === 410) return null;
      if (r.status !== 200) {
        throw new QuarryError('upstream_bad_gateway', `${this.d.client.urlOf(path)} answered ${r.status}`);
      }
      const body = this.checked(r, path);
      parseInfoFile(body, name);
      return this.makeDoc(body, r.headers['etag'] ?? null, now);
    };
    let doc = await this.doc(path, fetch);
    if (doc && expectMd5 && doc.rep.md5 !== expectMd5 && !this.d.offline) {
      doc = await this.doc(path, fetch, true);
    }
    return doc;
  }

  /** The parsed lines of a cached /info. */
  async infoLines(name: string, expectMd5?: string): Promise<ParsedInfoLine[] | null> {
    const doc = await this.info(name, expectMd5);
    if (!doc) return null;
    const hit = this.parsedInfos.get(name);
    this.parsedInfos.delete(name);
    if (hit && hit.sha === doc.sha256) {
      this.parsedInfos.set(name, hit);
      return hit.lines;
    }
    const lines = parseInfoFile(doc.body, name);
    if (this.parsedInfos.size >= PARSED_MAX)
      this.parsedInfos.delete(this.parsedInfos.keys().next().value as string);
    this.parsedInfos.set(name, { sha: doc.sha256, lines });
    return lines;
  }

  /**
   * A .gem of this upstream by file name (no .gem), verified against the checksum in its /info
   * before it is stored and served; cached forever. null: not a file of this upstream.
   */
  async gem(name: string, token: string, file: string): Promise<CachedGem | null> {
    const known = this.knownGems.get(file);
    const cached =
      known && performance.now() - known.at < KNOWN_GEM_TTL_MS ? known.g : await this.cachedGemRecord(file);
    if (cached) {
      this.event('hit', `gems/${file}`);
      return cached;
    }
    if (!this.allows(name)) return null;
    if (this.d.offline) {
      throw new QuarryError('upstream_unavailable', `offline: gems/${file}.gem is not cached`, {
        retryAfter: 60,
      });
    }
    return this.single(`gem:${file}`, async () => {
      const again = await this.d.catalog.cachedGem(this.name, file);
      if (again) return again;
      const lines = await this.infoLines(name);
      const line = lines?.find((l) => l.token === token);
      if (!line) return null;
      if (!line.checksum) {
        throw new QuarryError(
          'upstream_bad_gateway',
          `upstream ${this.name} gives no checksum for ${file}; refusing to serve an unverified gem`,
        );
      }
      const t0 = performance.now();
      const r = await this.get(`gems/${file}.gem`);
      if (r.status === 404 || r.status === 410) {
        this.event('not_found', `gems/${file}`, performance.now() - t0);
        return null;
      }
      if (r.status !== 200) {
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.client.urlOf(`gems/${file}.gem`)} answered ${r.status}`,
        );
      }
      const sha = sha256Hex(r.body);
      if (sha !== line.checksum) {
        this.event('tampered', `gems/${file}`);
        this.d.log?.('upstream gem does not match its checksum; refused', {
          upstream: this.name,
          file,
          expected: line.checksum,
          got: sha,
        });
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.client.urlOf(`gems/${file}.gem`)}: SHA-256 ${sha} does not match the upstream's checksum ${line.checksum}; not stored`,
        );
      }
      const key = gemBlobKey(sha);
      if ((await this.d.blobs.head(key)) === null) {
        await this.d.blobs.put(key, r.body, { contentType: 'application/octet-stream' });
      }
      const g: CachedGem = {
        upstream: this.name,
        file,
        name,
        sha256: sha,
        size: r.body.length,
        fetchedAt: isoSeconds(this.d.now()),
      };
      await this.d.catalog.recordCachedGem(g);
      this.event('miss', `gems/${file}`, performance.now() - t0);
      return g;
    });
  }

  private async cachedGemRecord(file: string): Promise<CachedGem | null> {
    const at = performance.now();
    const g = await this.d.catalog.cachedGem(this.name, file);
    if (!g) this.knownGems.delete(file);
    else {
      if (this.knownGems.size >= 50_000) this.knownGems.clear();
      this.knownGems.set(file, { g, at });
    }
    return g;
  }

  /** The cached .gem of this upstream by file name (no .gem), without fetching. */
  cachedGem(file: string): Promise<CachedGem | null> {
    return this.d.catalog.cachedGem(this.name, file);
  }

  /** A quick spec of this upstream (immutable once published): cached forever. */
  async quickSpec(name: string, file: string): Promise<Buffer | null> {
    if (!this.allows(name)) return null;
    const key = `upstream/${this.name}/quick/${file}`;
    const stored = await this.d.blobs.get(key);
    if (stored) {
      this.event('hit', `quick/${file}`);
      return stored;
    }
    if (this.d.offline) {
      throw new QuarryError('upstream_unavailable', `offline: quick/Marshal.4.8/${file} is not cached`, {
        retryAfter: 60,
      });
    }
    return this.single(`quick:${file}`, async () => {
      const r = await this.get(`quick/Marshal.4.8/${file}`);
      if (r.status === 404 || r.status === 410) return null;
      if (r.status !== 200) {
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.client.urlOf(`quick/Marshal.4.8/${file}`)} answered ${r.status}`,
        );
      }
      // Cached forever, so checked first: a deflate stream ends with a checksum (Adler-32) of its bytes.
      try {
        inflateSync(r.body, { maxOutputLength: 64 * 1024 * 1024 });
      } catch {
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.client.urlOf(`quick/Marshal.4.8/${file}`)}: not a whole deflated spec; not stored`,
        );
      }
      await this.d.blobs.put(key, r.body, { contentType: 'application/octet-stream' });
      this.event('miss', `quick/${file}`);
      return r.body;
    });
  }

  close(): Promise<void> {
    return this.d.client.close();
  }
}
