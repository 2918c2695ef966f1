/**
 * PostgreSQL, for many stateless nodes: the same kysely queries as SQLite, through pg.
 *
 * Locks are transaction-scoped advisory locks in one namespace: (NS, hashtext(lower(name))) per gem,
 * and (NS, 0) for the /versions log and for whole-catalog writes (migrations, rebuilds). A write
 * takes its gem's lock first and the log lock last, just before appending its log row, and holds
 * both until commit: log rows therefore commit in sequence order, and a node that has read row N
 * never later finds a committed row below N. A gem whose hash is 0 shares the log lock, which is
 * harmless: advisory locks are re-entrant within a transaction.
 *
 * Every write transaction also sends NOTIFY on CHANNEL (delivered at commit, dropped on rollback),
 * with the writing catalog's token as payload; subscribe() LISTENs on a connection of its own and
 * tells a node's caches about other processes' writes at once instead of at their next poll.
 */
import { randomUUID } from 'node:crypto';
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
/** The LISTEN/NOTIFY channel of catalog changes. */
const CHANNEL = 'quarry_catalog';
/** How long the listener waits before it connects again after losing its connection. */
const RELISTEN_MS = 1_000;

/**
 * Takes the advisory locks of several gems in one order (by lock number, the one shared with the log
 * lock last), so that batches of overlapping gems never wait on each other in a cycle. One
 * statement: the locks are taken as the sorted rows are read.
 */
async function lockGems(trx: Kysely<Database>, keys: readonly string[]): Promise<void> {
  await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NS)}, s.h) from (
      select h from (select distinct hashtext(k) as h from unnest(${[...keys]}::text[]) as k) as d
      order by (h = 0), h
    ) as s`.execute(trx);
}

export const postgresWrites: WriteDialect = {
  name: 'postgres',
  write(db, key, fn) {
    return db.transaction().execute(async (trx) => {
      if (key === null) await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NS)}, 0)`.execute(trx);
      else await sql`select pg_advisory_xact_lock(${sql.lit(LOCK_NS)}, hashtext(${key}))`.execute(trx);
      return fn(trx);
    });
  },
  writeMany(db, keys, fn) {
    return db.transaction().execute(async (trx) => {
      await lockGems(trx, keys);
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

/** postgresWrites, plus a NOTIFY with `token` in every write transaction. */
const notifyingWrites = (token: string): WriteDialect => ({
  ...postgresWrites,
  write: (db, key, fn) =>
    postgresWrites.write(db, key, async (trx) => {
      const r = await fn(trx);
      await sql`select pg_notify(${CHANNEL}, ${token})`.execute(trx);
      return r;
    }),
  writeMany: (db, keys, fn) =>
    postgresWrites.writeMany!(db, keys, async (trx) => {
      const r = await fn(trx);
      await sql`select pg_notify(${CHANNEL}, ${token})`.execute(trx);
      return r;
    }),
});

/**
 * The PostgreSQL catalog: KyselyCatalog plus subscribe(). The listener connects on the first
 * subscription, connects again after losing its connection, and ends with close().
 */
class PostgresCatalog extends KyselyCatalog {
  private readonly listeners = new Set<() => void>();
  private listener: pg.Client | null = null;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    db: Kysely<Database>,
    options: ConstructorParameters<typeof KyselyCatalog>[2],
    private readonly url: string,
    private readonly token: string,
  ) {
    super(db, notifyingWrites(token), options);
  }

  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    if (!this.listener && !this.retry) this.listen();
    return () => {
      this.listeners.delete(onChange);
    };
  }

  private listen(): void {
    this.retry = undefined;
    if (this.closed || this.listeners.size === 0) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000 });
    this.listener = client;
    const lost = () => {
      if (this.listener !== client) return;
      this.listener = null;
      client.end().catch(() => {});
      // Changes made while nobody listened are found by the poll; tell the caches to look now.
      for (const f of this.listeners) f();
      if (!this.closed) this.retry = setTimeout(() => this.listen(), RELISTEN_MS).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || n.payload === this.token) return;
      for (const f of this.listeners) f();
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANNEL}`))
      .catch(lost);
  }

  override async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.listener;
    this.listener = null;
    await Promise.all([client?.end().catch(() => {}), super.close()]);
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
  return new PostgresCatalog(db, { info, now }, url, randomUUID());
}
