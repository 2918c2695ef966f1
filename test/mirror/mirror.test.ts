/** quarry mirror in process: an upstream Quarry on loopback, a mirror into a fresh catalog. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { composeMirror } from '../../src/compose.ts';
import { parseLockfile, resolveClosure } from '../../src/index/closure.ts';
import { parseInfoFile } from '../../src/index/compact-parse.ts';
import { UpstreamSource } from '../../src/services/upstream-source.ts';
import { UpstreamClient } from '../../src/upstream/client.ts';
import type { Harness } from '../http/harness.ts';
import { listen, push, startHarness, upstreamAt, yank } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';

const plan = (names: string[]) => ({
  roots: names.map((name) => ({ name, requirement: [] as string[] })),
  all: false,
  latest: 0,
  platforms: ['ruby'],
  pre: false,
  exclude: [],
  follow: true,
});
const opts = { concurrency: 4, retries: 1, dryRun: false, syncYanks: false };

/** The files a run reports, by kind (sorted), beside its counts. */
const listed = () => {
  const files: Record<string, string[]> = { fetched: [], present: [], would_fetch: [] };
  return {
    files,
    onFile: (kind: string, file: string) => {
      files[kind]!.push(file);
      files[kind]!.sort();
    },
  };
};

describe('quarry mirror (in process)', () => {
  let upstream: Harness;
  let mirror: Harness;
  let url: string;
  before(async () => {
    upstream = await startHarness();
    const gems = [
      makeGem({ name: 'leaf', version: '1.0.0' }),
      makeGem({ name: 'leaf', version: '2.0.0' }),
      makeGem({ name: 'leaf', version: '2.1.0.pre' }),
      makeGem({ name: 'leaf', version: '2.0.0', platform: 'java' }),
      makeGem({ name: 'mid', version: '1.0.0', deps: [['leaf', '~> 2.0']] }),
      makeGem({ name: 'top', version: '1.0.0', deps: [['mid', '>= 1.0']], devDeps: [['devonly', '>= 0']] }),
      makeGem({ name: 'devonly', version: '1.0.0' }),
      makeGem({ name: 'other', version: '1.0.0' }),
    ];
    for (const g of gems) assert.equal((await push(upstream, g)).statusCode, 200);
    url = await listen(upstream);
    mirror = await startHarness();
  });
  after(async () => {
    await mirror?.close();
    await upstream?.close();
  });

  const upstreamConfig = () => upstreamAt(url);

  it('copies the runtime closure of a named gem, and serves it', async () => {
    const m = composeMirror(mirror.services, upstreamConfig(), {});
    const l = listed();
    const r = await m.run(plan(['top']), { ...opts, onFile: l.onFile });
    assert.deepEqual(r.failed, []);
    assert.deepEqual(l.files['fetched'], ['leaf-2.0.0', 'mid-1.0.0', 'top-1.0.0']);
    assert.deepEqual([r.planned, r.fetched, r.present], [3, 3, 0]);
    const versions = (await mirror.app.inject({ url: '/versions' })).body;
    assert.match(versions, /^top 1\.0\.0 /m);
    assert.doesNotMatch(versions, /devonly|other|2\.1\.0\.pre|java/);
    const g = await mirror.app.inject({ url: '/gems/leaf-2.0.0.gem' });
    assert.equal(g.statusCode, 200);
    const v = await mirror.services.catalog.findVersion('leaf', '2.0.0', 'ruby');
    assert.equal(v?.origin, 'mirror:up');
  });

  it('a second run fetches nothing already here; new versions and yanks upstream are picked up', async () => {
    const m = composeMirror(mirror.services, upstreamConfig(), {});
    const again = await m.run(plan(['top']), opts);
    assert.equal(again.fetched, 0);
    assert.equal(again.present, 3);
    assert.equal((await push(upstream, makeGem({ name: 'leaf', version: '2.2.0' }))).statusCode, 200);
    assert.equal((await yank(upstream, 'gem_name=leaf&version=2.0.0')).statusCode, 200);
    const l = listed();
    const third = await composeMirror(mirror.services, upstreamConfig(), {}).run(plan(['top']), {
      ...opts,
      syncYanks: true,
      onFile: l.onFile,
    });
    assert.deepEqual(l.files['fetched'], ['leaf-2.2.0']);
    assert.deepEqual(third.yanked, ['leaf-2.0.0']);
    assert.equal((await mirror.app.inject({ url: '/gems/leaf-2.0.0.gem' })).statusCode, 404);
  });

  it('--dry-run lists what would be fetched, with sizes, and stores nothing', async () => {
    const m = composeMirror(mirror.services, upstreamConfig(), {});
    const l = listed();
    const r = await m.run(plan(['other']), { ...opts, dryRun: true, onFile: l.onFile });
    assert.deepEqual(l.files['would_fetch'], ['other-1.0.0']);
    assert.equal(r.wouldFetch, 1);
    assert.ok(r.wouldFetchBytes > 0);
    assert.equal(await mirror.services.catalog.findVersion('other', '1.0.0', 'ruby'), null);
  });

  it('gives each gem of a batch the checks of a push: a version here with other bytes fails alone', async () => {
    const here = await startHarness();
    try {
      // mid 1.0.0 was pushed here with other bytes (another summary).
      const other = makeGem({ name: 'mid', version: '1.0.0', summary: 'pushed here' });
      assert.equal((await push(here, other)).statusCode, 200);
      const l = listed();
      const r = await composeMirror(here.services, upstreamConfig(), {}).run(plan(['top']), {
        ...opts,
        onFile: l.onFile,
      });
      assert.deepEqual(
        r.failed.map((f) => f.file),
        ['mid-1.0.0'],
      );
      assert.match(r.failed[0]!.reason, /Repushing of gem versions is not allowed/);
      assert.deepEqual(l.files['fetched'], ['leaf-2.2.0', 'top-1.0.0']);
      const v = await here.services.catalog.findVersion('mid', '1.0.0', 'ruby');
      assert.equal(v?.origin, null, 'the version pushed here stays');
    } finally {
      await here.close();
    }
  });

  it('keeps each /info copy as one blob, its record then its body, and reads the older two-blob form', async () => {
    const { blobs, catalog } = mirror.services;
    const keys: string[] = [];
    for await (const e of blobs.list('upstream/up/', { md5: false })) keys.push(e.key);
    assert.ok(keys.includes('upstream/up/docs/info/leaf.json'), keys.join(' '));
    assert.deepEqual(
      keys.filter((k) => k.includes('/bodies/')),
      [],
    );
    const record = (await blobs.get('upstream/up/docs/info/leaf.json'))!;
    const nl = record.indexOf(10);
    const meta = JSON.parse(record.toString('utf8', 0, nl)) as { sha256: string; size: number };
    const body = record.subarray(nl + 1);
    assert.equal(createHash('sha256').update(body).digest('hex'), meta.sha256);
    assert.equal(body.length, meta.size);
    // The form written before: the record alone, its body under bodies/SHA256.
    await blobs.put(`upstream/up/bodies/${meta.sha256}`, body);
    await blobs.put('upstream/up/docs/info/leaf.json', Buffer.from(JSON.stringify(meta)));
    const source = new UpstreamSource({
      client: new UpstreamClient(upstreamConfig(), {}),
      blobs,
      catalog,
      now: () => new Date(),
      offline: true,
    });
    try {
      assert.ok((await source.info('leaf'))?.body.equals(body));
    } finally {
      await source.close();
    }
  });
});

describe('closure and lockfile parsing', () => {
  it('follows runtime dependencies across platforms and stops on cycles', async () => {
    const infos: Record<string, string> = {
      a: '---\n1.0 b:>= 1.0|checksum:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n1.0-java b:>= 1.0|checksum:abababababababababababababababababababababababababababababababab\n',
      b: '---\n1.0 a:>= 0|checksum:babababababababababababababababababababababababababababababababa\n2.0.rc1 |checksum:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n',
    };
    const r = await resolveClosure(
      [{ name: 'a', requirement: [] }],
      async (n) => (infos[n] ? parseInfoFile(infos[n]!, n) : null),
      { platforms: ['ruby', 'java'], pre: false, latest: 0, excluded: () => false, follow: true },
    );
    assert.deepEqual(
      r.entries.map((e) => `${e.name}-${e.token}`),
      ['a-1.0-java', 'a-1.0', 'b-1.0'],
    );
  });

  it('reads the GEM specs of a Gemfile.lock', () => {
    const lock = `GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.16.0-x86_64-linux)
      racc (~> 1.4)
    racc (1.7.3)
    rack (3.0.8)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  nokogiri
  rack
`;
    assert.deepEqual(parseLockfile(lock), [
      { name: 'nokogiri', version: '1.16.0', platform: 'x86_64-linux' },
      { name: 'racc', version: '1.7.3', platform: 'ruby' },
      { name: 'rack', version: '3.0.8', platform: 'ruby' },
    ]);
  });
});
