/**
 * Push, yank, unyank and rebuild: the write side of the server.
 *
 * Push order (a failure at any step leaves the old state served): parse and validate, check for an
 * existing or yanked version, write the blob (content-addressed, atomic), commit the catalog row and
 * the /versions log line in one transaction, then let the derived indexes refresh.
 */

import { gemBlobKey } from '../blobs/keys.ts';
import type { BlobStore } from '../blobs/types.ts';
import type { Catalog, CatalogTx, VersionRecord } from '../catalog/types.ts';
import { QuarryError } from '../errors.ts';
import { validateGemName } from '../gem/name.ts';
import { readGem } from '../gem/package.ts';
import { normalizePlatform } from '../gem/platform.ts';
import { fullName } from '../gem/spec.ts';
import { canonicalVersion, isPrerelease, normalizeVersion } from '../gem/version.ts';
import type { InfoOptions } from '../index/compact.ts';
import { isoSeconds, md5Hex } from '../index/compact.ts';
import { versionToken } from '../index/entry.ts';
import { baseFor, infoFor } from './index-view.ts';

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
  info: InfoOptions;
  /** Called after every committed change. */
  onChange?: () => void;
}

const label = (name: string, version: string, platform: string): string =>
  platform === 'ruby' ? `${name} (${version})` : `${name} (${version}-${platform})`;

export class GemService {
  constructor(private readonly d: GemServiceDeps) {}

  /** Appends the /versions line for a change of `name`, with the MD5 of its info after the change. */
  private async logChange(tx: CatalogTx, name: string, tokens: string): Promise<void> {
    const live = await tx.liveVersions(name);
    await tx.appendVersionsLog(name, tokens, md5Hex(infoFor(live, this.d.info)));
  }

  /** Creates the /versions base on a fresh catalog. */
  async ensureVersionsBase(): Promise<void> {
    if (await this.d.catalog.versionsBase()) return;
    await this.rebuildVersionsList();
  }

  /**
   * Pushes a .gem. `authorize` runs once the gem name is known (scopes may be limited to names).
   * Errors: invalid_gem/invalid_spec (422), conflict (409), unauthorized (401), forbidden (403).
   */
  async push(
    bytes: Buffer,
    authorize: (gemName: string) => Promise<{ id: number } | null>,
  ): Promise<PushResult> {
    const pkg = readGem(bytes);
    const spec = pkg.spec;
    validateGemName(spec.name);
    const number = normalizeVersion(spec.version);
    const platform = spec.platform || 'ruby';
    const key = await authorize(spec.name);
    const fileLabel = label(spec.name, number, platform);

    const check = async (tx: CatalogTx | Catalog): Promise<VersionRecord | null> => {
      const existing = await tx.findVersion(spec.name, number, platform);
      if (existing) return existing;
      return null;
    };
    const pre = await check(this.d.catalog);
    if (pre) return this.existing(pre, pkg.sha256, fileLabel);

    const blobKey = gemBlobKey(pkg.sha256);
    const blobExisted = (await this.d.blobs.head(blobKey)) !== null;
    if (!blobExisted) await this.d.blobs.put(blobKey, bytes, { contentType: 'application/octet-stream' });

    const canonical = canonicalVersion(number);
    try {
      const result = await this.d.catalog.transaction(async (tx) => {
        const again = await check(tx);
        if (again) return this.existing(again, pkg.sha256, fileLabel);
        const owner = await tx.gemNameLike(spec.name);
        if (owner !== null && owner !== spec.name && (await tx.liveVersions(owner)).length > 0) {
          throw new QuarryError(
            'conflict',
            `Unable to change case of gem name with indexed versions: ${owner} is already published.`,
          );
        }
        const dupes = await tx.findCanonical(spec.name, canonical, platform);
        if (dupes.length > 0) {
          const d = dupes[0]!;
          throw new QuarryError(
            'conflict',
            `A version equal to ${number} already exists (${fullName(d.name, d.number, d.platform)}): versions that differ only by trailing zeros cannot both be published.`,
          );
        }
        await tx.insertVersion({
          name: spec.name,
          number,
          platform,
          gemPlatform: normalizePlatform(platform),
          canonical,
          prerelease: isPrerelease(number),
          sha256: pkg.sha256,
          size: bytes.length,
          spec: { ...spec, version: number, platform },
          createdAt: isoSeconds(this.d.now()),
          pushedBy: key?.id ?? null,
        });
        await this.logChange(tx, spec.name, versionToken({ version: number, platform }));
        return null;
      });
      if (result) {
        if (!blobExisted) await this.d.blobs.delete(blobKey);
        return result;
      }
    } catch (e) {
      if (!blobExisted) await this.d.blobs.delete(blobKey).catch(() => {});
      throw e;
    }
    this.d.onChange?.();
    return {
      name: spec.name,
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
    await this.d.catalog.transaction(async (tx) => {
      const v = await tx.findVersion(name, number, plat);
      if (!v) {
        if ((await tx.gemNameLike(name)) === null)
          throw new QuarryError('not_found', 'This rubygem could not be found.');
        throw new QuarryError(
          'not_found',
          `The version ${number}${plat === 'ruby' ? '' : ` (${plat})`} does not exist.`,
        );
      }
      if (v.yankedAt !== null) {
        throw new QuarryError(
          'bad_request',
          `The version ${number}${plat === 'ruby' ? '' : ` (${plat})`} has already been deleted.`,
        );
      }
      await tx.setYanked(v.id, isoSeconds(this.d.now()));
      await this.logChange(tx, name, `-${versionToken({ version: number, platform: plat })}`);
    });
    this.d.onChange?.();
    return `Successfully deleted gem: ${label(name, number, plat)}`;
  }

  /** Restores a yanked version (admin only): it is appended to /versions again. */
  async unyank(name: string, version: string, platform: string | undefined): Promise<string> {
    const plat = platform && platform.length > 0 ? platform : 'ruby';
    const number = normalizeVersion(version);
    await this.d.catalog.transaction(async (tx) => {
      const v = await tx.findVersion(name, number, plat);
      if (!v) throw new QuarryError('not_found', `${label(name, number, plat)} does not exist.`);
      if (v.yankedAt === null)
        throw new QuarryError('bad_request', `${label(name, number, plat)} is not yanked.`);
      await tx.setYanked(v.id, null);
      await this.logChange(tx, name, versionToken({ version: number, platform: plat }));
    });
    this.d.onChange?.();
    return `Restored ${label(name, number, plat)}`;
  }

  /** Compacts /versions: a new base with one line per live gem and a new created_at. */
  async rebuildVersionsList(): Promise<void> {
    const now = this.d.now();
    await this.d.catalog.transaction(async (tx) => {
      const live = await tx.allLiveVersions();
      const seq = await tx.maxLogSeq();
      await tx.setVersionsBase({
        createdAt: isoSeconds(now),
        body: baseFor(live, now, this.d.info),
        baseSeq: seq,
      });
    });
    this.d.onChange?.();
  }
}
