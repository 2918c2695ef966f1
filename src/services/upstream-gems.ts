/**
 * One upstream's .gem files and quick specs, fetched once and cached forever (both are immutable
 * once published). A .gem is verified against the upstream's /info checksum before it is stored and
 * served, and stored as every other gem: the content-addressed gems/sha256/XX/SHA256.gem, listed in
 * the catalog's cached_gems. Quick specs go to upstream/NAME/quick/FILE.gemspec.rz. Concurrent
 * misses for the same file share one upstream request.
 */
import { inflateSync } from 'node:zlib';
import { gemBlobKey } from '../blobs/keys.ts';
import type { BlobStore } from '../blobs/types.ts';
import type { CachedGem, Catalog } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';
import { isoSeconds } from '../index/compact.ts';
import type { ParsedInfoLine } from '../index/compact-parse.ts';
import { sha256Hex } from '../upstream/checks.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import { SingleFlight } from '../upstream/single-flight.ts';
import type { UpstreamEvent } from './upstream-docs.ts';

export interface GemFilesDeps {
  /** The upstream's name. */
  name: string;
  blobs: BlobStore;
  catalog: Pick<Catalog, 'cachedGem' | 'recordCachedGem'>;
  /** Wall clock. */
  now: () => Date;
  /** Answer from the cache alone; never contact the upstream. */
  offline: boolean;
  /** True when the name may be asked of this upstream. */
  allows: (name: string) => boolean;
  /** A GET of the upstream (failures already upstream_unavailable). */
  get: (path: string) => Promise<UpstreamResponse>;
  /** The upstream's URL of a path, for messages. */
  urlOf: (path: string) => string;
  /** The parsed lines of the upstream's /info/NAME, or null: where the checksums come from. */
  infoLines: (name: string) => Promise<ParsedInfoLine[] | null>;
  event: (event: UpstreamEvent, what: string, ms?: number) => void;
  log?: (msg: string, detail: Record<string, unknown>) => void;
}

/** How long a cached .gem record is taken from memory before the catalog is asked again. */
const KNOWN_GEM_TTL_MS = 60_000;

export class UpstreamGemFiles {
  private readonly flights = new SingleFlight();
  /**
   * Cached .gem records by file name, remembered for KNOWN_GEM_TTL_MS (monotonic): a download that
   * hits the cache asks the catalog at most once a minute per file (a query per download was most of
   * its cost), and a prune by another process shows within that time.
   */
  private readonly knownGems = new Map<string, { g: CachedGem; at: number }>();

  constructor(private readonly d: GemFilesDeps) {}

  /**
   * A .gem of this upstream by file name (no .gem), verified against the checksum in its /info
   * before it is stored and served; cached forever. null: not a file of this upstream.
   */
  async gem(name: string, token: string, file: string): Promise<CachedGem | null> {
    const known = this.knownGems.get(file);
    const cached =
      known && performance.now() - known.at < KNOWN_GEM_TTL_MS ? known.g : await this.cachedGemRecord(file);
    if (cached) {
      this.d.event('hit', `gems/${file}`);
      return cached;
    }
    if (!this.d.allows(name)) return null;
    if (this.d.offline) {
      throw new QuarryError('upstream_unavailable', `offline: gems/${file}.gem is not cached`, {
        retryAfter: 60,
      });
    }
    return this.flights.run(`gem:${file}`, async () => {
      const again = await this.d.catalog.cachedGem(this.d.name, file);
      if (again) return again;
      const lines = await this.d.infoLines(name);
      const line = lines?.find((l) => l.token === token);
      if (!line) return null;
      if (!line.checksum) {
        throw new QuarryError(
          'upstream_bad_gateway',
          `upstream ${this.d.name} gives no checksum for ${file}; refusing to serve an unverified gem`,
        );
      }
      const t0 = performance.now();
      const r = await this.d.get(`gems/${file}.gem`);
      if (r.status === 404 || r.status === 410) {
        this.d.event('not_found', `gems/${file}`, performance.now() - t0);
        return null;
      }
      if (r.status !== 200) {
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.urlOf(`gems/${file}.gem`)} answered ${r.status}`,
        );
      }
      const sha = sha256Hex(r.body);
      if (sha !== line.checksum) {
        this.d.event('tampered', `gems/${file}`);
        this.d.log?.('upstream gem does not match its checksum; refused', {
          upstream: this.d.name,
          file,
          expected: line.checksum,
          got: sha,
        });
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.urlOf(`gems/${file}.gem`)}: SHA-256 ${sha} does not match the upstream's checksum ${line.checksum}; not stored`,
        );
      }
      const key = gemBlobKey(sha);
      if ((await this.d.blobs.head(key)) === null) {
        await this.d.blobs.put(key, r.body, { contentType: 'application/octet-stream' });
      }
      const g: CachedGem = {
        upstream: this.d.name,
        file,
        name,
        sha256: sha,
        size: r.body.length,
        fetchedAt: isoSeconds(this.d.now()),
      };
      await this.d.catalog.recordCachedGem(g);
      this.d.event('miss', `gems/${file}`, performance.now() - t0);
      return g;
    });
  }

  private async cachedGemRecord(file: string): Promise<CachedGem | null> {
    const at = performance.now();
    const g = await this.d.catalog.cachedGem(this.d.name, file);
    if (!g) this.knownGems.delete(file);
    else {
      if (this.knownGems.size >= 50_000) this.knownGems.clear();
      this.knownGems.set(file, { g, at });
    }
    return g;
  }

  /** The cached .gem of this upstream by file name (no .gem), without fetching. */
  cachedGem(file: string): Promise<CachedGem | null> {
    return this.d.catalog.cachedGem(this.d.name, file);
  }

  /** A quick spec of this upstream (immutable once published): cached forever. */
  async quickSpec(name: string, file: string): Promise<Buffer | null> {
    if (!this.d.allows(name)) return null;
    const key = `upstream/${this.d.name}/quick/${file}`;
    const stored = await this.d.blobs.get(key);
    if (stored) {
      this.d.event('hit', `quick/${file}`);
      return stored;
    }
    if (this.d.offline) {
      throw new QuarryError('upstream_unavailable', `offline: quick/Marshal.4.8/${file} is not cached`, {
        retryAfter: 60,
      });
    }
    return this.flights.run(`quick:${file}`, async () => {
      const path = `quick/Marshal.4.8/${file}`;
      const r = await this.d.get(path);
      if (r.status === 404 || r.status === 410) return null;
      if (r.status !== 200) {
        throw new QuarryError('upstream_bad_gateway', `${this.d.urlOf(path)} answered ${r.status}`);
      }
      // Cached forever, so checked first: a deflate stream ends with a checksum (Adler-32) of its bytes.
      try {
        inflateSync(r.body, { maxOutputLength: 64 * 1024 * 1024 });
      } catch {
        throw new QuarryError(
          'upstream_bad_gateway',
          `${this.d.urlOf(path)}: not a whole deflated spec; not stored`,
        );
      }
      await this.d.blobs.put(key, r.body, { contentType: 'application/octet-stream' });
      this.d.event('miss', `quick/${file}`);
      return r.body;
    });
  }
}
