/**
 * Stored /info lines (versions.info_line, migration 8): a catalog from before them is filled in by
 * the migration, a version still without a line gets it from its spec, and either way every
 * /versions MD5 is that of the /info body put together from whole specs. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { infoFor, storedInfoLine } from '../../src/catalog/derive.ts';
import type { KyselyCatalog } from '../../src/catalog/kysely-catalog.ts';
import { openCatalog } from '../../src/catalog/open.ts';
import { md5Hex } from '../../src/index/compact.ts';
import type { PgServer } from '../support/postgres.ts';
import { startPostgres } from '../support/postgres.ts';
import { newVersion } from './fixtures.ts';

const now = () => new Date('2024-01-01T00:00:00Z');

/** Pushes 3 gems: plain, one with a platform variant and a prerelease, one with a yanked version. */
async function fill(c: KyselyCatalog): Promise<void> {
  for (const [name, number, platform] of [
    ['rack', '1.0', 'ruby'],
    ['rack', '1.1', 'ruby'],
    ['nokogiri', '1.0', 'ruby'],
    ['nokogiri', '1.0', 'x86_64-linux'],
    ['nokogiri', '2.0.rc1', 'java'],
    ['old', '0.1', 'ruby'],
    ['old', '0.2', 'ruby'],
  ] as const) {
    assert.equal((await c.recordPush(newVersion(name, number, { platform }))).kind, 'created');
  }
  assert.equal((await c.recordYank('old', '0.1', 'ruby', '2024-06-01T00:00:00Z')).kind, 'done');
}

/** Every gem's last /versions MD5 against the MD5 of /info from its whole specs. */
async function assertMd5sMatchSpecs(c: KyselyCatalog, options: { createdAt?: boolean }): Promise<void> {
  const last = new Map<string, string>();
  for (const r of await c.versionsLogSince(0)) last.set(r.name, r.infoMd5);
  assert.deepEqual([...last.keys()].sort(), ['nokogiri', 'old', 'rack']);
  for (const [name, md5] of last)
    assert.equal(md5, md5Hex(infoFor(await c.liveVersions(name), options)), name);
}

async function lines(c: KyselyCatalog): Promise<{ line: string | null; spec: string; sha256: string }[]> {
  return c.db.selectFrom('versions').select(['info_line as line', 'spec', 'sha256']).orderBy('id').execute();
}

function suite(label: string, url: () => Promise<string>): void {
  describe(`stored /info lines: ${label}`, () => {
    for (const createdAt of [false, true]) {
      it(`are filled in by migration 8 and equal the spec's line (created_at ${createdAt ? 'on' : 'off'})`, async () => {
        const where = await url();
        let c = await openCatalog(where, now, { createdAt });
        await fill(c);
        // Back to the schema before migration 8: no column, not applied.
        await sql`alter table versions drop column info_line`.execute(c.db);
        await sql`delete from schema_migrations where version = 8`.execute(c.db);
        await c.close();
        c = await openCatalog(where, now, { createdAt });
        try {
          const rows = await lines(c);
          assert.equal(rows.length, 7);
          for (const r of rows) assert.equal(r.line, storedInfoLine(JSON.parse(r.spec), r.sha256));
          assert.ok(rows.every((r) => r.line && !r.line.includes('created_at')));
          // Writes after the migration log MD5s of /info as whole specs give it.
          assert.equal((await c.recordPush(newVersion('rack', '2.0'))).kind, 'created');
          assert.equal(
            (await c.recordYank('nokogiri', '1.0', 'x86_64-linux', '2024-06-02T00:00:00Z')).kind,
            'done',
          );
          assert.equal((await c.recordUnyank('old', '0.1', 'ruby')).kind, 'done');
          await assertMd5sMatchSpecs(c, { createdAt });
        } finally {
          await c.close();
        }
      });
    }

    it('gives a version without a stored line its line from the spec', async () => {
      const c = await openCatalog(await url(), now, {});
      try {
        await fill(c);
        await sql`update versions set info_line = null`.execute(c.db);
        assert.equal((await c.recordPush(newVersion('rack', '3.0'))).kind, 'created');
        assert.equal((await c.recordPush(newVersion('old', '0.3'))).kind, 'created');
        assert.equal(
          (await c.recordYank('nokogiri', '2.0.rc1', 'java', '2024-06-02T00:00:00Z')).kind,
          'done',
        );
        await assertMd5sMatchSpecs(c, {});
      } finally {
        await c.close();
      }
    });
  });
}

let dir: string;
let server: PgServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'quarry-lines-'));
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
suite('sqlite', async () => `sqlite:${join(dir, `c${n++}.sqlite3`)}`);
suite('postgresql', () => server.createDatabase());
