/**
 * An S3-compatible server for tests: s3rver, in process, on 127.0.0.1 with an ephemeral port and a
 * temp directory. It does not check signatures, so any credentials do.
 *
 * s3rver lists a bucket by walking its folder tree in file-name order, where key "k/a" is the file
 * "a._S3rver_object" beside the folder "a" of "k/a/x"; so it lists "k/a/x", "k/a-b", "k/a" where S3
 * (byte order of the key) lists "k/a", "k/a-b", "k/a/x", and as it pages from the last key of the
 * previous page, a paged listing skips keys. Before s3rver is loaded, its walker is replaced by one
 * that visits entries in key order, which makes listings (and so paging) behave as on S3.
 *
 * s3rver also encrypts its ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node
 * 17+) no longer offers, so every truncated listing fails with a 500. Triple DES with the key
 * repeated three times computes exactly single DES, so 'des' is mapped to it for this process.
 */
import { type Dirent, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { S3BlobStoreOptions } from '../../src/blobs/s3.ts';

const require = createRequire(import.meta.url);

type Walk = (dir: string, recurseFilter?: (dirPath: string) => boolean) => Generator<string>;

/** The key text an entry of s3rver's tree stands for: "name/" for a folder, the key name for a file. */
const sortKey = (e: Dirent): Buffer =>
  Buffer.from(e.isDirectory() ? `${e.name}/` : e.name.replace(/\._S3rver_.*$/s, ''));

const sortedWalk: Walk = function* walk(dir, recurseFilter): Generator<string> {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    Buffer.compare(sortKey(a), sortKey(b)),
  );
  for (const e of entries) {
    const p = posix.join(dir, e.name);
    if (!e.isDirectory()) yield p;
    else if (!recurseFilter || recurseFilter(p)) yield* walk(p, recurseFilter);
  }
};

(require('s3rver/lib/utils') as { walk: Walk }).walk = sortedWalk;

type CipherFactory = (algorithm: string, key: Buffer, iv: Buffer | null) => unknown;
const crypto = require('node:crypto') as { createCipheriv: CipherFactory; createDecipheriv: CipherFactory };
const desAsTripleDes = (make: CipherFactory): CipherFactory => {
  const wrapped: CipherFactory = (algorithm, key, iv) =>
    algorithm === 'des' && key.length === 8
      ? make('des-ede3-cbc', Buffer.concat([key, key, key]), iv)
      : make(algorithm, key, iv);
  return wrapped;
};
try {
  crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
} catch {
  crypto.createCipheriv = desAsTripleDes(crypto.createCipheriv.bind(crypto));
  crypto.createDecipheriv = desAsTripleDes(crypto.createDecipheriv.bind(crypto));
}

interface S3rverInstance {
  silent: boolean;
  httpServer?: Server;
  store: { putBucket(name: string): Promise<unknown> };
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

const S3rver = require('s3rver') as S3rverClass;

/** s3rver ignores signatures; the SDK still needs something to sign with. */
export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3TestServer {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** Where s3rver keeps its objects. */
  directory: string;
  createBucket(name: string): Promise<void>;
  /** Options for an S3BlobStore on this server. */
  storeOptions(bucket: string, prefix?: string): S3BlobStoreOptions;
  close(): Promise<void>;
}

export async function startS3Server(buckets: string[] = []): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'quarry-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (e) {
    await rm(directory, { recursive: true, force: true });
    throw e;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    directory,
    async createBucket(name) {
      await server.store.putBucket(name);
    },
    storeOptions: (bucket, prefix = '') => ({
      bucket,
      prefix,
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { ...S3_TEST_CREDENTIALS },
    }),
    async close() {
      const closing = server.close();
      server.httpServer?.closeAllConnections();
      await closing;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
