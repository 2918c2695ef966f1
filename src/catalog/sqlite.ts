/**
 * The embedded default: SQLite through better-sqlite3, WAL mode, one file in the data directory.
 *
 * Several processes may share the file (`--workers N`, or `quarry yank` while the server runs).
 * Writes start with BEGIN IMMEDIATE, which takes SQLite's one write lock at once and waits for it
 * (busy_timeout) instead of failing with SQLITE_BUSY when a read transaction would have to upgrade.
 * With one writer at a time, the per-gem and log locks are that lock, and log rows commit in order.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { InfoOptions } from '../index/compact.ts';
import type { WriteDialect } from './kysely-catalog.ts';
import { KyselyCatalog } from './kysely-catalog.ts';
import { migrate } from './migrations.ts';
import type { Database } from './schema.ts';

/** How long a writer waits for another process's write lock before failing. */
const BUSY_TIMEOUT_MS = 30_000;

/** Prepared statements kept per connection: the catalog's queries are a few dozen shapes. */
const STATEMENT_CACHE = 256;

/**
 * The database as Kysely's SQLite dialect sees it, preparing each SQL text once. Kysely prepares
 * every query anew (parsing and planning it in SQLite each time: 13% of a cold `/info` and 7% of a
 * mirror's CPU); a statement is reusable, and the dialect runs one query at a time on its one
 * connection, so a cached statement is never busy when it is asked for again. Least recently used
 * texts leave first, so statements built with raw SQL cannot grow it without bound.
 */
export function preparedOnce(sqlite: Sqlite.Database, size = STATEMENT_CACHE) {
  const cache = new Map<string, Sqlite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string): Sqlite.Statement {
      let stmt = cache.get(text);
      if (stmt) {
        cache.delete(text);
      } else {
        stmt = sqlite.prepare(text);
        if (cache.size >= size) cache.delete(cache.keys().next().value as string);
      }
      cache.set(text, stmt);
      return stmt;
    },
  };
}

export const sqliteWrites: WriteDialect = {
  name: 'sqlite',
  write(db, _key, fn) {
    // One connection: holding it keeps this process's other queries out of the transaction.
    return db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const r = await fn(conn);
        await sql`commit`.execute(conn);
        return r;
      } catch (e) {
        await sql`rollback`.execute(conn).catch(() => {});
        throw e;
      }
    });
  },
  async lockLog() {},
  isUniqueViolation: (e) =>
    typeof (e as { code?: unknown })?.code === 'string' &&
    /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test((e as { code: string }).code),
  byteOrder: (column) => sql.raw(column),
};

/**
 * Switches the file to WAL. On a file still in rollback mode that takes an exclusive lock, and SQLite
 * answers SQLITE_BUSY at once instead of calling the busy handler when another process holds the
 * file (processes opening a fresh catalog together): retry until the busy timeout.
 */
async function enableWal(sqlite: Sqlite.Database): Promise<void> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      sqlite.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw e;
    }
    await sleep(5 + Math.random() * 20);
  }
}

export async function openSqliteCatalog(
  file: string,
  now: () => Date,
  info: InfoOptions = {},
): Promise<KyselyCatalog> {
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true });
    // Created 0600: the catalog holds key hashes.
    closeSync(openSync(file, 'a', 0o600));
    chmodSync(file, 0o600);
  }
  const sqlite = new Sqlite(file);
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  try {
    await enableWal(sqlite);
  } catch (e) {
    sqlite.close();
    throw e;
  }
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: preparedOnce(sqlite) }) });
  // Migrations write: take the write lock first, so processes starting together wait in turn.
  await migrate(db, sqliteWrites, now, file);
  return new KyselyCatalog(db, sqliteWrites, { info, now });
}
