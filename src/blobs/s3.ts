/**
 * Blobs in an S3-compatible bucket (AWS, MinIO, R2, Ceph) through AWS SDK v3. Loaded only when a
 * storage URL names s3:// (see from-url.ts), so the SDK costs nothing otherwise.
 *
 * Bodies are sent as Buffers with a Content-MD5 and without the SDK's flexible checksums
 * ("WHEN_REQUIRED"): every S3-compatible store verifies Content-MD5, while the newer checksum
 * headers and aws-chunked framing are not understood everywhere.
 */
import { createHash } from 'node:crypto';
import type { ListObjectsV2CommandOutput, S3ClientConfig } from '@aws-sdk/client-s3';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { QuarryError } from '../errors.ts';
import type { BlobEntry, BlobInfo, BlobStore, ListOptions, PutOptions } from './types.ts';
import { assertSafeKey } from './types.ts';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3BlobStoreOptions {
  bucket: string;
  /** Folder inside the bucket that holds the store's keys: '' or 'a/b' (a trailing '/' is optional). */
  prefix?: string;
  /** By default the SDK's chain (AWS_REGION, the profile); 'us-east-1' when an endpoint is given. */
  region?: string | undefined;
  /** Base URL of an S3-compatible store, e.g. http://127.0.0.1:9000. */
  endpoint?: string | undefined;
  /** Address buckets as https://host/bucket instead of https://bucket.host (MinIO, most self-hosted stores). */
  forcePathStyle?: boolean | undefined;
  /** By default the SDK's chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the profile, SSO, instance roles. */
  credentials?: S3Credentials | undefined;
  /** Bodies larger than this many bytes go up as multipart uploads (default 16 MiB). */
  multipartThreshold?: number;
  /** Part size of multipart uploads, at least 5 MiB (default 8 MiB). */
  partSize?: number;
  /** MaxKeys of each ListObjectsV2 page (default 1000, the S3 maximum). */
  pageSize?: number;
  /** A ready client (tests observe requests through its middleware); the options above then only name the bucket. */
  client?: S3Client;
}

const MiB = 1024 * 1024;

/** The hex MD5 an ETag stands for, or null when it is not a plain MD5 (multipart "<md5>-<parts>", and others). */
export function md5FromEtag(etag: string | undefined): string | null {
  if (etag === undefined) return null;
  const bare = etag.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(bare) ? bare : null;
}

/** Normalizes a key prefix to '' or 'seg/seg/', refusing unsafe segments. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed === '') return '';
  try {
    assertSafeKey(trimmed);
  } catch {
    throw new QuarryError('config', `unsafe S3 key prefix: ${JSON.stringify(prefix)}`);
  }
  return `${trimmed}/`;
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const errorCode = (e: unknown): string => {
  const err = (e ?? {}) as SdkError;
  if (err.Code) return err.Code;
  if (err.name && err.name !== 'Error' && err.name !== 'UnknownError') return err.name;
  return err.code ?? err.name ?? 'Error';
};

const httpStatus = (e: unknown): number | undefined => ((e ?? {}) as SdkError).$metadata?.httpStatusCode;

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly pageSize: number;
  /** Set once a request has shown that the bucket exists, so a 404 from HEAD can only mean a missing key. */
  private bucketSeen = false;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.multipartThreshold = options.multipartThreshold ?? 16 * MiB;
    this.partSize = Math.max(options.partSize ?? 8 * MiB, 5 * MiB);
    this.pageSize = options.pageSize ?? 1000;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize > 1000) {
      throw new QuarryError('config', `S3 page size must be 1..1000, not ${this.pageSize}`);
    }
    if (options.client) {
      this.client = options.client;
    } else {
      const config: S3ClientConfig = {
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      };
      const region = options.region ?? (options.endpoint ? 'us-east-1' : undefined);
      if (region !== undefined) config.region = region;
      if (options.endpoint !== undefined) config.endpoint = options.endpoint;
      if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
      if (options.credentials !== undefined) config.credentials = options.credentials;
      this.client = new S3Client(config);
    }
  }

  /** Releases the client's sockets. */
  close(): void {
    this.destroy();
  }

  destroy(): void {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    assertSafeKey(key);
    return this.prefix + key;
  }

  private fail(op: string, objectKey: string, e: unknown): QuarryError {
    const code = errorCode(e);
    const status = httpStatus(e);
    const detail =
      code === 'NoSuchBucket'
        ? `bucket ${JSON.stringify(this.bucket)} does not exist`
        : ((e as SdkError | null)?.message ?? String(e));
    const http = status !== undefined ? `, HTTP ${status}` : '';
    return new QuarryError('io', `S3 ${op} failed (${code}${http}): ${detail}`, {
      subject: `s3://${this.bucket}/${objectKey}`,
      cause: e,
    });
  }

  async get(key: string): Promise<Buffer | null> {
    const Key = this.objectKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      this.bucketSeen = true;
      if (!out.Body) return Buffer.alloc(0);
      const bytes = await out.Body.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (e) {
      if (errorCode(e) === 'NoSuchKey') return null;
      throw this.fail('GetObject', Key, e);
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    const Key = this.objectKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      this.bucketSeen = true;
      return { size: out.ContentLength ?? 0 };
    } catch (e) {
      // A HEAD response has no body, so a missing key and a missing bucket both read as 404 NotFound.
      if (httpStatus(e) === 404 && errorCode(e) !== 'NoSuchBucket') {
        await this.checkBucket(Key);
        return null;
      }
      throw this.fail('HeadObject', Key, e);
    }
  }

  private async checkBucket(objectKey: string): Promise<void> {
    if (this.bucketSeen) return;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      this.bucketSeen = true;
    } catch (e) {
      const missing = httpStatus(e) === 404 ? { ...(e as object), Code: 'NoSuchBucket' } : e;
      throw this.fail('HeadBucket', objectKey, missing);
    }
  }

  async stream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const Key = this.objectKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      this.bucketSeen = true;
      const body = out.Body as (AsyncIterable<Uint8Array> & { destroy?(): void }) | undefined;
      if (!body) return (async function* () {})();
      const fail = (e: unknown) => this.fail('GetObject', Key, e);
      // In Node the body is a Readable: iterate it, and name the object when the stream breaks.
      return (async function* () {
        try {
          yield* body;
        } catch (e) {
          throw fail(e);
        }
      })();
    } catch (e) {
      if (errorCode(e) === 'NoSuchKey') return null;
      throw this.fail('GetObject', Key, e);
    }
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const Key = this.objectKey(key);
    const Body = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const meta = {
      ...(options.contentType !== undefined && { ContentType: options.contentType }),
      ...(options.cacheControl !== undefined && { CacheControl: options.cacheControl }),
    };
    const multipart = Body.length > this.multipartThreshold && Body.length > this.partSize;
    try {
      if (multipart) {
        const { Upload } = await import('@aws-sdk/lib-storage');
        const upload = new Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key, Body, ...meta },
          partSize: this.partSize,
          queueSize: 4,
          leavePartsOnError: false,
        });
        await upload.done();
      } else {
        const ContentMD5 = createHash('md5').update(Body).digest('base64');
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body, ContentMD5, ...meta }));
      }
      this.bucketSeen = true;
    } catch (e) {
      throw this.fail(multipart ? 'multipart upload' : 'PutObject', Key, e);
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
      this.bucketSeen = true;
    } catch (e) {
      if (errorCode(e) === 'NoSuchKey') return;
      throw this.fail('DeleteObject', Key, e);
    }
  }

  /** The MD5 comes from the ETag at no cost, so `options` changes nothing here. */
  async *list(prefix: string, _options?: ListOptions): AsyncIterable<BlobEntry> {
    const Prefix = this.prefix + prefix;
    let ContinuationToken: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix,
            MaxKeys: this.pageSize,
            ContinuationToken,
          }),
        );
      } catch (e) {
        throw this.fail('ListObjectsV2', Prefix, e);
      }
      this.bucketSeen = true;
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || !obj.Key.startsWith(Prefix)) continue;
        yield {
          key: obj.Key.slice(this.prefix.length),
          size: obj.Size ?? 0,
          md5: md5FromEtag(obj.ETag),
          modified: obj.LastModified ?? new Date(0),
        };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !ContinuationToken) {
        throw this.fail('ListObjectsV2', Prefix, new Error('truncated listing without a continuation token'));
      }
    } while (ContinuationToken);
  }
}
