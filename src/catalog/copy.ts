/**
 * `quarry catalog copy`: one catalog's rows into another, empty one (the embedded SQLite catalog
 * into PostgreSQL, when a server grows into several nodes).
 *
 * Everything is copied as stored, ids and log sequence numbers included: gems (with their /info
 * MD5), versions with their yank state, the /versions log, the meta rows (the /versions base, its
 * sequence number and created_at, the generation and modified_at) and API keys (hashed). A node on
 * the copy therefore serves byte for byte what a node on the original serves, and clients' cached
 * /versions and /info stay valid.
 *
 * The source is read in one read transaction (a consistent snapshot); the target is written in
 * batches inside one transaction that holds the catalog's global write lock, so a failure leaves
 * it empty and nodes already pointed at it wait rather than write in between. Afterwards
 * PostgreSQL's sequences are moved past the copied ids, so new rows continue after them.
 */
import type { Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import { QuarryError } from '../errors.ts';
import type { KyselyCatalog } from './kysely-catalog.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export interface CopyCounts {
  gems: number;
  versions: number;
  /** Of the versions, how many are yanked. */
  yanked: number;
  versionsLog: number;
  apiKeys: number;
  /** Marks of complete mirrors (mirror_marks). */
  mirrorMarks: number;
  meta: number;
}

export interface CopyOptions {
  /** Rows per INSERT (default 500). */
  batchSize?: number;
  /** Names the target in messages (its URL, password redacted). */
  targetLabel?: string;
  /** Called after each batch with the table and the rows copied into it so far. */
  onProgress?(table: string, rows: number): void;
}

/** Meta rows that hold integers, which a write on PostgreSQL casts to integer. */
const INTEGRAL_META = new Set(['generation', 'versions_base_seq']);

/**
 * SQLite may hold an integer meta value as "7.0" (a bound JS number is a REAL there, and the
 * generation bump adds one); PostgreSQL's cast to integer refuses that, so it is copied as "7".
 */
function integralMeta(row: { key: string; value: string }): { key: string; value: string } {
  if (!INTEGRAL_META.has(row.key)) return row;
  const n = Number(row.value);
  return Number.isSafeInteger(n) ? { key: row.key, value: String(n) } : row;
}

/** Tables holding rows, and the serial column of each. */
const SERIALS = [
  ['gems', 'id'],
  ['versions', 'id'],
  ['versions_log', 'seq'],
  ['api_keys', 'id'],
] as const;

const LABELS = {
  gems: ['gem', 'gems'],
  versions: ['version', 'versions'],
  versions_log: ['/versions log row', '/versions log rows'],
  api_keys: ['API key', 'API keys'],
} as const;

async function count(db: Db, table: (typeof SERIALS)[number][0] | 'mirror_marks'): Promise<number> {
  const r = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** Refuses a target that holds any gem, version, log row, key or mirror mark. */
async function assertEmpty(db: Db, label: string): Promise<void> {
  const found: string[] = [];
  for (const [table] of SERIALS) {
    const n = await count(db, table);
    if (n > 0) found.push(`${n} ${LABELS[table][n === 1 ? 0 : 1]}`);
  }
  const marks = await count(db, 'mirror_marks');
  if (marks > 0) found.push(`${marks} mirror mark${marks === 1 ? '' : 's'}`);
  if (found.length > 0) {
    throw new QuarryError(
      'conflict',
      `${label} is not empty (${found.join(', ')}); copy only into an empty database, nothing was changed`,
    );
  }
}

/**
 * Copies `source` into `target`, which must be empty (it is migrated already: openCatalog does
 * that). Returns how many rows of each kind were copied.
 */
export async function copyCatalog(
  source: KyselyCatalog,
  target: KyselyCatalog,
  options: CopyOptions = {},
): Promise<CopyCounts> {
  const batch = options.batchSize ?? 500;
  const label = options.targetLabel ?? 'the target catalog';
  if (!Number.isInteger(batch) || batch < 1)
    throw new Error(`batch size must be a positive integer: ${batch}`);
  await assertEmpty(target.db, label);

  const read = source.db.transaction();
  const snapshot = source.dialect.name === 'postgres' ? read.setIsolationLevel('repeatable read') : read;
  return snapshot.execute((src) =>
    target.dialect.write(target.db, null, async (dst) => {
      // Again under the lock: another copy, or a node, may have written since the first look.
      await assertEmpty(dst, label);
      const progress = (table: string, n: number) => options.onProgress?.(table, n);

      const gems = await copyPages(src, dst, 'gems', 'id', batch, progress);
      let yanked = 0;
      const versions = await copyPages(src, dst, 'versions', 'id', batch, progress, (rows) => {
        yanked += rows.filter((r) => r['yanked_at'] !== null).length;
        // SQLite hands booleans and big integers back as numbers; PostgreSQL takes them as such.
        return rows.map((r) => ({ ...r, prerelease: Number(r['prerelease']), size: Number(r['size']) }));
      });
      // The read model's dependency rows (migration 6): several per version, in version order.
      await copyPages(src, dst, 'dependencies', 'version_id', batch, () => {});
      const versionsLog = await copyPages(src, dst, 'versions_log', 'seq', batch, progress);
      const apiKeys = await copyPages(src, dst, 'api_keys', 'id', batch, progress);

      // Gems cached from upstreams (the proxy): their blobs are shared, only the list moves.
      const cached = await src
        .selectFrom('cached_gems')
        .selectAll()
        .orderBy('upstream')
        .orderBy('file')
        .execute();
      for (let i = 0; i < cached.length; i += batch) {
        await dst
          .insertInto('cached_gems')
          .values(cached.slice(i, i + batch))
          .execute();
      }
      progress('cached_gems', cached.length);
      // Marks of complete mirrors: they describe the catalog's contents, copied whole.
      const marks = await src
        .selectFrom('mirror_marks')
        .selectAll()
        .orderBy('upstream')
        .orderBy('plan')
        .execute();
      for (let i = 0; i < marks.length; i += batch) {
        await dst
          .insertInto('mirror_marks')
          .values(
            marks
              .slice(i, i + batch)
              .map((m) => ({ ...m, versions_size: Number(m.versions_size), local_seq: Number(m.local_seq) })),
          )
          .execute();
      }
      progress('mirror_marks', marks.length);

      // The /versions base, its seq and created_at, the generation and modified_at: the source's
      // replace whatever a node starting on the empty target may have written.
      const meta = (await src.selectFrom('meta').selectAll().orderBy('key').execute()).map(integralMeta);
      await dst.deleteFrom('meta').execute();
      for (let i = 0; i < meta.length; i += batch) {
        await dst
          .insertInto('meta')
          .values(meta.slice(i, i + batch))
          .execute();
      }
      progress('meta', meta.length);

      if (target.dialect.name === 'postgres') await resetSequences(dst);
      return { gems, versions, yanked, versionsLog, apiKeys, mirrorMarks: marks.length, meta: meta.length };
    }),
  );
}

type Row = Record<string, unknown>;

/**
 * Copies `table` a page of `batch` rows at a time, in `key` order, and returns how many rows it
 * copied. A key that several rows share (a version's dependency rows) never straddles two pages:
 * a page goes on to the last key's every row, so the next one starts after it.
 */
async function copyPages(
  src: Db | Transaction<Database>,
  dst: Db | Transaction<Database>,
  table: 'gems' | 'versions' | 'dependencies' | 'versions_log' | 'api_keys',
  key: 'id' | 'seq' | 'version_id',
  batch: number,
  progress: (table: string, n: number) => void,
  convert: (rows: Row[]) => Row[] = (rows) => rows,
): Promise<number> {
  const shared = key === 'version_id';
  let copied = 0;
  for (let after = 0; ; ) {
    let rows = (await src
      .selectFrom(table)
      .selectAll()
      .where(sql.ref(key), '>', after)
      .orderBy(sql.ref(key))
      .limit(batch)
      .execute()) as Row[];
    if (rows.length === 0) return copied;
    const last = Number(rows[rows.length - 1]![key]);
    if (shared) {
      const rest = (await src
        .selectFrom(table)
        .selectAll()
        .where(sql.ref(key), '=', last)
        .execute()) as Row[];
      rows = [...rows.filter((r) => Number(r[key]) !== last), ...rest];
    }
    await dst
      .insertInto(table)
      .values(convert(rows) as never)
      .execute();
    copied += rows.length;
    after = last;
    progress(table, copied);
  }
}

/** Moves each serial column's sequence past the largest id, so the next insert gets max + 1. */
async function resetSequences(trx: Db | Transaction<Database>): Promise<void> {
  for (const [table, column] of SERIALS) {
    await sql`select setval(pg_get_serial_sequence(${table}, ${column}), coalesce((select max(${sql.ref(column)}) from ${sql.table(table)}), 0) + 1, false)`.execute(
      trx,
    );
  }
}
