/**
 * One upstream's compact index and gems, cached: /versions and /info/NAME are fetched, checked,
 * stored in the blob store (so they survive restarts and are shared by every node), served from
 * memory while fresh (max_age_ms), revalidated after that (/versions with a Range that asks for its
 * last 4 KiB again and If-None-Match, as Bundler does with one byte; /info with If-None-Match), and
 * served stale when the upstream fails. .gem files are verified against the upstream's /info
 * checksum before they are stored, and cached forever. Concurrent misses for the same thing share
 * one upstream request.
 *
 * This is the facade the rest of the code uses. The parts:
 *   upstream-docs.ts           the document cache: memory, blob store records, revalidation, stale
 *   upstream-gems.ts           .gem files and quick specs, verified and cached forever
 *   ../upstream/doc-record.ts  the stored records and their layout in the blob store
 *   ../upstream/checks.ts      digests, and the ranged /versions extension
 * Here: the upstream's GETs, and what /versions and /info must be to be taken.
 */
import type { BlobStore } from '../blobs/types.ts';
import type { CachedGem, Catalog } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';
import { isValidGemName } from '../gem/name.ts';
import type { LiveVersions, ParsedInfoLine } from '../index/compact-parse.ts';
import { packedLiveVersions, parseInfoFile } from '../index/compact-parse.ts';
import { declaredSha256, extendedBody, sha256Hex, VERSIONS_OVERLAP, vouchedFor } from '../upstream/checks.ts';
import type { GetOptions, UpstreamClient, UpstreamResponse } from '../upstream/client.ts';
import { excluded } from '../upstream/policy.ts';
import type { UpstreamDoc, UpstreamEvent } from './upstream-docs.ts';
import { makeDoc, UpstreamDocCache } from './upstream-docs.ts';
import { UpstreamGemFiles } from './upstream-gems.ts';

export type { UpstreamDoc, UpstreamEvent } from './upstream-docs.ts';

/** The parsed /versions of an upstream: live tokens and MD5 per name. */
export interface UpstreamVersions {
  doc: UpstreamDoc;
  createdAt: string | null;
  /** Offset of the first line after `---`. */
  bodyStart: number;
  live: LiveVersions;
}

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
  /**
   * How many /info documents (and parsed ones) stay in memory. A server keeps its hot set (the
   * defaults); a mirror reads each /info about once, so it keeps few.
   */
  memory?: { docs: number; parsed: number };
}

/** Bytes of /versions compared to tell a grown file from a rewritten one (its header and first lines). */
const VERSIONS_HEAD_BYTES = 4096;

/** Parsed /info files kept in memory (least recently used leave first). */
const PARSED_MAX = 1_024;

export class UpstreamSource {
  readonly name: string;
  private readonly docs: UpstreamDocCache;
  private readonly files: UpstreamGemFiles;
  private parsed: UpstreamVersions | null = null;
  /** The last /versions body checked on its way in, parsed then, so versions() need not again. */
  private scanned: { body: Buffer; parsed: ReturnType<typeof packedLiveVersions> } | null = null;
  private readonly parsedInfos = new Map<string, { sha: string; lines: ParsedInfoLine[] }>();

  constructor(private readonly d: UpstreamSourceDeps) {
    this.name = d.client.name;
    const event = (e: UpstreamEvent, what: string, ms?: number) => this.d.onEvent?.(e, what, ms);
    const urlOf = (path: string) => d.client.urlOf(path);
    this.docs = new UpstreamDocCache({
      name: this.name,
      blobs: d.blobs,
      now: d.now,
      offline: d.offline,
      maxAgeMs: () => this.config.max_age_ms,
      urlOf,
      event,
      log: d.log,
      ...(d.memory ? { docsMax: d.memory.docs } : {}),
    });
    this.files = new UpstreamGemFiles({
      name: this.name,
      blobs: d.blobs,
      catalog: d.catalog,
      now: d.now,
      offline: d.offline,
      allows: (name) => this.allows(name),
      get: (path) => this.get(path),
      urlOf,
      infoLines: (name) => this.infoLines(name),
      event,
      log: d.log,
    });
  }

  get config() {
    return this.d.client.config;
  }

  /** True when the name may be asked of this upstream (not excluded by config). */
  allows(name: string): boolean {
    return !excluded(this.d.client.config.exclude, name);
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
    const doc = await this.docs.get('versions', (cur) => this.fetchVersions(cur), revalidate);
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
      return makeDoc(body, r.headers['etag'] ?? null, now);
    };
    if (!cur || cur.body.length === 0) return full();
    const r = await this.get('versions', {
      etag: cur.etag,
      from: Math.max(0, cur.body.length - VERSIONS_OVERLAP),
    });
    if (r.status === 304) return { ...cur, checkedAt: now };
    if (r.status === 206) {
      const body = extendedBody(cur.body, r.body, r.headers);
      if (!body) return full();
      // With no digest and no MD5 ETag, the file's head must still be our copy's: a rewrite (a new
      // created_at, re-sorted lines) is taken whole, not spliced onto our copy.
      if (!vouchedFor(r.headers) && !(await this.sameHead(cur.body))) return full();
      this.scan(body);
      return makeDoc(body, r.headers['etag'] ?? null, now);
    }
    if (r.status === 200) {
      const body = this.checked(r, 'versions');
      this.scan(body);
      return makeDoc(body, r.headers['etag'] ?? null, now);
    }
    // 416 (the file shrank: rewritten) or anything else: the whole file.
    return full();
  }

  /** Whether the upstream's /versions starts with the first bytes of `ours` (its header and more). */
  private async sameHead(ours: Buffer): Promise<boolean> {
    const n = Math.min(ours.length, VERSIONS_HEAD_BYTES);
    const r = await this.get('versions', { from: 0, to: n - 1 });
    if (r.status !== 206 && r.status !== 200) return false;
    return r.body.length >= n && r.body.subarray(0, n).equals(ours.subarray(0, n));
  }

  /** Checks a /versions body on its way in (throws on a bad one) and keeps it parsed for versions(). */
  private scan(body: Buffer): ReturnType<typeof packedLiveVersions> {
    const parsed = packedLiveVersions(body);
    this.scanned = { body, parsed };
    return parsed;
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
      return makeDoc(body, r.headers['etag'] ?? null, now);
    };
    let doc = await this.docs.get(path, fetch);
    if (doc && expectMd5 && doc.rep.md5 !== expectMd5 && !this.d.offline) {
      doc = await this.docs.get(path, fetch, true);
    }
    return doc;
  }

  /** The parsed lines of a cached /info. */
  async infoLines(name: string, expectMd5?: string): Promise<ParsedInfoLine[] | null> {
    return (await this.infoLinesOf(name, expectMd5))?.lines ?? null;
  }

  /**
   * The parsed lines of a cached /info, with the MD5 of the body they come from: not `expectMd5`
   * when the upstream could not be asked (a stored copy was served) or answered with an older body.
   */
  async infoLinesOf(
    name: string,
    expectMd5?: string,
  ): Promise<{ lines: ParsedInfoLine[]; md5: string } | null> {
    const doc = await this.info(name, expectMd5);
    if (!doc) return null;
    const hit = this.parsedInfos.get(name);
    this.parsedInfos.delete(name);
    if (hit && hit.sha === doc.sha256) {
      this.parsedInfos.set(name, hit);
      return { lines: hit.lines, md5: doc.rep.md5 };
    }
    const lines = parseInfoFile(doc.body, name);
    if (this.parsedInfos.size >= (this.d.memory?.parsed ?? PARSED_MAX))
      this.parsedInfos.delete(this.parsedInfos.keys().next().value as string);
    this.parsedInfos.set(name, { sha: doc.sha256, lines });
    return { lines, md5: doc.rep.md5 };
  }

  /**
   * A .gem of this upstream by file name (no .gem), verified against the checksum in its /info
   * before it is stored and served; cached forever. null: not a file of this upstream.
   */
  gem(name: string, token: string, file: string): Promise<CachedGem | null> {
    return this.files.gem(name, token, file);
  }

  /** The cached .gem of this upstream by file name (no .gem), without fetching. */
  cachedGem(file: string): Promise<CachedGem | null> {
    return this.files.cachedGem(file);
  }

  /** A quick spec of this upstream (immutable once published): cached forever. */
  quickSpec(name: string, file: string): Promise<Buffer | null> {
    return this.files.quickSpec(name, file);
  }

  close(): Promise<void> {
    return this.d.client.close();
  }
}
