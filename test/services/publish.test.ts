/**
 * `quarry publish` against the real S3 driver on s3rver: the full layout with its headers, byte for
 * byte what `quarry index` writes; incremental publishes that upload exactly the changed objects in
 * safe order; yanks, repairs, rebuilds, dry runs, and publishing from a server catalog.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore } from '../../src/blobs/s3.ts';
import type { BlobEntry, BlobInfo, BlobStore, PutOptions } from '../../src/blobs/types.ts';
import { composeServices } from '../../src/compose.ts';
import { configSchema } from '../../src/config/schema.ts';
import { md5Hex } from '../../src/index/compact.ts';
import { publish } from '../../src/services/publish.ts';
import { catalogSource, folderSource } from '../../src/services/publish-sources.ts';
import { buildStaticIndex } from '../../src/services/static-index.ts';
import type { GemOptions } from '../support/make-gem.ts';
import { makeGem } from '../support/make-gem.ts';
import { servedFiles } from '../support/published.ts';
import type { S3TestServer } from '../support/s3-server.ts';
import { startS3Server } from '../support/s3-server.ts';

const T0 = new Date('2024-05-01T10:00:00Z');
const T1 = new Date('2024-06-01T10:00:00Z');

type Op = { op: 'put'; key: string; options: PutOptions | undefined } | { op: 'delete'; key: string };

/** Passes everything to the real store and records writes in the order they were made. */
class RecordingStore implements BlobStore {
  ops: Op[] = [];
  constructor(private readonly inner: BlobStore) {}
  get(key: string): Promise<Buffer | null> {
    return this.inner.get(key);
  }
  head(key: string): Promise<BlobInfo | null> {
    return this.inner.head(key);
  }
  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    await this.inner.put(key, body, options);
    this.ops.push({ op: 'put', key, options });
  }
  async delete(key: string): Promise<void> {
    await this.inner.delete(key);
    this.ops.push({ op: 'delete', key });
  }
  list(prefix: string): AsyncIterable<BlobEntry> {
    return this.inner.list(prefix);
  }
  puts(): string[] {
    return this.ops.filter((o) => o.op === 'put').map((o) => o.key);
  }
  deletes(): string[] {
    return this.ops.filter((o) => o.op === 'delete').map((o) => o.key);
  }
}

const gemFile = (o: GemOptions): string =>
  `${o.name}-${o.version}${o.platform && o.platform !== 'ruby' ? `-${o.platform}` : ''}.gem`;

function writeGems(dir: string, gems: GemOptions[]): void {
  mkdirSync(join(dir, 'gems'), { recursive: true });
  for (const g of gems) writeFileSync(join(dir, 'gems', gemFile(g)), makeGem(g));
}

function repo(gems: GemOptions[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'quarry-publish-'));
  writeGems(dir, gems);
  return dir;
}

async function keysOf(store: BlobStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of store.list('')) out.set(e.key, e.md5 ?? '');
  return out;
}

/** Every file under dir as a file server serves it (symlinks followed), except the .quarry state folder. */
const filesUnder = servedFiles;

const PUT_PHASES: [RegExp, number][] = [
  [/^gems\//, 0],
  [/^quick\//, 1],
  [/^info\//, 2],
  [/^names$/, 3],
  [/^versions$/, 4],
  [/^quarry\/state\.json\.gz$/, 5],
  [/^(specs|latest_specs|prerelease_specs)\.4\.8(\.gz)?$/, 6],
];

/** The position of a write in the safe order: puts by phase, then deletes (info, quick specs, gems). */
function rank(o: Op): number {
  const phase = PUT_PHASES.find(([re]) => re.test(o.key))?.[1];
  assert.ok(phase !== undefined, `unexpected key ${o.key}`);
  return o.op === 'put' ? phase : 10 + [2, 1, 0].indexOf(phase);
}

/** Asserts the writes went phase by phase (uploads within one phase run in parallel, in any order). */
function assertSafeOrder(ops: Op[]): void {
  for (let i = 1; i < ops.length; i++) {
    assert.ok(
      rank(ops[i]!) >= rank(ops[i - 1]!),
      `${ops[i]!.op} ${ops[i]!.key} came after ${ops[i - 1]!.op} ${ops[i - 1]!.key}: ${labels(ops).join(', ')}`,
    );
  }
}

const labels = (ops: Op[]): string[] => ops.map((o) => `${o.op} ${o.key}`);

/** The writes as labels, after checking their order, sorted by key within each phase. */
function phased(ops: Op[]): string[] {
  assertSafeOrder(ops);
  return labels([...ops].sort((a, b) => rank(a) - rank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
}

const CORE: GemOptions[] = [
  { name: 'alpha', version: '1.0.0' },
  { name: 'alpha', version: '1.1.0', deps: [['beta', '~> 0.1']] },
  { name: 'alpha', version: '1.1.0', platform: 'x86_64-linux' },
  { name: 'alpha', version: '2.0.0.pre1' },
  { name: 'beta', version: '0.1.0', requiredRuby: ['>= 2.7'] },
  { name: 'Zeta', version: '1.0' },
];

describe('quarry publish to S3 (s3rver)', () => {
  let s3: S3TestServer;
  let client: S3Client;
  let n = 0;
  const dirs: string[] = [];
  const stores: S3BlobStore[] = [];

  before(async () => {
    s3 = await startS3Server();
    client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
  });
  after(async () => {
    for (const s of stores) s.destroy();
    client?.destroy();
    await s3?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const bucket = async (prefix = ''): Promise<{ name: string; store: RecordingStore }> => {
    const name = `publish-${++n}`;
    await s3.createBucket(name);
    const s3store = new S3BlobStore(s3.storeOptions(name, prefix));
    stores.push(s3store);
    return { name, store: new RecordingStore(s3store) };
  };
  const newRepo = (gems: GemOptions[]): string => {
    const d = repo(gems);
    dirs.push(d);
    return d;
  };
  const run = (
    store: BlobStore,
    dir: string,
    now = T0,
    extra: { dryRun?: boolean; allowEmpty?: boolean } = {},
  ) => publish({ target: store, source: folderSource(dir), now: () => now, ...extra });

  test('a full publish writes the whole layout, byte-identical to quarry index, with the right headers', async () => {
    const dir = newRepo(CORE);
    const { name, store } = await bucket('repo/sub');
    const result = await run(store, dir);

    // The same folder indexed by `quarry index` (same clock) is the reference.
    const ref = mkdtempSync(join(tmpdir(), 'quarry-publish-ref-'));
    dirs.push(ref);
    cpSync(join(dir, 'gems'), join(ref, 'gems'), { recursive: true });
    await buildStaticIndex({ dir: ref, update: false, now: () => T0 });
    const expected = filesUnder(ref);
    assert.ok(
      expected.includes('versions') && expected.includes('specs.4.8.gz') && expected.includes('names'),
    );

    const published = await keysOf(store);
    assert.deepEqual([...published.keys()].sort(), [...expected, 'quarry/state.json.gz'].sort());
    for (const f of expected) {
      const body = await store.get(f);
      assert.ok(body?.equals(readFileSync(join(ref, f))), `${f} differs from quarry index's`);
    }
    assert.equal(result.mode, 'full');
    assert.equal(result.uploads.length, expected.length);
    assert.equal(result.unchanged, 0);
    assert.deepEqual(result.deletes, []);
    assert.equal(result.stateWritten, true);
    assertSafeOrder(store.ops);

    // Headers as S3 returns them (HeadObject on the prefixed key).
    for (const key of expected) {
      const h = await client.send(new HeadObjectCommand({ Bucket: name, Key: `repo/sub/${key}` }));
      const text = key === 'versions' || key === 'names' || key.startsWith('info/');
      const immutable = key.endsWith('.gem') || key.endsWith('.rz');
      assert.equal(h.ContentType, text ? 'text/plain; charset=utf-8' : 'application/octet-stream', key);
      assert.equal(
        h.CacheControl,
        immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=60',
        `${key} Cache-Control`,
      );
      assert.equal(h.ContentEncoding, undefined, `${key} must not have Content-Encoding`);
      assert.equal(h.ETag?.replace(/"/g, ''), published.get(key), `${key} ETag is its MD5`);
    }
  });

  test('publishing again uploads nothing; a dry run reports and changes nothing', async () => {
    const dir = newRepo(CORE);
    const { store } = await bucket();
    await run(store, dir);
    store.ops = [];
    const again = await run(store, dir, T1);
    assert.deepEqual(store.ops, []);
    assert.equal(again.mode, 'update');
    assert.deepEqual(again.uploads, []);
    assert.deepEqual(again.deletes, []);
    assert.equal(again.stateWritten, false);
    assert.equal(again.unchanged, (await keysOf(store)).size - 1);

    writeGems(dir, [{ name: 'gamma', version: '3.0' }]);
    unlinkSync(join(dir, 'gems', 'beta-0.1.0.gem'));
    const before = await keysOf(store);
    const dry = await run(store, dir, T1, { dryRun: true });
    assert.deepEqual(store.ops, []);
    assert.deepEqual(await keysOf(store), before, 'a dry run changed the bucket');
    const real = await run(store, dir, T1);
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.uploads, real.uploads);
    assert.deepEqual(dry.deletes, real.deletes);
    assert.deepEqual(real.deletes, ['quick/Marshal.4.8/beta-0.1.0.gemspec.rz', 'gems/beta-0.1.0.gem']);
  });

  test('adding one gem to a bucket of 1,000 uploads exactly the objects that changed, in safe order', async () => {
    const many: GemOptions[] = [];
    for (let i = 0; i < 1000; i++) {
      const name = `g${String(i % 400).padStart(3, '0')}`;
      const version = i % 97 === 0 ? `${Math.floor(i / 400)}.0.0.beta` : `${Math.floor(i / 400)}.0.0`;
      many.push({ name, version, deps: i % 5 === 0 ? [['g000', '>= 0']] : [] });
    }
    const dir = newRepo(many);
    const { store } = await bucket('many');
    const first = await run(store, dir);
    assert.equal(first.gems, 1000);
    assert.equal(first.uploads.length, 1000 * 2 + 400 + 1 + 1 + 6);

    // A new name: its gem, quick spec and info file, names, versions, and the release lists.
    store.ops = [];
    writeGems(dir, [{ name: 'newcomer', version: '1.0.0' }]);
    const r1 = await run(store, dir, T1);
    const released = ['latest_specs.4.8', 'latest_specs.4.8.gz', 'specs.4.8', 'specs.4.8.gz'];
    assert.deepEqual(
      r1.uploads.map((u) => u.key),
      [
        'gems/newcomer-1.0.0.gem',
        'quick/Marshal.4.8/newcomer-1.0.0.gemspec.rz',
        'info/newcomer',
        'names',
        'versions',
        ...released,
      ],
    );
    assert.deepEqual(
      phased(store.ops),
      [...r1.uploads.slice(0, 5).map((u) => u.key), 'quarry/state.json.gz', ...released].map(
        (k) => `put ${k}`,
      ),
    );
    assert.equal(r1.unchanged, first.uploads.length - 6);
    assert.deepEqual(store.deletes(), []);
    assertSafeOrder(store.ops);
    const versions = (await store.get('versions'))!.toString();
    const info = (await store.get('info/newcomer'))!;
    assert.ok(versions.endsWith(`newcomer 1.0.0 ${md5Hex(info)}\n`), versions.slice(-200));

    // A new version of a known name: names stays as it is.
    store.ops = [];
    writeGems(dir, [{ name: 'g007', version: '9.0.0' }]);
    const r2 = await run(store, dir, T1);
    assert.deepEqual(
      r2.uploads.map((u) => u.key),
      [
        'gems/g007-9.0.0.gem',
        'quick/Marshal.4.8/g007-9.0.0.gemspec.rz',
        'info/g007',
        'versions',
        ...released,
      ],
    );

    // A prerelease: only the prerelease lists change.
    store.ops = [];
    writeGems(dir, [{ name: 'g008', version: '10.0.0.rc1' }]);
    const r3 = await run(store, dir, T1);
    assert.deepEqual(
      r3.uploads.map((u) => u.key),
      [
        'gems/g008-10.0.0.rc1.gem',
        'quick/Marshal.4.8/g008-10.0.0.rc1.gemspec.rz',
        'info/g008',
        'versions',
        'prerelease_specs.4.8',
        'prerelease_specs.4.8.gz',
      ],
    );
    assertSafeOrder(store.ops);
  });

  test('a removed gem is published as a yank, and its files are deleted last', async () => {
    const dir = newRepo(CORE);
    const { store } = await bucket();
    await run(store, dir);
    const before = (await store.get('versions'))!.toString();
    store.ops = [];
    unlinkSync(join(dir, 'gems', 'alpha-1.1.0.gem'));
    const r = await run(store, dir, T1);
    assert.equal(r.mode, 'update');
    assert.equal(r.removed, 1);

    const versions = (await store.get('versions'))!.toString();
    const info = (await store.get('info/alpha'))!.toString();
    assert.ok(versions.startsWith(before), '/versions must stay append-only');
    assert.equal(versions.slice(before.length), `alpha -1.1.0 ${md5Hex(info)}\n`);
    assert.doesNotMatch(info, /^1\.1\.0 /m);
    assert.match(info, /^1\.1\.0-x86_64-linux /m);
    assert.equal(await store.get('gems/alpha-1.1.0.gem'), null);
    assert.equal(await store.get('quick/Marshal.4.8/alpha-1.1.0.gemspec.rz'), null);
    assert.deepEqual(phased(store.ops), [
      'put info/alpha',
      'put versions',
      'put quarry/state.json.gz',
      'put latest_specs.4.8',
      'put latest_specs.4.8.gz',
      'put specs.4.8',
      'put specs.4.8.gz',
      'delete quick/Marshal.4.8/alpha-1.1.0.gemspec.rz',
      'delete gems/alpha-1.1.0.gem',
    ]);

    // Every version of a name gone: its info file stays, as "---\n", matching its /versions line.
    store.ops = [];
    unlinkSync(join(dir, 'gems', 'beta-0.1.0.gem'));
    await run(store, dir, T1);
    const emptied = (await store.get('info/beta'))!.toString();
    assert.equal(emptied, '---\n');
    assert.ok((await store.get('versions'))!.toString().endsWith(`beta -0.1.0 ${md5Hex(emptied)}\n`));
    assert.doesNotMatch((await store.get('names'))!.toString(), /^beta$/m);
    store.ops = [];
    await run(store, dir, T1);
    assert.deepEqual(store.ops, [], 'a later publish keeps the emptied info file');
  });

  test('objects lost from the bucket are restored; a lost or stale state forces a rebuild', async () => {
    const dir = newRepo(CORE);
    const { store } = await bucket();
    await run(store, dir);
    const quick = 'quick/Marshal.4.8/beta-0.1.0.gemspec.rz';
    const original = (await keysOf(store)).get(quick);
    await store.delete(quick);
    await store.delete('info/Zeta');
    await store.delete('gems/Zeta-1.0.gem');
    await store.delete('specs.4.8.gz');
    store.ops = [];
    const repaired = await run(store, dir, T1);
    assert.equal(repaired.mode, 'update');
    assert.deepEqual(
      phased(store.ops),
      ['gems/Zeta-1.0.gem', quick, 'info/Zeta', 'specs.4.8.gz'].map((k) => `put ${k}`),
    );
    assert.equal((await keysOf(store)).get(quick), original);

    // No state: a full rebuild; only /versions (new created_at) and the state differ.
    await store.delete('quarry/state.json.gz');
    store.ops = [];
    const rebuilt = await run(store, dir, T1);
    assert.equal(rebuilt.mode, 'full');
    assert.equal(rebuilt.fullReason, 'no publish state in the bucket');
    assert.deepEqual(phased(store.ops), ['put versions', 'put quarry/state.json.gz']);
    assert.match((await store.get('versions'))!.toString(), /^created_at: 2024-06-01T10:00:00Z\n/);

    // /versions changed behind the publisher's back: a full rebuild too.
    await store.put('versions', Buffer.from('created_at: 2020-01-01T00:00:00Z\n---\n'));
    const stale = await run(store, dir, T0);
    assert.equal(stale.fullReason, 'versions was changed since the last publish');
    assert.match((await store.get('versions'))!.toString(), /^created_at: 2024-05-01T10:00:00Z\n---\nZeta /);
  });

  test('a gem file whose bytes changed is republished as a yank plus a push', async () => {
    const dir = newRepo(CORE);
    const { store } = await bucket();
    await run(store, dir);
    writeGems(dir, [{ name: 'beta', version: '0.1.0', summary: 'rebuilt', requiredRuby: ['>= 2.7'] }]);
    store.ops = [];
    const r = await run(store, dir, T1);
    const info = (await store.get('info/beta'))!;
    assert.ok((await store.get('versions'))!.toString().endsWith(`beta -0.1.0,0.1.0 ${md5Hex(info)}\n`));
    const bytes = readFileSync(join(dir, 'gems', 'beta-0.1.0.gem'));
    assert.ok((await store.get('gems/beta-0.1.0.gem'))!.equals(bytes));
    const sha = createHash('sha256').update(bytes).digest('hex');
    assert.match(info.toString(), new RegExp(`checksum:${sha}`));
    assert.deepEqual(
      r.uploads.map((u) => `${u.key} ${u.reason}`),
      [
        'gems/beta-0.1.0.gem changed',
        'quick/Marshal.4.8/beta-0.1.0.gemspec.rz changed',
        'info/beta changed',
        'versions changed',
      ],
    );
    assert.deepEqual(r.deletes, []);
  });

  test('an empty source does not wipe a published bucket unless allowed', async () => {
    const dir = newRepo(CORE);
    const { store } = await bucket();
    await run(store, dir);
    const empty = newRepo([]);
    await assert.rejects(run(store, empty, T1), /has no gems; publishing it would delete the 6 gems/);
    const r = await run(store, empty, T1, { allowEmpty: true });
    assert.equal(r.gems, 0);
    const left = [...(await keysOf(store)).keys()];
    assert.deepEqual(
      left.filter((k) => k.startsWith('gems/') || k.startsWith('quick/')),
      [],
    );
    assert.deepEqual(
      left.filter((k) => k.startsWith('info/')),
      ['info/Zeta', 'info/alpha', 'info/beta'],
      'names in /versions keep an info file ("---")',
    );
  });

  test('publishes the server catalog: live versions with their stored bytes, yanks appended', async () => {
    const data = mkdtempSync(join(tmpdir(), 'quarry-publish-data-'));
    dirs.push(data);
    const config = configSchema.parse({ data });
    const services = await composeServices(config, () => T0, { metricsDefaults: false });
    try {
      const bytes = new Map<string, Buffer>();
      for (const g of CORE) {
        const b = makeGem(g);
        bytes.set(gemFile(g), b);
        await services.gems.push(b, async () => null);
      }
      const { store } = await bucket('from-catalog');
      const source = catalogSource('test catalog', services.catalog, services.blobs);
      const first = await publish({ target: store, source, now: () => T0 });
      assert.equal(first.gems, CORE.length);
      for (const [file, b] of bytes) assert.ok((await store.get(`gems/${file}`))!.equals(b), file);

      // The same catalog published to a folder source's reference gives the same index bytes.
      const ref = newRepo(CORE);
      await buildStaticIndex({ dir: ref, update: false, now: () => T0 });
      for (const f of [
        'versions',
        'names',
        'specs.4.8.gz',
        'info/alpha',
        'quick/Marshal.4.8/alpha-1.1.0-x86_64-linux.gemspec.rz',
      ]) {
        assert.ok((await store.get(f))!.equals(readFileSync(join(ref, f))), f);
      }

      store.ops = [];
      const again = await publish({ target: store, source, now: () => T1 });
      assert.deepEqual(store.ops, [], 'an unchanged catalog uploads nothing');
      assert.equal(again.uploads.length, 0);

      await services.gems.yank('alpha', '1.0.0', undefined);
      store.ops = [];
      const yanked = await publish({ target: store, source, now: () => T1 });
      assert.equal(yanked.removed, 1);
      const info = (await store.get('info/alpha'))!;
      assert.ok((await store.get('versions'))!.toString().endsWith(`alpha -1.0.0 ${md5Hex(info)}\n`));
      assert.deepEqual(store.deletes(), ['quick/Marshal.4.8/alpha-1.0.0.gemspec.rz', 'gems/alpha-1.0.0.gem']);
      assertSafeOrder(store.ops);
    } finally {
      await services.close();
    }
  });
});

describe('publish order with a failing store', () => {
  test('a failed upload stops the publish before later phases and before any delete', async () => {
    const { MemoryBlobStore } = await import('../../src/blobs/memory.ts');
    const dir = repo(CORE);
    try {
      const inner = new MemoryBlobStore();
      await publish({ target: inner, source: folderSource(dir), now: () => T0 });
      unlinkSync(join(dir, 'gems', 'alpha-1.0.0.gem'));
      writeGems(dir, [{ name: 'delta', version: '1.0' }]);
      const store = new RecordingStore(inner);
      const failing: BlobStore = Object.assign(Object.create(store) as RecordingStore, {
        put: async (key: string, body: Uint8Array, options?: PutOptions) => {
          if (key.startsWith('info/')) throw new Error(`injected failure on ${key}`);
          return store.put(key, body, options);
        },
      });
      await assert.rejects(
        publish({ target: failing, source: folderSource(dir), now: () => T1, concurrency: 1 }),
        /injected failure on info\//,
      );
      assert.deepEqual(store.puts(), ['gems/delta-1.0.gem', 'quick/Marshal.4.8/delta-1.0.gemspec.rz']);
      assert.deepEqual(store.deletes(), []);
      assert.ok(await inner.get('gems/alpha-1.0.0.gem'), 'nothing is deleted after a failure');
      // The next publish finishes the job from the unchanged state.
      const r = await publish({ target: store, source: folderSource(dir), now: () => T1 });
      assert.equal(r.mode, 'update');
      assert.equal(r.added, 1);
      assert.equal(r.removed, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
