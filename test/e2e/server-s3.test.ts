/**
 * `quarry serve` with `storage: s3://BUCKET/PREFIX`: the real CLI server keeps its gems in s3rver (on
 * 127.0.0.1, in this process) while the real gem and bundle clients push, yank, install, fetch and
 * bundle against it. The bytes must round-trip exactly, the gems must be objects of the bucket under
 * the prefix, and the data directory must hold nothing but the catalog.
 *
 * The gem-body cache is turned off (`cache.gem_bytes: 0`), so every /gems/ download is read from the
 * bucket. s3rver answers from this process: every client runs asynchronously.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { S3BlobStore } from '../../src/blobs/s3.ts';
import type { BlobEntry } from '../../src/blobs/types.ts';
import type { Corpus } from '../support/corpus.ts';
import { buildCorpus } from '../support/corpus.ts';
import { makeGem } from '../support/make-gem.ts';
import type { RubySandbox, RunResult } from '../support/ruby.ts';
import { describeRun, expectSuccess, requireRuby, rubySandbox } from '../support/ruby.ts';
import type { S3TestServer } from '../support/s3-server.ts';
import { S3_TEST_CREDENTIALS, startS3Server } from '../support/s3-server.ts';
import type { LoggedRequest, QuarryServer } from '../support/server.ts';
import { createKey, startQuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 120_000 };
const BUCKET = `quarry-serve-${randomBytes(4).toString('hex')}`;
const PREFIX = 'some/prefix';
/** What the server may keep in its data directory when the gems live in the bucket. */
const CATALOG_FILES = ['catalog.sqlite3', 'catalog.sqlite3-shm', 'catalog.sqlite3-wal', 'quarry-layout.json'];
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
};

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const show = (reqs: LoggedRequest[]) => reqs.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('\n');
/** The object key the server stores a gem under (docs/configuration.md, Storage). */
const objectKey = (body: Buffer) => {
  const h = sha256(body);
  return `${PREFIX}/gems/sha256/${h.slice(0, 2)}/${h}.gem`;
};

/** Every file below dir, as relative paths, sorted. */
function filesBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

function installedSpecs(gemDir: string): string[] {
  const dir = join(gemDir, 'specifications');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.gemspec'))
    .map((f) => f.slice(0, -'.gemspec'.length))
    .sort();
}

/** The files gem push sent, by file name. */
const pushed = new Map<string, Buffer>();

/** Asserts every .gem in dir equals the bytes that were pushed; returns their names. */
function assertSameAsPushed(dir: string): string[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.gem')) : [];
  for (const f of files) {
    const original = pushed.get(f);
    assert.ok(original, `${f} came from the server but was never pushed`);
    assert.ok(readFileSync(join(dir, f)).equals(original), `${f}: the bytes differ from the pushed file`);
  }
  return files.sort();
}

describe('quarry serve on S3 storage with the real gem and bundle clients', () => {
  let root: string;
  let data: string;
  let corpus: Corpus;
  let s3: S3TestServer;
  /** The whole bucket, without a prefix, to see every object the server wrote. */
  let bucket: S3BlobStore;
  let server: QuarryServer;
  let key: string;
  const sandboxes: RubySandbox[] = [];
  const sandbox = (): RubySandbox => {
    const s = rubySandbox('quarry-serve-s3-');
    sandboxes.push(s);
    return s;
  };

  // A failed set-up is rethrown by every test, so it counts as a failure (a failing hook only cancels).
  let setupError: unknown = null;
  const ready = () => {
    if (setupError !== null) throw setupError;
  };
  before(async () => {
    try {
      requireRuby();
      root = mkdtempSync(join(tmpdir(), 'quarry-serve-s3-'));
      data = join(root, 'data');
      corpus = buildCorpus(join(root, 'corpus'));
      s3 = await startS3Server([BUCKET]);
      bucket = new S3BlobStore(s3.storeOptions(BUCKET));
      const config = join(root, 'quarry.yaml');
      writeFileSync(
        config,
        [
          `storage: s3://${BUCKET}/${PREFIX}`,
          's3:',
          `  endpoint: ${s3.endpoint}`,
          '  force_path_style: true',
          'cache:',
          '  gem_bytes: 0',
          '',
        ].join('\n'),
      );
      server = await startQuarryServer({ data, config, env: AWS_ENV });
      key = createKey(data, ['push', 'yank'], { name: 'e2e-s3', config, env: AWS_ENV });
    } catch (e) {
      setupError = e;
    }
  });

  after(async () => {
    server?.kill();
    bucket?.destroy();
    await s3?.close();
    for (const s of sandboxes) s.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const listBucket = async (): Promise<BlobEntry[]> => {
    const out: BlobEntry[] = [];
    for await (const e of bucket.list('')) out.push(e);
    return out;
  };
  /** The bucket holds exactly these gem bodies, each under its SHA-256 key with its bytes and MD5. */
  const assertBucketHolds = async (bodies: Buffer[]): Promise<void> => {
    const objects = await listBucket();
    const want = new Map(bodies.map((b) => [objectKey(b), b]));
    assert.deepEqual(objects.map((o) => o.key).sort(), [...want.keys()].sort(), 'the objects in the bucket');
    for (const o of objects) {
      const body = want.get(o.key)!;
      assert.equal(o.size, body.length, o.key);
      assert.equal(o.md5, md5(body), `${o.key}: ETag`);
      assert.ok((await bucket.get(o.key))?.equals(body), `${o.key}: the object differs from the pushed file`);
    }
  };
  const assertDataDirIsCatalogOnly = () => {
    const files = filesBelow(data);
    assert.ok(files.includes('catalog.sqlite3'), files.join('\n'));
    assert.deepEqual(
      files.filter((f) => !CATALOG_FILES.includes(f)),
      [],
      'the data directory holds nothing but the catalog',
    );
  };

  const source = () => `${server.url}/`;
  const gemFrom = async (s: RubySandbox, args: string[], cwd?: string): Promise<RunResult> => {
    const mark = await server.mark();
    const r = await s.gem([...args, '--clear-sources', '--source', source()], cwd ? { cwd } : {});
    if (r.status !== 0) {
      const log = show(await server.requestsSince(mark));
      throw new Error(`${describeRun(`gem ${args.join(' ')}`, r)}\n--- requests\n${log}`);
    }
    return r;
  };
  const push = (s: RubySandbox, file: string) =>
    s.gem(['push', file, '--host', server.url], { env: { GEM_HOST_API_KEY: key } });
  const text = async (path: string) => {
    const r = await server.fetch(path);
    return { status: r.status, body: await r.text() };
  };
  const bytes = async (path: string) => {
    const r = await server.fetch(path);
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
  };

  test(
    'gem push stores gems with dependencies, prereleases and platforms in the bucket',
    TIMEOUT,
    async () => {
      ready();
      assert.deepEqual(await listBucket(), [], 'the bucket starts empty');
      const powerAssert = corpus.gems.find((g) => g.name === 'power_assert');
      assert.ok(powerAssert, 'the corpus has power_assert (edge-deps needs it)');
      const files = [
        'edge-base-1.0.0.gem',
        'edge-base-2.0.0.gem',
        'edge-base-3.0.0.gem',
        powerAssert.file,
        'edge-deps-1.0.0.gem',
        'edge-pre-1.0.0.pre1.gem',
        'edge-pre-2.0.0.rc.1.gem',
        'edge-native-1.0.0.gem',
        'edge-native-2.0.0.gem',
        'edge-native-2.0.0-java.gem',
        'edge-native-2.0.0-x86_64-linux.gem',
      ];
      const s = sandbox();
      for (const file of files) {
        const g = corpus.gem(file);
        const r = await push(s, g.path);
        assert.equal(r.status, 0, describeRun(`gem push ${file}`, r));
        const label = `${g.version}${g.platform === 'ruby' ? '' : `-${g.platform}`}`;
        assert.ok(r.stdout.includes(`Successfully registered gem: ${g.name} (${label})`), r.stdout);
        pushed.set(file, readFileSync(g.path));
      }

      await assertBucketHolds([...pushed.values()]);
      assertDataDirIsCatalogOnly();
      for (const [file, body] of pushed) {
        const got = await bytes(`/gems/${file}`);
        assert.equal(got.status, 200, file);
        assert.ok(got.body.equals(body), `/gems/${file} differs from the pushed file`);
      }
      const info = (await text('/info/edge-native')).body;
      for (const file of ['edge-native-2.0.0-java.gem', 'edge-native-2.0.0-x86_64-linux.gem']) {
        assert.ok(info.includes(`checksum:${sha256(pushed.get(file)!)}`), `/info/edge-native lists ${file}`);
      }
    },
  );

  test(
    'a second push of a version with different bytes is refused and leaves the bucket alone',
    TIMEOUT,
    async () => {
      ready();
      const s = sandbox();
      const impostor = join(s.root, 'edge-base-1.0.0.gem');
      writeFileSync(impostor, makeGem({ name: 'edge-base', version: '1.0.0', summary: 'not the original' }));
      const r = await push(s, impostor);
      assert.notEqual(r.status, 0, describeRun('gem push (different bytes)', r));
      assert.match(r.stdout + r.stderr, /Repushing of gem versions is not allowed/);
      await assertBucketHolds([...pushed.values()]);
    },
  );

  test('gem yank --platform java removes only the java variant', TIMEOUT, async () => {
    ready();
    const s = sandbox();
    const r = await s.gem(
      ['yank', 'edge-native', '-v', '2.0.0', '--platform', 'java', '--host', server.url],
      {
        env: { GEM_HOST_API_KEY: key },
      },
    );
    assert.equal(r.status, 0, describeRun('gem yank', r));
    assert.match(r.stdout, /Successfully deleted gem: edge-native \(2\.0\.0-java\)/);

    const info = (await text('/info/edge-native')).body;
    const tokens = info
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => l.split(' ')[0]);
    assert.deepEqual(tokens, ['1.0.0', '2.0.0', '2.0.0-x86_64-linux']);
    const last = (await text('/versions')).body
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('edge-native '))
      .at(-1);
    assert.equal(last, `edge-native -2.0.0-java ${md5(info)}`);
    assert.equal((await text('/gems/edge-native-2.0.0-java.gem')).status, 404);
    assert.equal(
      (await text('/gems/edge-native-2.0.0-x86_64-linux.gem')).status,
      200,
      'other platforms stay',
    );
    // A yank hides the version; the bytes stay in the bucket, so `quarry unyank` can bring it back.
    await assertBucketHolds([...pushed.values()]);
  });

  test(
    'gem install resolves dependencies and downloads the exact bytes from the bucket',
    TIMEOUT,
    async () => {
      ready();
      const s = sandbox();
      const mark = await server.mark();
      await gemFrom(s, ['install', 'edge-deps']);
      assert.deepEqual(installedSpecs(s.gemHome), [
        'edge-base-2.0.0',
        'edge-deps-1.0.0',
        'power_assert-2.0.1',
      ]);
      assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), [
        'edge-base-2.0.0.gem',
        'edge-deps-1.0.0.gem',
        'power_assert-2.0.1.gem',
      ]);
      const reqs = await server.requestsSince(mark);
      assert.deepEqual(
        reqs
          .filter((r) => r.path.startsWith('/gems/') && r.status === 200)
          .map((r) => r.path)
          .sort(),
        ['/gems/edge-base-2.0.0.gem', '/gems/edge-deps-1.0.0.gem', '/gems/power_assert-2.0.1.gem'],
        show(reqs),
      );
      assert.equal(show(reqs.filter((r) => r.status >= 400)), '', 'no request failed');
    },
  );

  test('gem install --pre picks the newest prerelease', TIMEOUT, async () => {
    ready();
    const s = sandbox();
    await gemFrom(s, ['install', 'edge-pre', '--pre']);
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-base-1.0.0', 'edge-pre-2.0.0.rc.1']);
    assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), [
      'edge-base-1.0.0.gem',
      'edge-pre-2.0.0.rc.1.gem',
    ]);
  });

  test('gem install chooses the x86_64-linux variant', TIMEOUT, async () => {
    ready();
    const s = sandbox();
    await gemFrom(s, ['install', 'edge-native']);
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-native-2.0.0-x86_64-linux']);
    const r = expectSuccess(
      'ruby -e (platform of edge-native)',
      await s.ruby(['-e', 'gem "edge-native"; require "edge_native/platform"; print EDGE_NATIVE_PLATFORM']),
    );
    assert.equal(r.stdout, 'x86_64-linux');
    assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), ['edge-native-2.0.0-x86_64-linux.gem']);
  });

  test('gem fetch downloads the pushed bytes', TIMEOUT, async () => {
    ready();
    const s = sandbox();
    const out = join(s.root, 'fetched');
    mkdirSync(out);
    await gemFrom(s, ['fetch', 'edge-base'], out);
    await gemFrom(s, ['fetch', 'edge-base', '-v', '1.0.0'], out);
    await gemFrom(s, ['fetch', 'edge-native', '-v', '2.0.0'], out);
    assert.deepEqual(assertSameAsPushed(out), [
      'edge-base-1.0.0.gem',
      'edge-base-3.0.0.gem',
      'edge-native-2.0.0-x86_64-linux.gem',
    ]);
  });

  test('bundle install resolves and installs from the server', TIMEOUT, async () => {
    ready();
    const s = sandbox();
    const app = join(s.root, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'Gemfile'), `source "${source()}"\n\ngem "edge-deps"\ngem "edge-native"\n`);
    const bundlePath = join(s.root, 'bundle');
    const mark = await server.mark();
    const r = await s.bundle(['install'], { cwd: app, env: { BUNDLE_PATH: bundlePath } });
    const log = show(await server.requestsSince(mark));
    assert.equal(r.status, 0, `${describeRun('bundle install', r)}\n--- requests\n${log}`);
    const lock = readFileSync(join(app, 'Gemfile.lock'), 'utf8');
    for (const line of ['edge-base (2.0.0)', 'edge-deps (1.0.0)', 'power_assert (2.0.1)']) {
      assert.ok(lock.includes(`    ${line}\n`), `Gemfile.lock lacks ${line}:\n${lock}`);
    }
    assert.match(lock, /^ {4}edge-native \(2\.0\.0-x86_64-linux\)$/m, lock);
    const [abi] = readdirSync(join(bundlePath, 'ruby'));
    assert.ok(abi, 'bundle installed into BUNDLE_PATH/ruby/<abi>');
    assert.deepEqual(assertSameAsPushed(join(bundlePath, 'ruby', abi, 'cache')), [
      'edge-base-2.0.0.gem',
      'edge-deps-1.0.0.gem',
      'edge-native-2.0.0-x86_64-linux.gem',
      'power_assert-2.0.1.gem',
    ]);
  });

  // Runs last: checks what the whole run left behind.
  test(
    'nothing failed on the server, and the data directory still holds only the catalog',
    TIMEOUT,
    async () => {
      ready();
      await server.flushLog();
      const errors = server.logs.filter((l) => Number(l['level']) >= 50 || Number(l['status']) >= 500);
      assert.deepEqual(errors, [], 'the server logged errors');
      assertDataDirIsCatalogOnly();
      await assertBucketHolds([...pushed.values()]);
    },
  );
});
