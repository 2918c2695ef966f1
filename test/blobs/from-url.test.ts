import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { blobStoreFromUrl, parseStorageUrl } from '../../src/blobs/from-url.ts';
import { FsBlobStore } from '../../src/blobs/fs.ts';
import { MemoryBlobStore } from '../../src/blobs/memory.ts';
import { S3BlobStore } from '../../src/blobs/s3.ts';
import { loadConfig } from '../../src/config/load.ts';
import { isQuarryError } from '../../src/errors.ts';

const configError = (pattern: RegExp) => (e: unknown) => {
  assert.ok(isQuarryError(e), String(e));
  assert.equal(e.code, 'config');
  assert.match(e.message, pattern);
  return true;
};

describe('parseStorageUrl', () => {
  it('reads paths, file URLs, memory: and s3:// URLs', () => {
    assert.deepEqual(parseStorageUrl('./gems'), { kind: 'fs', path: './gems' });
    assert.deepEqual(parseStorageUrl('/srv/quarry/blobs'), { kind: 'fs', path: '/srv/quarry/blobs' });
    assert.deepEqual(parseStorageUrl('file:relative/dir'), { kind: 'fs', path: 'relative/dir' });
    const abs = resolve(tmpdir(), 'quarry blobs');
    assert.deepEqual(parseStorageUrl(pathToFileURL(abs).href), { kind: 'fs', path: abs });
    assert.deepEqual(parseStorageUrl('memory:'), { kind: 'memory' });
    assert.deepEqual(parseStorageUrl('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseStorageUrl('s3://my.bucket/a/b/'), {
      kind: 's3',
      bucket: 'my.bucket',
      prefix: 'a/b',
    });
  });

  it('refuses what it cannot use, naming the problem', () => {
    assert.throws(() => parseStorageUrl('ftp://host/x'), configError(/unsupported scheme "ftp:"/));
    assert.throws(
      () => parseStorageUrl('s3://Bad_Bucket/x'),
      configError(/invalid bucket name "Bad_Bucket"/),
    );
    assert.throws(() => parseStorageUrl('s3://'), configError(/invalid bucket name ""/));
    assert.throws(() => parseStorageUrl('s3://b-1/a/../x'), configError(/invalid prefix "a\/..\/x"/));
    assert.throws(() => parseStorageUrl('s3://b-1/a//x'), configError(/invalid prefix/));
    assert.throws(() => parseStorageUrl('s3://b-1/x?versionId=1'), configError(/query/));
    assert.throws(() => parseStorageUrl('s3:bucket'), configError(/s3:\/\/BUCKET/));
    assert.throws(() => parseStorageUrl('memory:foo'), configError(/just "memory:"/));
    assert.throws(() => parseStorageUrl('file://remote-host/x'), configError(/file URL/));
  });
});

describe('blobStoreFromUrl', () => {
  it('defaults to files under <data>/blobs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quarry-from-url-'));
    try {
      const s = await blobStoreFromUrl(null, { dataDir: dir });
      assert.ok(s instanceof FsBlobStore);
      await s.put('x/y', Buffer.from('z'));
      assert.deepEqual(await readdir(join(dir, 'blobs', 'x')), ['y']);
      const viaUrl = await blobStoreFromUrl(pathToFileURL(join(dir, 'blobs')).href, { dataDir: '/unused' });
      assert.equal((await viaUrl.get('x/y'))?.toString(), 'z');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('builds memory and S3 stores', async () => {
    assert.ok((await blobStoreFromUrl('memory:', { dataDir: '.' })) instanceof MemoryBlobStore);
    const s3 = await blobStoreFromUrl('s3://quarry-bucket/mirror/', {
      dataDir: '.',
      s3: { endpoint: 'http://127.0.0.1:1', forcePathStyle: true, region: null },
    });
    assert.ok(s3 instanceof S3BlobStore);
    assert.equal(s3.bucket, 'quarry-bucket');
    assert.equal(s3.prefix, 'mirror/');
    s3.destroy();
  });

  it('loads the AWS SDK only when an s3:// store is built', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import('./src/compose.ts');
      const { blobStoreFromUrl } = await import('./src/blobs/from-url.ts');
      const sdkModules = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@aws-sdk')).length;
      await blobStoreFromUrl('memory:', { dataDir: '.' });
      await blobStoreFromUrl(null, { dataDir: '.' });
      const before = sdkModules();
      (await blobStoreFromUrl('s3://b-1/x', { dataDir: '.', s3: { endpoint: 'http://127.0.0.1:1' } })).destroy();
      console.log(JSON.stringify({ before, after: sdkModules() }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    const { before, after } = JSON.parse(out.trim().split('\n').at(-1)!) as { before: number; after: number };
    assert.equal(before, 0);
    assert.ok(after > 0, 'the S3 store did not load the SDK?');
  });
});

describe('storage and s3 config keys', () => {
  it('default to the data folder and no S3 settings', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.storage, null);
    assert.deepEqual(c.s3, { region: null, endpoint: null, force_path_style: false });
  });

  it('accept an s3:// URL and S3 settings from the file layer and the environment', () => {
    const c = loadConfig({
      env: { QUARRY_STORAGE: 's3://gems-bucket/prod', QUARRY_S3__REGION: 'eu-west-1' },
      flags: { s3: { endpoint: 'https://minio.example:9000', force_path_style: true } },
    });
    assert.equal(c.storage, 's3://gems-bucket/prod');
    assert.deepEqual(c.s3, {
      region: 'eu-west-1',
      endpoint: 'https://minio.example:9000',
      force_path_style: true,
    });
  });

  it('reject bad values with a message that names the key', () => {
    assert.throws(
      () => loadConfig({ env: {}, flags: { storage: 'gopher://x' } }),
      configError(/storage: .*gopher/),
    );
    assert.throws(
      () => loadConfig({ env: {}, flags: { storage: 's3://A/b' } }),
      configError(/storage: .*bucket name/),
    );
    assert.throws(
      () => loadConfig({ env: {}, flags: { s3: { endpoint: 'ftp://x' } } }),
      configError(/s3\.endpoint/),
    );
    assert.throws(
      () => loadConfig({ env: {}, flags: { s3: { bucket: 'x' } } }),
      configError(/unknown key s3\.bucket/),
    );
  });
});
