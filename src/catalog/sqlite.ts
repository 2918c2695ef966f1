/** The embedded default: SQLite through better-sqlite3, WAL mode, one file in the data directory. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyCatalog } from './kysely-catalog.ts';
import { migrate } from './migrations.ts';
import type { Database } from './schema.ts';

export async function openSqliteCatalog(file: string, now: () => Date): Promise<KyselyCatalog> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Sqlite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db, 'sqlite', now);
  return new KyselyCatalog(db);
}
