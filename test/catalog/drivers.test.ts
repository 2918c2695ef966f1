/**
 * The catalog conformance suite against every driver: SQLite in memory, a SQLite file that worker
 * processes open too, and PostgreSQL (a throwaway server; each case gets a fresh database whose
 * default collation is ICU's, so anything that sorts by collation instead of bytes shows).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import pg from 'pg';
import type { PgServer } from '../support/postgres.ts';
import { startPostgres } from '../support/postgres.ts';
import { catalogConformance } from './conformance.ts';

catalogConformance('sqlite in memory', {
  shared: false,
  locate: async () => ({ url: 'sqlite::memory:', cleanup: async () => {} }),
});

catalogConformance('sqlite file shared by processes', {
  shared: true,
  locate: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quarry-catalog-'));
    return {
      url: `sqlite:${join(dir, 'catalog.db')}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

let server: Promise<PgServer> | undefined;
after(async () => {
  await (await server)?.stop();
});
let databases = 0;

catalogConformance('postgresql', { shared: true, locate: createDatabase });

async function createDatabase() {
  server ??= startPostgres();
  const s = await server;
  const name = `catalog_${++databases}`;
  const admin = new pg.Client({ connectionString: s.url, ssl: false });
  await admin.connect();
  try {
    // A collation that sorts 'alpha' before 'Zeta' and '_' before '-': only `collate "C"` gives bytes.
    await admin.query(
      `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'und'`,
    );
  } finally {
    await admin.end();
  }
  return { url: s.url.replace(/\/postgres$/, `/${name}`), cleanup: async () => {} };
}
