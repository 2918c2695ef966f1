/** The S3 driver against s3rver on loopback: the shared conformance suite plus what only S3 has. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import { gemBlobKey } from '../../src/blobs/keys.ts';
import type { S3BlobStoreOptions } from '../../src/blobs/s3.ts';
import { md5FromEtag, S3BlobStore } from '../../src/blobs/s3.ts';
import { isQuarryError } from '../../src/errors.ts';
import { push, startHarness } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';
import type { S3TestServer } from '../support/s3-server.ts';
import { S3_TEST_CREDENTIALS, startS3Server } from '../support/s3-server.ts';
import { blobStoreConformance } from './conformance.ts';

let started: Promise<S3TestServer> | null = null;
const server = (): Promise<S3TestServer> => {
  started ??= startS3Server();
  return started;
};
after(async () => {
  if (started) await (await started).close();
});

let buckets = 0;
const freshBucket = async (): Promise<string> => {
  const name = `quarry-test-${++buckets}`;
  await (await server()).createBucket(name);
  return name;
};

/** A plain SDK client on the test server plus the names of the commands it sent. */
const observedClient = async (): Promise<{ client: S3Client; commands: string[] }> => {
  const srv = await server();
  const client = new S3Client({
    endpoint: srv.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...S3_TEST_CREDENTIALS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { client, commands };
};

const store = async (bucket: string, prefix = '', extra: Partial<S3BlobStoreOptions> = {}) =>
  new S3BlobStore({ ...(await server()).storeOptions(bucket, prefix), ...extra });

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

const rawKeys = async (client: S3Client, bucket: string, prefix = ''): Promise<string[]> => {
  const out: ListObjectsV2CommandOutput = await client.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }),
  );
  return (out.Contents ?? []).map((o) => o.Key ?? '');
};

const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');

blobStoreConformance('s3 (bucket root)', async () => {
  const s = await store(await freshBucket());
  return { store: s, cleanup: async () => s.destroy() };
});

blobStoreConformance('s3 (under a prefix, listed in pages of 2)', async () => {
  const s = await store(await freshBucket(), 'quarry/blobs', { pageSize: 2 });
  return { store: s, cleanup: async () => s.destroy() };
});

describe('s3 blob store', () => {
  it('keeps stores with different prefixes of one bucket apart', async () => {
    const bucket = await freshBucket();
    const a = await store(bucket, 'a');
    const b = await store(bucket, 'b/');
    const ab = await store(bucket, 'ab');
    await a.put('k', Buffer.from('from a'));
    await b.put('k', Buffer.from('from b'));
    await ab.put('k', Buffer.from('from ab'));
    await a.put('sub/x', Buffer.from('ax'));
    assert.equal((await a.get('k'))?.toString(), 'from a');
    assert.equal((await b.get('k'))?.toString(), 'from b');
    assert.equal(await b.get('sub/x'), null);
    // Prefix "a" means the folder "a/": the sibling "ab/" is not part of it.
    assert.deepEqual(
      (await collect(a.list(''))).map((e) => e.key),
      ['k', 'sub/x'],
    );
    assert.deepEqual(
      (await collect(ab.list(''))).map((e) => e.key),
      ['k'],
    );
    await a.delete('k');
    assert.equal(await a.get('k'), null);
    assert.equal((await b.get('k'))?.toString(), 'from b');
    const { client } = await observedClient();
    assert.deepEqual(await rawKeys(client, bucket), ['a/sub/x', 'ab/k', 'b/k']);
    for (const s of [a, b, ab]) s.destroy();
    client.destroy();
  });

  it('uploads a large object in parts and reads it back byte for byte', async () => {
    const bucket = await freshBucket();
    const { client, commands } = await observedClient();
    const MiB = 1024 * 1024;
    const s = await store(bucket, 'big', { client, multipartThreshold: 6 * MiB, partSize: 5 * MiB });
    const body = randomBytes(11 * MiB + 123);
    await s.put('gems/large.gem', body, {
      contentType: 'application/octet-stream',
      cacheControl: 'max-age=60',
    });
    assert.deepEqual(
      commands.filter((c) => c !== 'PutObjectCommand'),
      [
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'CompleteMultipartUploadCommand',
      ],
    );
    const back = await s.get('gems/large.gem');
    assert.ok(back !== null);
    assert.equal(back.length, body.length);
    assert.ok(back.equals(body), 'multipart object differs from what was uploaded');
    assert.deepEqual(await s.head('gems/large.gem'), { size: body.length });
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'big/gems/large.gem' }));
    assert.equal(head.ContentType, 'application/octet-stream');
    assert.equal(head.CacheControl, 'max-age=60');

    // At or below the threshold: one PutObject.
    commands.length = 0;
    await s.put('small', randomBytes(1000));
    assert.deepEqual(commands, ['PutObjectCommand']);
    client.destroy();
  });

  it('stores Content-Type and Cache-Control when given', async () => {
    const bucket = await freshBucket();
    const { client } = await observedClient();
    const s = await store(bucket, 'site', { client });
    await s.put('info/rack', Buffer.from('---\n'), {
      contentType: 'text/plain; charset=utf-8',
      cacheControl: 'public, max-age=300',
    });
    await s.put('plain', Buffer.from('x'));
    const info = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'site/info/rack' }));
    assert.equal(info.ContentType, 'text/plain; charset=utf-8');
    assert.equal(info.CacheControl, 'public, max-age=300');
    const plain = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'site/plain' }));
    assert.equal(plain.CacheControl, undefined);
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'site/info/rack' }));
    assert.equal(await got.Body?.transformToString(), '---\n');
    client.destroy();
  });

  it('pages through listings of more than 1,000 keys', async () => {
    const bucket = await freshBucket();
    const { client, commands } = await observedClient();
    const s = await store(bucket, 'many', { client, pageSize: 100 });
    const keys = Array.from({ length: 1005 }, (_, i) => `k/${i.toString(36)}`);
    for (let i = 0; i < keys.length; i += 250) {
      await Promise.all(keys.slice(i, i + 250).map((k) => s.put(k, Buffer.from(k))));
    }
    await s.put('other', Buffer.from('not under k/'));
    commands.length = 0;
    const listed = await collect(s.list('k/'));
    assert.equal(commands.filter((c) => c === 'ListObjectsV2Command').length, 11);
    const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(
      listed.map((e) => e.key),
      expected,
    );
    for (const e of listed) {
      assert.equal(e.size, Buffer.byteLength(e.key));
      assert.equal(e.md5, md5(e.key));
    }
    // With S3's own page size of 1,000 the same listing takes two requests.
    const full = await store(bucket, 'many', { client });
    commands.length = 0;
    assert.equal((await collect(full.list('k/'))).length, 1005);
    assert.deepEqual(commands, ['ListObjectsV2Command', 'ListObjectsV2Command']);
    client.destroy();
  });

  it('lists in byte order of the key across pages, as S3 does', async () => {
    const s = await store(await freshBucket(), '', { pageSize: 2 });
    const keys = [
      'p/rack',
      'p/rack-test',
      'p/rack.x',
      'p/rack/z',
      'p/a-b',
      'p/a',
      'p/a/x',
      'p/A',
      'p/é',
      'p/z',
    ];
    await Promise.all(keys.map((k) => s.put(k, Buffer.from(k))));
    const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual(
      (await collect(s.list('p/'))).map((e) => e.key),
      expected,
    );
    s.destroy();
  });

  it('gives a clear error for a missing bucket, for every operation', async () => {
    const s = await store('no-such-bucket', 'x');
    const isMissingBucket = (e: unknown): boolean => {
      assert.ok(isQuarryError(e), `not a QuarryError: ${String(e)}`);
      assert.equal(e.code, 'io');
      assert.match(e.message, /^s3:\/\/no-such-bucket\/x\//);
      assert.match(e.message, /NoSuchBucket/);
      assert.match(e.message, /bucket "no-such-bucket" does not exist/);
      return true;
    };
    await assert.rejects(s.put('k', Buffer.from('x')), isMissingBucket);
    await assert.rejects(s.get('k'), isMissingBucket);
    await assert.rejects(s.head('k'), isMissingBucket);
    await assert.rejects(collect(s.list('')), isMissingBucket);
    s.destroy();
  });

  it('names the bucket, key and cause when the store cannot be reached', async () => {
    // A port that was just free: bind and release it.
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as import('node:net').AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const s = new S3BlobStore({
      bucket: 'b',
      prefix: 'p',
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: { ...S3_TEST_CREDENTIALS },
    });
    await assert.rejects(s.get('k'), (e: unknown) => {
      assert.ok(isQuarryError(e));
      assert.equal(e.code, 'io');
      assert.match(e.message, /^s3:\/\/b\/p\/k: S3 GetObject failed \(ECONNREFUSED/);
      return true;
    });
    s.destroy();
  });

  it('reads an MD5 only from single-part ETags', () => {
    assert.equal(md5FromEtag('"d41d8cd98f00b204e9800998ecf8427e"'), 'd41d8cd98f00b204e9800998ecf8427e');
    assert.equal(md5FromEtag('D41D8CD98F00B204E9800998ECF8427E'), 'd41d8cd98f00b204e9800998ecf8427e');
    assert.equal(md5FromEtag('"d41d8cd98f00b204e9800998ecf8427e-3"'), null);
    assert.equal(md5FromEtag(undefined), null);
    assert.equal(md5FromEtag('""'), null);
  });
});

describe('quarry serve with s3:// storage', () => {
  it('keeps gems in the bucket and only the catalog on local disk', async (t) => {
    const srv = await server();
    const bucket = await freshBucket();
    // Credentials come from the SDK's default chain, as in production: the AWS_* environment.
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = S3_TEST_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3_TEST_CREDENTIALS.secretAccessKey;
    t.after(() => {
      for (const [k, v] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });
    const h = await startHarness({
      storage: `s3://${bucket}/mirror/v1`,
      s3: { endpoint: srv.endpoint, force_path_style: true },
    });
    const { client } = await observedClient();
    try {
      const gem = makeGem({ name: 's3demo', version: '1.2.0' });
      const pushed = await push(h, gem);
      assert.equal(pushed.statusCode, 200, pushed.body);

      const sha = createHash('sha256').update(gem).digest('hex');
      const key = `mirror/v1/${gemBlobKey(sha)}`;
      assert.deepEqual(await rawKeys(client, bucket), [key]);
      const obj = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.ok(Buffer.from(await obj.Body!.transformToByteArray()).equals(gem));
      assert.equal(obj.ContentType, 'application/octet-stream');

      const served = await h.app.inject({ url: '/gems/s3demo-1.2.0.gem' });
      assert.equal(served.statusCode, 200);
      assert.ok(served.rawPayload.equals(gem), 'served .gem differs from the pushed one');

      const local = (await readdir(h.dir)).sort();
      assert.ok(!local.includes('blobs'), `blobs folder on local disk: ${local.join(', ')}`);
      for (const f of local) assert.match(f, /^(catalog\.sqlite3(-wal|-shm|-journal)?|quarry-layout\.json)$/);
      assert.ok(local.includes('catalog.sqlite3'));
    } finally {
      client.destroy();
      await h.close();
    }
  });
});
