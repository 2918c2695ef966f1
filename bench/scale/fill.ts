/**
 * Fills a catalog with the synthetic plan by bulk SQL straight into the tables (no pushes, no
 * .gem files): gems with their /info MD5 (computed by the catalog's own derive.ts), versions with
 * the spec JSON the catalog stores, then catalog.rebuildVersionsList() for the /versions base.
 *
 * SQLite is filled from the plan (journal off, big transactions) and cached; PostgreSQL is filled
 * from that SQLite file with multi-row INSERT ... SELECT FROM unnest($1::int[], ...) in batches.
 * Every version points at one of a few small, real .gem blobs (content-addressed, shared).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { gemBlobKey } from '../../src/blobs/keys.ts';
import { infoMd5For } from '../../src/catalog/derive.ts';
import { fullNameOf } from '../../src/catalog/index-reads.ts';
import type { Catalog, VersionRecord } from '../../src/catalog/types.ts';
import { normalizePlatform } from '../../src/gem/platform.ts';
import { canonicalVersion } from '../../src/gem/version.ts';
import { makeGem } from '../../test/support/make-gem.ts';
import type { Plan } from './synth.ts';
import { iso, mix, profile, spec } from './synth.ts';

export interface Blob {
  sha256: string;
  bytes: Buffer;
}

/** A few small real .gem files; every version refers to one of them. */
export function makeBlobs(count: number): Blob[] {
  return Array.from({ length: count }, (_, i) => {
    const bytes = makeGem({ name: `scale-blob-${i}`, version: '1.0.0' });
    return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
  });
}

/** Writes the blobs where the default fs blob store looks: DATA/blobs/<gemBlobKey>. */
export function writeBlobs(dataDir: string, blobs: readonly Blob[]): void {
  for (const b of blobs) {
    const path = join(dataDir, 'blobs', gemBlobKey(b.sha256));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, b.bytes);
  }
}

/** Opens a catalog by URL with the migrations of the Quarry being measured (see quarry.ts). */
export type OpenCatalog = (url: string) => Promise<Catalog>;

/** The fixed created_at of the filled catalog's /versions base (a rebuild later uses the clock). */
export const BASE_CREATED_AT = new Date(Date.UTC(2026, 0, 1));

const say = (msg: string): boolean => process.stderr.write(`bench:scale: ${msg}\n`);

/** Fills a new SQLite catalog file from the plan. Returns the seconds each step took. */
export async function fillSqlite(
  file: string,
  p: Plan,
  blobs: readonly Blob[],
  open: OpenCatalog,
): Promise<{ insertS: number; versionsBaseS: number }> {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  const t0 = performance.now();
  // The schema, by the catalog's own migrations.
  await (await open(`sqlite:${file}`)).close();
  const db = new Sqlite(file);
  db.pragma('journal_mode = DELETE');
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1000000');
  db.pragma('temp_store = MEMORY');
  const insGem = db.prepare(
    'insert into gems (id, name, name_lower, created_at, info_md5) values (?, ?, ?, ?, ?)',
  );
  const insVersion = db.prepare(
    `insert into versions (id, gem_id, number, platform, gem_platform, canonical, full_name, original_full_name,
       prerelease, sha256, size, spec, created_at, yanked_at, pushed_by)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)`,
  );
  const blobOf = (g: number, k: number) => blobs[mix(g, k) % blobs.length]!;
  const profiles = new Array<ReturnType<typeof profile>>(p.gems.length);

  // Pass 1, gem by gem: the gem row with the MD5 of its /info body (live versions, publication order).
  const gems = db.transaction((from: number, to: number) => {
    for (let g = from; g < to; g++) {
      const gem = p.gems[g]!;
      const prof = profile(p, g);
      profiles[g] = prof;
      const live: VersionRecord[] = [];
      for (let i = gem.first; i < gem.first + gem.count; i++) {
        const v = p.versions[i]!;
        if (v.yanked) continue;
        live.push({ spec: spec(p, prof, v), sha256: blobOf(g, v.k).sha256 } as VersionRecord);
      }
      const first = p.versions[gem.first]!;
      insGem.run(gem.id, gem.name, gem.name.toLowerCase(), iso(first.t), infoMd5For(live, {}));
    }
  });
  for (let g = 0; g < p.gems.length; g += 20_000) {
    gems(g, Math.min(p.gems.length, g + 20_000));
    say(`sqlite fill: ${Math.min(p.gems.length, g + 20_000).toLocaleString('en-US')} gems`);
  }

  // Pass 2, in publication order across all gems: version ids follow time, as on a real server.
  const versions = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const v = p.versions[p.order[i]!]!;
      const gem = p.gems[v.gem]!;
      const b = blobOf(v.gem, v.k);
      const gemPlatform = normalizePlatform(v.platform);
      const at = iso(v.t);
      insVersion.run(
        i + 1,
        gem.id,
        v.number,
        v.platform,
        gemPlatform,
        canonicalVersion(v.number),
        fullNameOf(gem.name, v.number, gemPlatform),
        fullNameOf(gem.name, v.number, v.platform),
        v.prerelease ? 1 : 0,
        b.sha256,
        b.bytes.length,
        JSON.stringify(spec(p, profiles[v.gem]!, v)),
        at,
        v.yanked ? iso(v.t + 86_400 * 30) : null,
      );
    }
  });
  for (let i = 0; i < p.order.length; i += 100_000) {
    versions(i, Math.min(p.order.length, i + 100_000));
    say(`sqlite fill: ${Math.min(p.order.length, i + 100_000).toLocaleString('en-US')} versions`);
  }
  db.pragma('journal_mode = WAL');
  db.close();
  const insertS = (performance.now() - t0) / 1000;

  const t1 = performance.now();
  const catalog = await open(`sqlite:${file}`);
  await catalog.rebuildVersionsList(BASE_CREATED_AT);
  await catalog.close();
  return { insertS, versionsBaseS: (performance.now() - t1) / 1000 };
}

/**
 * The tables a filled catalog holds data in, copied column for column (whatever columns both
 * databases have, so later migrations' columns come along: a read model's summaries, say).
 */
const TABLES: { name: string; order: string; batch: number; serial: boolean }[] = [
  { name: 'gems', order: 'id', batch: 20_000, serial: true },
  { name: 'versions', order: 'id', batch: 10_000, serial: true },
  { name: 'dependencies', order: 'version_id', batch: 50_000, serial: false },
];

async function sharedColumns(pool: pg.Pool, src: Sqlite.Database, table: string): Promise<string[]> {
  const theirs = new Set(
    (
      await pool.query<{ column_name: string }>(
        'select column_name from information_schema.columns where table_name = $1',
        [table],
      )
    ).rows.map((r) => r.column_name),
  );
  const ours = (src.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
  return ours.filter((c) => theirs.has(c));
}

/**
 * Copies a table in batches: each batch is one `INSERT ... SELECT FROM json_populate_recordset`
 * with the rows as one JSON parameter (PostgreSQL parses JSON far faster than text arrays).
 */
async function copyTable(pool: pg.Pool, src: Sqlite.Database, t: (typeof TABLES)[number]): Promise<number> {
  const table = t.name;
  const batch = t.batch;
  const cols = await sharedColumns(pool, src, table);
  if (cols.length === 0) return 0;
  const list = cols.join(', ');
  const sqlText = `insert into ${table} (${list}) select ${list} from json_populate_recordset(null::${table}, $1::json)`;
  const stmt = src.prepare(`select ${list} from ${table} order by ${t.order}`);
  let rows: unknown[] = [];
  let n = 0;
  let inFlight: Promise<unknown> | null = null;
  const flush = async () => {
    const body = JSON.stringify(rows);
    rows = [];
    // One batch in flight while the next is read from SQLite.
    if (inFlight) await inFlight;
    inFlight = pool.query(sqlText, [body]);
  };
  for (const row of stmt.iterate()) {
    rows.push(row);
    if (++n % batch === 0) {
      await flush();
      if (n % (batch * 10) === 0) say(`postgres fill: ${table} ${n.toLocaleString('en-US')}`);
    }
  }
  if (rows.length > 0) await flush();
  if (inFlight) await inFlight;
  if (t.serial)
    await pool.query(
      `select setval(pg_get_serial_sequence('${table}', 'id'), (select max(id) from ${table}))`,
    );
  return n;
}

/** Fills an empty PostgreSQL database from a filled SQLite catalog file. */
export async function fillPostgres(
  url: string,
  sqliteFile: string,
  open: OpenCatalog,
): Promise<{ insertS: number; versionsBaseS: number }> {
  const t0 = performance.now();
  // The schema, by the catalog's own migrations.
  await (await open(url)).close();
  const src = new Sqlite(sqliteFile, { readonly: true });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const have = new Set(
      (src.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map(
        (r) => r.name,
      ),
    );
    for (const t of TABLES) if (have.has(t.name)) await copyTable(pool, src, t);
    // As autovacuum would have by now on a live server: statistics, and the visibility map that
    // lets index-only scans skip the table.
    await pool.query('vacuum analyze');
  } finally {
    src.close();
    await pool.end();
  }
  const insertS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const catalog = await open(url);
  await catalog.rebuildVersionsList(BASE_CREATED_AT);
  await catalog.close();
  return { insertS, versionsBaseS: (performance.now() - t1) / 1000 };
}
