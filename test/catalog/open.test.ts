/** Opening a catalog: clear errors for an unreachable database and a newer schema, the URL's password hidden. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openCatalog, parseCatalogUrl } from '../../src/catalog/open.ts';
import { QuarryError } from '../../src/errors.ts';
import type { PgServer } from '../support/postgres.ts';
import { startPostgres } from '../support/postgres.ts';

const now = () => new Date('2024-01-01T00:00:00Z');

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('catalog URLs', () => {
  it('parses sqlite:PATH, plain paths and postgres:// URLs, and names what it refuses', () => {
    assert.deepEqual(parseCatalogUrl('sqlite:/var/q/c.sqlite3'), {
      kind: 'sqlite',
      file: '/var/q/c.sqlite3',
    });
    assert.deepEqual(parseCatalogUrl('sqlite:rel/c.db'), { kind: 'sqlite', file: 'rel/c.db' });
    assert.deepEqual(parseCatalogUrl('c.db'), { kind: 'sqlite', file: 'c.db' });
    assert.equal(parseCatalogUrl('postgres://u@h:5432/d').kind, 'postgres');
    assert.equal(parseCatalogUrl('postgresql://u@h/d').kind, 'postgres');
    assert.throws(
      () => parseCatalogUrl('mysql://u:secret@h/d'),
      (e: unknown) =>
        e instanceof QuarryError && /mysql:\/\/u:\*\*\*@h\/d/.test(e.message) && !/secret/.test(e.message),
    );
    assert.throws(() => parseCatalogUrl('sqlite:'), /names no file/);
  });

  it('fails with the URL, password hidden, when PostgreSQL is unreachable', async () => {
    const url = `postgres://quarry:s3cret@127.0.0.1:${await closedPort()}/quarry`;
    await assert.rejects(openCatalog(url, now, {}), (e: unknown) => {
      assert.ok(e instanceof QuarryError);
      assert.equal(e.code, 'config');
      assert.match(
        e.message,
        /cannot open the catalog at postgres:\/\/quarry:\*\*\*@127\.0\.0\.1:\d+\/quarry/,
      );
      assert.doesNotMatch(e.message, /s3cret/);
      return true;
    });
  });
});

describe('a catalog migrated by a newer Quarry', () => {
  let server: PgServer;
  let dir: string;
  before(async () => {
    server = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'quarry-open-'));
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused on PostgreSQL, naming the URL and both schema versions', async () => {
    const url = await server.createDatabase();
    await (await openCatalog(url, now, {})).close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("insert into schema_migrations (version, name, applied_at) values (999, 'future', 'x')");
    await c.end();
    await assert.rejects(openCatalog(url, now, {}), (e: unknown) => {
      assert.ok(e instanceof QuarryError);
      assert.equal(e.code, 'config');
      assert.match(e.message, /migrated by a newer Quarry \(schema 999; this one knows up to \d+\)/);
      assert.match(e.message, /127\.0\.0\.1/);
      return true;
    });
  });

  it('is refused on SQLite, naming the file', async () => {
    const file = join(dir, 'c.sqlite3');
    const cat = await openCatalog(`sqlite:${file}`, now, {});
    const { sql } = await import('kysely');
    await sql`insert into schema_migrations (version, name, applied_at) values (999, 'future', 'x')`.execute(
      cat.db,
    );
    await cat.close();
    await assert.rejects(openCatalog(`sqlite:${file}`, now, {}), new RegExp(`${file}.*newer Quarry`));
  });
});
