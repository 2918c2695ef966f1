/**
 * PostgreSQL, for many stateless nodes: the same kysely queries as SQLite, through pg.
 *
 * Locks are transaction-scoped advisory locks in one namespace: (NS, hashtext(lower(name))) per gem,
 * and (NS, 0) for the /versions log and for whole-catalog writes (migrations, rebuilds). A write
 * takes its gem's lock first and the log lock last, just before appending its log row, and holds
 * both until commit: log rows therefore commit in sequence order, and a node that has read row N
 * never later finds a committed row below N. A gem whose hash is 0 shares the log lock, which is
 * harmless: advisory locks are re-entrant within a transaction.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { QuarryError } from '../errors.ts';
import type { InfoOptions } from '../index/compact.ts';
import type { WriteDialect } from './kysely-catalog.ts';
import { KyselyCatalog } from './kysely-catalog.ts';
import { migrate } from './migrations.ts';
import type { Database } from './schema.ts';

/** 'QRRY' as a 31-bit number: the advisory lock namespace. */
const LOCK_NS = 0x51525259;

export const postgresWrites: WriteDialect = {
  name: 'postgres',
  write(db, key, fn) {
    return db.transaction().execute(async (trx) => {
      if (key === null) await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NS)}, 0)`.execute(trx);
      else await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NS)}, hashtext(${key}))`.execute(trx);
      return fn(trx);
    });
  },
  async lockLog(trx) {
    await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NS)}, 0)`.execute(trx);
  },
  isUniqueViolation: (e) => (e as { code?: unknown })?.code === '23505',
  byteOrder: (column) => sql.raw(`${column} collate "C"`),
};

/** The URL with its password replaced by ***, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

export async function openPostgresCatalog(
  url: string,
  now: () => Date,
  info: InfoOptions = {},
  options: { poolSize?: number } = {},
): Promise<KyselyCatalog> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrate(db, postgresWrites, now, `the catalog at ${redactUrl(url)}`);
  } catch (e) {
    await db.destroy().catch(() => {});
    if (e instanceof QuarryError) throw e;
    throw new QuarryError('config', `cannot open the catalog at ${redactUrl(url)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return new KyselyCatalog(db, postgresWrites, { info, now });
}
