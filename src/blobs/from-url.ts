/**
 * Turns a storage URL (the `storage` config key) into a blob store:
 *   null (the default)          -> files under <data>/blobs
 *   a path, or file:///abs/path -> files under that folder (a relative path is taken from the working directory)
 *   memory:                     -> in memory (tests, ephemeral builds)
 *   s3://BUCKET[/PREFIX]        -> an S3-compatible bucket; the AWS SDK is loaded only then
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QuarryError } from '../errors.ts';
import { FsBlobStore } from './fs.ts';
import { MemoryBlobStore } from './memory.ts';
import type { BlobStore } from './types.ts';
import { assertSafeKey } from './types.ts';

export type StorageLocation =
  | { kind: 'fs'; path: string }
  | { kind: 'memory' }
  | { kind: 's3'; bucket: string; prefix: string };

export interface S3Settings {
  region?: string | null | undefined;
  endpoint?: string | null | undefined;
  forcePathStyle?: boolean | undefined;
  /** Explicit credentials; by default the SDK's chain (AWS_* environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

export interface BlobStoreUrlOptions {
  /** The data directory: the default store lives in <dataDir>/blobs. */
  dataDir: string;
  s3?: S3Settings | undefined;
}

/** Bucket names as S3 allows them today: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const bad = (url: string, why: string): QuarryError =>
  new QuarryError('config', `storage URL ${JSON.stringify(url)} ${why}`);

/** Reads a storage URL without touching anything; throws QuarryError('config') naming what is wrong. */
export function parseStorageUrl(url: string): StorageLocation {
  if (url.trim() === '') throw bad(url, 'is empty');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'fs', path: url }; // a plain path (a Windows drive letter is one character)
  if (scheme === 'memory') {
    if (!/^memory:(\/\/)?$/i.test(url)) throw bad(url, 'must be just "memory:"');
    return { kind: 'memory' };
  }
  if (scheme === 'file') {
    const rest = url.slice('file:'.length);
    if (!rest.startsWith('//')) {
      if (rest === '') throw bad(url, 'names no folder');
      return { kind: 'fs', path: rest };
    }
    try {
      return { kind: 'fs', path: fileURLToPath(url) };
    } catch (e) {
      throw bad(
        url,
        `is not a usable file URL (${(e as Error).message}); use file:///absolute/path or a plain path`,
      );
    }
  }
  if (scheme === 's3') {
    if (!url.startsWith('s3://')) throw bad(url, 'must look like s3://BUCKET or s3://BUCKET/PREFIX');
    if (/[?#]/.test(url)) throw bad(url, 'must not have a query or a fragment');
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    if (!BUCKET.test(bucket) || bucket.includes('..')) {
      throw bad(url, `has an invalid bucket name ${JSON.stringify(bucket)} (3-63 of a-z, 0-9, '.', '-')`);
    }
    if (prefix !== '') {
      try {
        assertSafeKey(prefix);
      } catch {
        throw bad(
          url,
          `has an invalid prefix ${JSON.stringify(prefix)} (no empty, '.', '..' or hidden segments)`,
        );
      }
    }
    return { kind: 's3', bucket, prefix };
  }
  throw bad(url, `has an unsupported scheme "${scheme}:" (use a path, file://, memory: or s3://)`);
}

/** The blob store a storage URL names; null means the default, files under <dataDir>/blobs. */
export async function blobStoreFromUrl(url: string | null, options: BlobStoreUrlOptions): Promise<BlobStore> {
  const where: StorageLocation =
    url === null ? { kind: 'fs', path: join(options.dataDir, 'blobs') } : parseStorageUrl(url);
  switch (where.kind) {
    case 'fs':
      return new FsBlobStore(resolve(where.path));
    case 'memory':
      return new MemoryBlobStore();
    case 's3': {
      const { S3BlobStore } = await import('./s3.ts');
      const s3 = options.s3 ?? {};
      return new S3BlobStore({
        bucket: where.bucket,
        prefix: where.prefix,
        region: s3.region ?? undefined,
        endpoint: s3.endpoint ?? undefined,
        forcePathStyle: s3.forcePathStyle,
        credentials: s3.credentials,
      });
    }
  }
}
