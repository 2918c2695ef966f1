/**
 * Where `quarry publish` takes its gems from: a folder (DIR/gems/*.gem, as `quarry index DIR`) or
 * the server's catalog and blob store. A source lists its gems cheaply (file name, SHA-256, size),
 * parses only the ones the planner asks for, and reads bytes only for the ones being uploaded.
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gemBlobKey } from '../blobs/keys.ts';
import type { BlobStore } from '../blobs/types.ts';
import type { Catalog } from '../catalog/types.ts';
import { isQuarryError, QuarryError } from '../errors.ts';
import { DEFAULT_GEM_LIMITS } from '../gem/limits.ts';
import { gemFileName } from '../gem/name.ts';
import type { ParsedGem } from '../index/static-plan.ts';
import { readRegularFile } from '../util/regular-file.ts';
import { parseGemFiles } from './gem-parse.ts';

export interface SourceGem {
  /** File name under gems/, e.g. `rake-13.0.6.gem`. */
  file: string;
  /** Hex SHA-256 of the .gem bytes. */
  sha256: string;
  size: number;
  /** Hex MD5 of the bytes when the source knows it without another read. */
  md5: string | null;
}

export type SourceProgress = (done: number, total: number) => void;

export interface PublishSource {
  /** Names the source in messages, e.g. `folder ./repo`. */
  readonly label: string;
  /** Every gem to publish, sorted by file name. */
  gems(onProgress?: SourceProgress): Promise<SourceGem[]>;
  /** Specs of the given gems, in the same order. */
  parse(gems: readonly SourceGem[], onProgress?: SourceProgress): Promise<ParsedGem[]>;
  /** The .gem bytes; throws when they no longer match the listing. */
  read(gem: SourceGem): Promise<Buffer>;
}

const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const md5Hex = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

const changed = (label: string, file: string): QuarryError =>
  new QuarryError('conflict', `gems/${file} changed in ${label} while publishing; run the publish again`);

/** A folder holding DIR/gems/*.gem. Every file is hashed on each run, so replaced bytes are noticed. */
export function folderSource(dir: string): PublishSource {
  const gemsDir = join(dir, 'gems');
  const label = `folder ${dir}`;
  return {
    label,
    async gems(onProgress) {
      let names: string[];
      try {
        names = await readdir(gemsDir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new QuarryError('not_found', `no gems/ folder in ${dir}: put the .gem files in ${gemsDir}`);
        }
        throw e;
      }
      const files = names.filter((n) => n.endsWith('.gem') && !n.startsWith('.')).sort();
      const out: SourceGem[] = [];
      for (const file of files) {
        // Small files: synchronous reads beat the thread pool's round trips. A directory or FIFO
        // named *.gem is refused, not read (a FIFO would block).
        let bytes: Buffer;
        try {
          bytes = readRegularFile(join(gemsDir, file), DEFAULT_GEM_LIMITS.maxGemSize);
        } catch (e) {
          throw isQuarryError(e) ? e.about(`gems/${file}`) : e;
        }
        out.push({ file, sha256: sha256Hex(bytes), size: bytes.length, md5: md5Hex(bytes) });
        onProgress?.(out.length, files.length);
      }
      return out;
    },
    async parse(gems, onProgress) {
      const parsed = await parseGemFiles(
        gemsDir,
        gems.map((g) => g.file),
        onProgress ? { onProgress } : {},
      );
      parsed.forEach((p, i) => {
        if (p.sha256 !== gems[i]!.sha256) throw changed(label, p.file);
      });
      return parsed;
    },
    async read(gem) {
      const bytes = readRegularFile(join(gemsDir, gem.file), DEFAULT_GEM_LIMITS.maxGemSize);
      if (bytes.length !== gem.size || md5Hex(bytes) !== gem.md5) throw changed(label, gem.file);
      return bytes;
    },
  };
}

/**
 * The live versions of a catalog, with their bytes from its blob store. Specs come from the catalog
 * (no .gem is parsed); a gem's bytes are read only to upload it or to learn its MD5.
 */
export function catalogSource(label: string, catalog: Catalog, blobs: BlobStore): PublishSource {
  const specs = new Map<string, ParsedGem>();
  return {
    label,
    async gems(onProgress) {
      const live = await catalog.allLiveVersions();
      specs.clear();
      const out: SourceGem[] = [];
      for (const v of live) {
        // Clients download gems/<spec.file_name>, which uses the normalized platform.
        const file = gemFileName(v.name, v.number, v.gemPlatform);
        const other = specs.get(file);
        if (other) {
          throw new QuarryError(
            'conflict',
            `two live versions publish the same file gems/${file} (platforms ${other.spec.platform} and ${v.platform}); yank one of them`,
          );
        }
        specs.set(file, { file, spec: v.spec, sha256: v.sha256 });
        out.push({ file, sha256: v.sha256, size: v.size, md5: null });
      }
      out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
      onProgress?.(out.length, out.length);
      return out;
    },
    async parse(gems, onProgress) {
      const out = gems.map((g) => {
        const p = specs.get(g.file);
        if (!p || p.sha256 !== g.sha256) throw changed(label, g.file);
        return p;
      });
      onProgress?.(out.length, out.length);
      return out;
    },
    async read(gem) {
      const bytes = await blobs.get(gemBlobKey(gem.sha256));
      if (!bytes) {
        throw new QuarryError(
          'not_found',
          `the blob store has no bytes for gems/${gem.file} (sha256 ${gem.sha256})`,
        );
      }
      if (sha256Hex(bytes) !== gem.sha256) {
        throw new QuarryError(
          'io',
          `the stored bytes of gems/${gem.file} do not match its sha256 ${gem.sha256}`,
        );
      }
      return bytes;
    },
  };
}
