/**
 * Push, yank, unyank and rebuild: the write side of the server.
 *
 * Push order (a failure at any step leaves the old state served): parse and validate, check for an
 * existing or yanked version, write the blob (content-addressed, atomic), commit the catalog row and
 * the /versions log line in one transaction, then let the derived indexes refresh.
 */

import { gemBlobKey } from '../blobs/keys.ts';
import type { BlobStore } from '../blobs/types.ts';
import type { Catalog, NewVersion, PushOutcome, VersionRecord } from '../catalog/types.ts';
import { asStorageFull, QuarryError } from '../errors.ts';
import { validateGemName } from '../gem/name.ts';
import type { GemPackage } from '../gem/package.ts';
import { readGem } from '../gem/package.ts';
import { normalizePlatform } from '../gem/platform.ts';
import { checkPublishable } from '../gem/publishable.ts';
import { fullName } from '../gem/spec.ts';
import { canonicalVersion, isPrerelease, normalizeVersion } from '../gem/version.ts';
import { isoSeconds } from '../index/compact.ts';

export interface PushResult {
  name: string;
  version: string;
  platform: string;
  /** True when the same bytes were already published: nothing changed. */
  alreadyPushed: boolean;
  message: string;
}

export interface GemServiceDeps {
  catalog: Catalog;
  blobs: BlobStore;
  now: () => Date;
  /** Reads a pushed .gem; by default on this thread (the server passes a worker pool). */
  read?: (bytes: Buffer) => Promise<GemPackage>;
  /** Called after every committed change. */
  onChange?: () => void;
}

/** A mirrored gem read, checked and stored, waiting for its catalog row (recordStaged). */
export interface StagedGem {
  version: NewVersion;
  /**
   * The gem's blob being stored: recordStaged waits for it before the version's row, so a row never
   * exists without its bytes, while the caller goes on (its next download need not wait for a disk).
   */
  stored: Promise<void>;
}

/**
 * Mirrored gems up to this size are read on the calling thread: a round trip to a reader worker
 * costs more than reading one (a gem's metadata is bounded by the reader's limits either way).
 */
export const INLINE_READ_MAX = 256 * 1024;

const label = (name: string, version: string, platform: string): string =>
  platform === 'ruby' ? `${name} (${version})` : `${name} (${version}-${platform})`;

export class GemService {
  constructor(private readonly d: GemServiceDeps) {}

  /** Creates the /versions base on a fresh catalog. */
  async ensureVersionsBase(): Promise<void> {
    await this.d.catalog.ensureVersionsBase(this.d.now());
  }

  /**
   * Pushes a .gem. `authorize` runs once the gem name is known (scopes may be limited to names).
   * Errors: invalid_gem/invalid_spec (422), conflict (409), unauthorized (401), forbidden (403).
   *
   * The blob is stored before the catalog row and never deleted here: it is content-addressed, so
   * a racing push of the same bytes may need it. A blob whose row never commits is an orphan that
   * `quarry verify --fix` collects.
   */
  async push(
    bytes: Buffer,
    authorize: (gemName: string) => Promise<{ id: number } | null>,
  ): Promise<PushResult> {
    const pkg = this.d.read ? await this.d.read(bytes) : readGem(bytes);
    validateGemName(pkg.spec.name);
    checkPublishable(pkg.spec);
    const key = await authorize(pkg.spec.name);
    return this.publish(pkg, bytes, { pushedBy: key?.id ?? null, origin: null });
  }

  /**
   * Imports a .gem (quarry import): the checks of a push, no key, marked as imported.
   * Already present with the same bytes: alreadyPushed.
   */
  async importGem(bytes: Buffer): Promise<PushResult> {
    const pkg = this.d.read ? await this.d.read(bytes) : readGem(bytes);
    validateGemName(pkg.spec.name);
    checkPublishable(pkg.spec);
    return this.publish(pkg, bytes, { pushedBy: null, origin: 'import' });
  }

  /**
   * Records a gem mirrored from an upstream (quarry mirror), already verified against the
   * upstream's checksum; the upstream's publishing rules apply, not ours.
   */
  async mirrorGem(bytes: Buffer, upstream: string, createdAt?: string): Promise<PushResult> {
    const pkg = this.d.read ? await this.d.read(bytes) : readGem(bytes);
    validateGemName(pkg.spec.name);
    return this.publish(pkg, bytes, {
      pushedBy: null,
      origin: `mirror:${upstream}`,
      ...(createdAt ? { createdAt } : {}),
    });
  }

  /**
   * Reads a gem mirrored from an upstream (already verified against the upstream's checksum),
   * checks it as mirrorGem does and stores its blob, for recordStaged to record with others in one
   * catalog transaction. Small gems are read on this thread, larger ones by the reader.
   */
  async stageMirrored(
    bytes: Buffer,
    upstream: string,
    o: { createdAt?: string; sha256?: string } = {},
  ): Promise<StagedGem> {
    const { createdAt } = o;
    const pkg =
      bytes.length <= INLINE_READ_MAX || !this.d.read
        ? readGem(bytes, o.sha256 ? { sha256: o.sha256 } : {})
        : await this.d.read(bytes);
    validateGemName(pkg.spec.name);
    const version = this.newVersion(pkg, bytes, {
      pushedBy: null,
      origin: `mirror:${upstream}`,
      ...(createdAt ? { createdAt } : {}),
    });
    // Written without asking first: a mirror's gems are new here, and a copy already there (from a
    // run killed before its rows) is replaced by the same bytes, atomically.
    const stored = this.storeBlob(pkg.sha256, bytes, false);
    stored.catch(() => {}); // awaited by recordStaged; never an unhandled rejection meanwhile
    return { version, stored };
  }

  /**
   * Records staged gems in one catalog transaction (recordPushes): for each, in order, what
   * mirrorGem would answer (a PushResult) or the error it would throw. When the transaction itself
   * fails, each is recorded alone, so that one cannot fail the others.
   */
  async recordStaged(all: readonly StagedGem[]): Promise<(PushResult | Error)[]> {
    // Only versions whose bytes are stored get a row; a failed store is that version's answer.
    const stores = await Promise.allSettled(all.map((s) => s.stored));
    const failed = new Map<number, Error>();
    for (const [i, r] of stores.entries())
      if (r.status === 'rejected')
        failed.set(i, r.reason instanceof Error ? r.reason : new Error(String(r.reason)));
    const staged = all.filter((_, i) => !failed.has(i));
    let recorded: (PushOutcome | Error)[];
    try {
      recorded = await this.d.catalog.recordPushes(staged.map((s) => s.version));
    } catch {
      recorded = [];
      for (const s of staged)
        recorded.push(await this.d.catalog.recordPush(s.version).catch((e: Error) => e));
    }
    let next = 0;
    const outcomes = all.map((_, i) => failed.get(i) ?? recorded[next++]!);
    const out = outcomes.map((o, i): PushResult | Error => {
      if (o instanceof Error) return o;
      try {
        return this.answer(o, all[i]!.version);
      } catch (e) {
        return e as Error;
      }
    });
    if (outcomes.some((o) => !(o instanceof Error) && o.kind === 'created')) this.d.onChange?.();
    return out;
  }

  private newVersion(
    pkg: GemPackage,
    bytes: Buffer,
    o: { pushedBy: number | null; origin: string | null; createdAt?: string },
  ): NewVersion {
    const spec = pkg.spec;
    const number = normalizeVersion(spec.version);
    const platform = spec.platform || 'ruby';
    return {
      name: spec.name,
      number,
      platform,
      gemPlatform: normalizePlatform(platform),
      canonical: canonicalVersion(number),
      prerelease: isPrerelease(number),
      sha256: pkg.sha256,
      size: bytes.length,
      spec: { ...spec, version: number, platform },
      createdAt: o.createdAt ?? isoSeconds(this.d.now()),
      pushedBy: o.pushedBy,
      origin: o.origin,
    };
  }

  /** Stores a gem's bytes under their SHA-256 (content-addressed: a copy already there is kept). */
  private async storeBlob(sha256: string, bytes: Buffer, askFirst = true): Promise<void> {
    const blobKey = gemBlobKey(sha256);
    if (!askFirst || (await this.d.blobs.head(blobKey)) === null) {
      await this.d.blobs
        .put(blobKey, bytes, { contentType: 'application/octet-stream' })
        .catch((e: unknown) => {
          throw asStorageFull(e, 'storing the gem');
        });
    }
  }

  /** Stores the blob and records the version: the one write path of push, import and mirror. */
  private async publish(
    pkg: GemPackage,
    bytes: Buffer,
    o: { pushedBy: number | null; origin: string | null; createdAt?: string },
  ): Promise<PushResult> {
    const version = this.newVersion(pkg, bytes, o);
    // Refusals and repeated pushes are answered before any blob is written.
    let outcome = await this.d.catalog.previewPush(version);
    if (outcome === null) {
      await this.storeBlob(pkg.sha256, bytes);
      outcome = await this.d.catalog.recordPush(version);
    }
    const result = this.answer(outcome, version);
    if (outcome.kind === 'created') this.d.onChange?.();
    return result;
  }

  /** What a push answers for the catalog's outcome: a result, or the conflict as a QuarryError. */
  private answer(outcome: PushOutcome, v: NewVersion): PushResult {
    const { name, number, platform } = v;
    const fileLabel = label(name, number, platform);
    switch (outcome.kind) {
      case 'exists':
        return this.existing(outcome.record, v.sha256, fileLabel);
      case 'case_conflict':
        throw new QuarryError(
          'conflict',
          outcome.live
            ? `Unable to change case of gem name with indexed versions: ${outcome.owner} is already published.`
            : `The name ${name} differs only in letter case from ${outcome.owner}, which was published here before; push it as ${outcome.owner}.`,
        );
      case 'canonical_conflict': {
        const d = outcome.record;
        throw new QuarryError(
          'conflict',
          `A version equal to ${number} already exists (${fullName(d.name, d.number, d.platform)}): versions that differ only by trailing zeros cannot both be published.`,
        );
      }
      case 'file_conflict': {
        const d = outcome.record;
        throw new QuarryError(
          'conflict',
          `${fullName(name, number, platform)} would be served as ${fullName(d.name, d.number, d.gemPlatform)}.gem, the file of the already published ${fullName(d.name, d.number, d.platform)}: platforms that normalize alike cannot both be published.`,
        );
      }
      case 'created':
        break;
    }
    return {
      name,
      version: number,
      platform,
      alreadyPushed: false,
      message: `Successfully registered gem: ${fileLabel}`,
    };
  }

  private existing(v: VersionRecord, sha256: string, fileLabel: string): PushResult {
    if (v.yankedAt !== null) {
      throw new QuarryError(
        'conflict',
        `A yanked version already exists (${fullName(v.name, v.number, v.platform)}). Repushing of gem versions is not allowed. Please bump the version number and push a new gem.`,
      );
    }
    if (v.sha256 === sha256) {
      return {
        name: v.name,
        version: v.number,
        platform: v.platform,
        alreadyPushed: true,
        message: `Gem was already pushed: ${fileLabel}`,
      };
    }
    throw new QuarryError(
      'conflict',
      'Repushing of gem versions is not allowed.\nPlease bump the version number and push a new gem.',
    );
  }

  /** Yanks one (name, version, platform). The .gem stays in the blob store but is no longer served. */
  async yank(name: string, version: string, platform: string | undefined): Promise<string> {
    const plat = platform && platform.length > 0 ? platform : 'ruby';
    const number = normalizeVersion(version);
    const what = `${number}${plat === 'ruby' ? '' : ` (${plat})`}`;
    const r = await this.d.catalog.recordYank(name, number, plat, isoSeconds(this.d.now()));
    if (r.kind === 'no_gem') throw new QuarryError('not_found', 'This rubygem could not be found.');
    if (r.kind === 'no_version') throw new QuarryError('not_found', `The version ${what} does not exist.`);
    if (r.kind === 'unchanged')
      throw new QuarryError('bad_request', `The version ${what} has already been deleted.`);
    this.d.onChange?.();
    return `Successfully deleted gem: ${label(name, number, plat)}`;
  }

  /** Restores a yanked version (admin only): it is appended to /versions again. */
  async unyank(name: string, version: string, platform: string | undefined): Promise<string> {
    const plat = platform && platform.length > 0 ? platform : 'ruby';
    const number = normalizeVersion(version);
    const r = await this.d.catalog.recordUnyank(name, number, plat);
    if (r.kind === 'no_gem' || r.kind === 'no_version')
      throw new QuarryError('not_found', `${label(name, number, plat)} does not exist.`);
    if (r.kind === 'unchanged')
      throw new QuarryError('bad_request', `${label(name, number, plat)} is not yanked.`);
    this.d.onChange?.();
    return `Restored ${label(name, number, plat)}`;
  }

  /** Compacts /versions: a new base with one line per live gem and a new created_at. */
  async rebuildVersionsList(): Promise<void> {
    await this.d.catalog.rebuildVersionsList(this.d.now());
    this.d.onChange?.();
  }
}
