/**
 * `quarry catalog copy`: a SQLite catalog filled through the real push path, copied into
 * PostgreSQL; a node on the copy serves the same bytes and goes on taking pushes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyCatalog } from '../../src/catalog/copy.ts';
import type { KyselyCatalog } from '../../src/catalog/kysely-catalog.ts';
import { openCatalog } from '../../src/catalog/open.ts';
import type { Harness } from '../http/harness.ts';
import { push, startHarness, yank } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';
import type { PgServer } from '../support/postgres.ts';
import { startPostgres } from '../support/postgres.ts';
import { runQuarry } from '../support/quarry.ts';

const NAMES = ['alpha', 'beta', 'gamma', 'delta'];
const READS = [
  '/versions',
  '/names',
  ...NAMES.map((n) => `/info/${n}`),
  '/specs.4.8',
  '/specs.4.8.gz',
  '/latest_specs.4.8',
  '/latest_specs.4.8.gz',
  '/prerelease_specs.4.8',
  '/prerelease_specs.4.8.gz',
  `/api/v1/dependencies?gems=${NAMES.join(',')}`,
  '/quick/Marshal.4.8/alpha-1.0.0.gemspec.rz',
  '/quick/Marshal.4.8/gamma-1.0.0-x86_64-linux.gemspec.rz',
  '/gems/alpha-1.0.0.gem',
  '/gems/gamma-1.0.0-x86_64-linux.gem',
];

const ok = async (r: Promise<{ statusCode: number; body: string }>, what: string) => {
  const res = await r;
  assert.equal(res.statusCode, 200, `${what}: ${res.body}`);
};

/** Status, the headers a client caches by, and the body of each read. */
async function snapshot(h: Harness, paths: readonly string[]) {
  const out: Record<string, { status: number; etag: unknown; lastModified: unknown; body: string }> = {};
  for (const url of paths) {
    const r = await h.app.inject({ url });
    out[url] = {
      status: r.statusCode,
      etag: r.headers['etag'],
      lastModified: r.headers['last-modified'],
      body: r.rawPayload.toString('base64'),
    };
  }
  return out;
}

describe('quarry catalog copy', () => {
  let pg: PgServer;
  let sqliteNode: Harness;
  const extraNodes: Harness[] = [];

  const MARK = {
    upstream: 'http://127.0.0.1:9/',
    plan: 'plan-hash',
    versionsSize: 5_000_000_000,
    versionsSha256: 'a'.repeat(64),
    localSeq: 6_000_000_000,
    recordedAt: '2024-04-02T00:00:00.000Z',
  };

  before(async () => {
    pg = await startPostgres();
    sqliteNode = await startHarness();
    const h = sqliteNode;
    const gems = [
      makeGem({ name: 'alpha', version: '1.0.0' }),
      makeGem({ name: 'alpha', version: '1.1.0' }),
      makeGem({ name: 'alpha', version: '1.1.0', platform: 'java' }),
      makeGem({ name: 'beta', version: '0.1.0', deps: [['alpha', '>= 1.0', '< 2']] }),
      makeGem({ name: 'beta', version: '0.2.0.rc1', deps: [['alpha', '~> 1.1']] }),
      makeGem({ name: 'gamma', version: '1.0.0' }),
      makeGem({ name: 'gamma', version: '1.0.0', platform: 'x86_64-linux' }),
    ];
    for (const g of gems) await ok(push(h, g), 'push');
    await ok(yank(h, 'gem_name=beta&version=0.1.0'), 'yank beta');
    await ok(yank(h, 'gem_name=alpha&version=1.1.0&platform=java'), 'yank alpha java');
    await h.services.gems.rebuildVersionsList();
    // Log rows after the base: pushes, a yank, and an unyank.
    await ok(push(h, makeGem({ name: 'delta', version: '3.0.0' })), 'push delta');
    await ok(push(h, makeGem({ name: 'alpha', version: '1.2.0.pre' })), 'push alpha pre');
    await ok(yank(h, 'gem_name=gamma&version=1.0.0'), 'yank gamma');
    assert.match(await h.services.gems.unyank('beta', '0.1.0', undefined), /beta/);
    const base = await h.services.catalog.versionsBase();
    assert.ok(base && (await h.services.catalog.versionsLogSince(base.baseSeq)).length === 4);
    await h.services.catalog.recordMirrorMark(MARK);
  });

  after(async () => {
    for (const n of extraNodes) await n.close();
    await sqliteNode?.close();
    await pg?.stop();
  });

  /** A node on the PostgreSQL catalog at url, sharing the SQLite node's blobs. */
  const pgNode = async (url: string): Promise<Harness> => {
    const n = await startHarness({ catalog: url, storage: join(sqliteNode.dir, 'blobs') });
    extraNodes.push(n);
    return n;
  };

  it('copies into an empty database; a node on the copy serves the same bytes and takes pushes', async () => {
    const url = await pg.createDatabase();
    const r = runQuarry(['catalog', 'copy', '--data', sqliteNode.dir, '--to', url], {
      env: { QUARRY_CATALOG: undefined, QUARRY_CONFIG: undefined },
    });
    assert.equal(r.status, 0, r.stderr);
    // Three keys from the harness; nine versions, two of them yanked; 9 pushes + 3 yanks + 1 unyank.
    assert.match(r.stdout, /^ {2}gems {10}4$/m);
    assert.match(r.stdout, /^ {2}versions {6}9 \(2 yanked\)$/m);
    assert.match(r.stdout, /^ {2}versions log {2}13$/m);
    assert.match(r.stdout, /^ {2}api keys {6}3$/m);
    assert.match(r.stdout, /^ {2}mirror marks {2}1$/m);

    const node = await pgNode(url);
    const paths = [...READS, ...NAMES.map((n) => `/api/v1/versions/${n}.json`)];
    const want = await snapshot(sqliteNode, paths);
    const got = await snapshot(node, paths);
    for (const p of paths) {
      assert.equal(want[p]!.status, 200, `${p} on the SQLite node`);
      assert.deepEqual(got[p], want[p], `${p} differs between the SQLite node and the PostgreSQL node`);
    }
    // The base (rebuilt after the first yanks), then the log rows written after it.
    const lines = Buffer.from(got['/versions']!.body, 'base64')
      .toString()
      .split('\n')
      .map((l) => l.replace(/ [0-9a-f]{32}$/, ' MD5'));
    assert.deepEqual(lines, [
      'created_at: 2024-01-01T00:00:00Z',
      '---',
      'alpha 1.0.0,1.1.0 MD5',
      'beta 0.2.0.rc1 MD5',
      'gamma 1.0.0,1.0.0-x86_64-linux MD5',
      'delta 3.0.0 MD5',
      'alpha 1.2.0.pre MD5',
      'gamma -1.0.0 MD5',
      'beta 0.1.0 MD5',
      '',
    ]);

    // A key made on the SQLite node works on the copy; new rows continue after the copied ids.
    const before = await node.services.catalog.versionsBase();
    const lastSeq = (await node.services.catalog.versionsLogSince(0)).at(-1)!.seq;
    await ok(push(node, makeGem({ name: 'epsilon', version: '0.0.1' }), sqliteNode.pushKey), 'push to copy');
    await ok(push(node, makeGem({ name: 'alpha', version: '2.0.0' }), sqliteNode.pushKey), 'push to copy');
    await ok(yank(node, 'gem_name=delta&version=3.0.0', sqliteNode.yankKey), 'yank on copy');
    const log = await node.services.catalog.versionsLogSince(lastSeq);
    assert.deepEqual(
      log.map((l) => [l.seq, l.name, l.tokens]),
      [
        [lastSeq + 1, 'epsilon', '0.0.1'],
        [lastSeq + 2, 'alpha', '2.0.0'],
        [lastSeq + 3, 'delta', '-3.0.0'],
      ],
    );
    assert.deepEqual(await node.services.catalog.versionsBase(), before);
    const versions = (await node.app.inject({ url: '/versions' })).body;
    assert.ok(versions.startsWith(Buffer.from(want['/versions']!.body, 'base64').toString()));
    assert.match(versions, /^epsilon 0\.0\.1 [0-9a-f]{32}\n/m);
    const ids = (await node.services.catalog.allVersions('alpha')).map((v) => v.id);
    assert.equal(ids[0], Math.max(...ids));
    assert.ok(ids[0]! > 9, `new version id ${ids[0]} reuses a copied id`);
    // The harness made three more keys on the copy: ids 4, 5, 6.
    assert.deepEqual(
      (await node.services.keys.list()).map((k) => k.id),
      [1, 2, 3, 4, 5, 6],
    );
  });

  it('copies in batches the same rows copyCatalog counts', async () => {
    const url = await pg.createDatabase();
    const now = () => new Date('2024-01-01T00:00:00Z');
    const target = await openCatalog(url, now, {});
    const seen: string[] = [];
    try {
      const counts = await copyCatalog(sqliteNode.services.catalog as KyselyCatalog, target, {
        batchSize: 2,
        onProgress: (table, n) => seen.push(`${table}:${n}`),
      });
      assert.deepEqual(counts, {
        gems: 4,
        versions: 9,
        yanked: 2,
        versionsLog: 13,
        apiKeys: 3,
        mirrorMarks: 1,
        meta: 5,
      });
      assert.deepEqual(
        seen.filter((s) => s.startsWith('versions:')),
        ['versions:2', 'versions:4', 'versions:6', 'versions:8', 'versions:9'],
      );
      const src = sqliteNode.services.catalog;
      assert.deepEqual(await target.versionsBase(), await src.versionsBase());
      assert.deepEqual(await target.versionsLogSince(0), await src.versionsLogSince(0));
      assert.deepEqual(await target.state(), await src.state());
      for (const n of NAMES) assert.deepEqual(await target.allVersions(n), await src.allVersions(n));
      assert.deepEqual(await target.listKeys(), await src.listKeys());
      // A mark of a complete mirror describes the catalog's contents: it moves with them.
      assert.deepEqual(await target.mirrorMark(MARK.upstream, MARK.plan), MARK);
    } finally {
      await target.close();
    }
  });

  it('refuses a target that has versions or keys, and changes nothing', async () => {
    const url = await pg.createDatabase();
    const now = () => new Date('2024-01-01T00:00:00Z');
    const used = await openCatalog(url, now, {});
    try {
      await used.recordMirrorMark(MARK);
      await used.createKey({
        name: 'k',
        prefix: 'abc',
        hash: 'h'.repeat(64),
        scopes: ['push'],
        gemPattern: null,
        expiresAt: null,
        createdAt: '2024-01-01T00:00:00Z',
      });
    } finally {
      await used.close();
    }
    const r = runQuarry(['catalog', 'copy', '--data', sqliteNode.dir, '--to', url], {
      env: { QUARRY_CATALOG: undefined, QUARRY_CONFIG: undefined },
    });
    assert.equal(r.status, 1, r.stdout);
    assert.match(
      r.stderr,
      /^quarry: the catalog at postgres:\/\/.* is not empty \(1 API key, 1 mirror mark\); copy only into an empty database/,
    );
    const again = await openCatalog(url, now, {});
    try {
      assert.equal((await again.listKeys()).length, 1);
      assert.equal(await again.versionsBase(), null);
    } finally {
      await again.close();
    }

    const wrong = runQuarry(['catalog', 'copy', '--data', sqliteNode.dir, '--to', 'sqlite:/tmp/x.sqlite3']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /--to must be a postgres:\/\/ URL/);
  });
});
