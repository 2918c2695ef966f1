/**
 * Numbered, append-only migrations. Never edit a released one: add the next number.
 * Written with kysely's schema builder so one list serves SQLite and PostgreSQL.
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { QuarryError } from '../errors.ts';
import type { GemSpec } from '../gem/spec.ts';
import { storedInfoLine } from './derive.ts';
import type { WriteDialect } from './kysely-catalog.ts';
import type { Database } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  version: number;
  name: string;
  up(db: Kysely<Database>, dialect: Dialect): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: the schema builder is untyped by design
type AnyDb = Kysely<any>;

const idType = (d: Dialect) => (d === 'postgres' ? 'serial' : 'integer');

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    async up(db0, d) {
      const db = db0 as AnyDb;
      await db.schema
        .createTable('gems')
        .addColumn('id', idType(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('name_lower', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('versions')
        .addColumn('id', idType(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('gem_id', 'integer', (c) => c.notNull().references('gems.id'))
        .addColumn('number', 'text', (c) => c.notNull())
        .addColumn('platform', 'text', (c) => c.notNull())
        .addColumn('gem_platform', 'text', (c) => c.notNull())
        .addColumn('canonical', 'text', (c) => c.notNull())
        .addColumn('full_name', 'text', (c) => c.notNull())
        .addColumn('original_full_name', 'text', (c) => c.notNull())
        .addColumn('prerelease', 'integer', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('yanked_at', 'text')
        .addColumn('pushed_by', 'integer')
        .addUniqueConstraint('versions_identity', ['gem_id', 'number', 'platform'])
        .addUniqueConstraint('versions_canonical', ['gem_id', 'canonical', 'platform'])
        .execute();
      await db.schema.createIndex('versions_full_name').on('versions').column('full_name').execute();
      await db.schema
        .createIndex('versions_original_full_name')
        .on('versions')
        .column('original_full_name')
        .execute();
      await db.schema
        .createTable('versions_log')
        .addColumn('seq', idType(d), (c) =>
          d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
        )
        .addColumn('gem_name', 'text', (c) => c.notNull())
        .addColumn('tokens', 'text', (c) => c.notNull())
        .addColumn('info_md5', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', idType(d), (c) => (d === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('gem_pattern', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .addColumn('last_used_at', 'text')
        .execute();
    },
  },
  {
    version: 2,
    name: 'gems.info_md5',
    async up(db0) {
      const db = db0 as AnyDb;
      await db.schema.alterTable('gems').addColumn('info_md5', 'text').execute();
    },
  },
  {
    version: 3,
    name: 'versions_live index',
    async up(db0) {
      const db = db0 as AnyDb;
      // Live versions by gem in publication order, with what the /versions base, the legacy lists
      // and liveNames read: those scans read this index alone instead of every row with its spec
      // JSON (1.3 million rows, about 2 GB, at rubygems.org's size); liveVersions(name) needs no sort.
      // yanked_at (always null here) is a column too: SQLite counts an index as covering only when
      // it holds every column the query names, the partial index's own WHERE included.
      await db.schema
        .createIndex('versions_live')
        .on('versions')
        .columns(['gem_id', 'id', 'number', 'platform', 'yanked_at'])
        .where(sql.ref('yanked_at'), 'is', null)
        .execute();
    },
  },
  {
    version: 4,
    name: 'cached_gems',
    async up(db0) {
      const db = db0 as AnyDb;
      // .gem files fetched from upstreams (the caching proxy), verified against the upstream's
      // /info checksum; the bytes are the content-addressed blob of sha256.
      await db.schema
        .createTable('cached_gems')
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('file', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('fetched_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('cached_gems_pk', ['upstream', 'file'])
        .execute();
    },
  },
  {
    version: 5,
    name: 'versions.origin',
    async up(db0) {
      const db = db0 as AnyDb;
      // Mirrored (mirror:UPSTREAM) and imported versions are marked; pushed ones stay null.
      await db.schema.alterTable('versions').addColumn('origin', 'text').execute();
    },
  },
  {
    version: 6,
    name: 'read model (web UI): gems.summary, dependencies, versions.downloads',
    async up(db0, d) {
      const db = db0 as AnyDb;
      // The summary of each gem's newest push, searched by the web UI and /api/v1/search.json.
      await db.schema
        .alterTable('gems')
        .addColumn('summary', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
      const summary =
        d === 'postgres' ? sql`(v.spec::json->>'summary')` : sql`json_extract(v.spec, '$.summary')`;
      await sql`UPDATE gems SET summary = COALESCE((SELECT ${summary} FROM versions v WHERE v.gem_id = gems.id ORDER BY v.id DESC LIMIT 1), '')`.execute(
        db,
      );
      // One row per dependency of each version: reverse dependencies by the name's index.
      await db.schema
        .createTable('dependencies')
        .addColumn('version_id', 'integer', (c) => c.notNull())
        .addColumn('gem_id', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('dependencies_name')
        .on('dependencies')
        .columns(['name', 'gem_id'])
        .execute();
      await db.schema.createIndex('dependencies_version').on('dependencies').column('version_id').execute();
      await (d === 'postgres'
        ? sql`INSERT INTO dependencies (version_id, gem_id, name, type)
              SELECT v.id, v.gem_id, e->>'name', e->>'type'
              FROM versions v, json_array_elements(v.spec::json->'dependencies') e`
        : sql`INSERT INTO dependencies (version_id, gem_id, name, type)
              SELECT v.id, v.gem_id, json_extract(e.value, '$.name'), json_extract(e.value, '$.type')
              FROM versions v, json_each(v.spec, '$.dependencies') e`
      ).execute(db);
      // Downloads per version, added up in memory and written in batches (never one write per request).
      await db.schema
        .alterTable('versions')
        .addColumn('downloads', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  {
    version: 7,
    name: 'versions_origin index (web UI counts)',
    async up(db0) {
      const db = db0 as AnyDb;
      // Live versions that came from elsewhere (mirrored, imported), by origin and gem: the home
      // page counts mirrored gems from this index alone, without reading every version row.
      // Partial on both conditions, and both columns in it, so SQLite takes it as covering.
      await db.schema
        .createIndex('versions_origin')
        .on('versions')
        .columns(['origin', 'gem_id', 'yanked_at'])
        .where((eb) => eb.and([eb('yanked_at', 'is', null), eb('origin', 'is not', null)]))
        .execute();
    },
  },
  {
    version: 8,
    name: "versions.info_line (each version's /info line)",
    async up(db0, d) {
      const db = db0 as AnyDb;
      // A push, yank or cold /info puts the gem's /info body together from these lines instead of
      // parsing every version's spec (thousands for a long-lived gem). Filled here a page at a time,
      // each page in one UPDATE over a JSON list of {id, line}.
      await db.schema.alterTable('versions').addColumn('info_line', 'text').execute();
      const update = (batch: string) =>
        d === 'postgres'
          ? sql`UPDATE versions SET info_line = x.line
                FROM json_to_recordset(${batch}::json) AS x(id bigint, line text) WHERE versions.id = x.id`
          : sql`UPDATE versions SET info_line = json_extract(e.value, '$.line')
                FROM json_each(${batch}) AS e WHERE versions.id = json_extract(e.value, '$.id')`;
      for (let after = 0; ; ) {
        const rows = (await db
          .selectFrom('versions')
          .select(['id', 'spec', 'sha256'])
          .where('id', '>', after)
          .orderBy('id')
          .limit(2000)
          .execute()) as { id: number; spec: string; sha256: string }[];
        if (rows.length === 0) break;
        const lines = rows.map((r) => ({
          id: Number(r.id),
          line: storedInfoLine(JSON.parse(r.spec) as GemSpec, r.sha256),
        }));
        await update(JSON.stringify(lines)).execute(db);
        after = Number(rows[rows.length - 1]!.id);
      }
    },
  },
  {
    version: 9,
    name: 'mirror_marks',
    async up(db0) {
      const db = db0 as AnyDb;
      // Where the last complete `quarry mirror --all` of an upstream, with one plan, stood in the
      // upstream's /versions (its size and the SHA-256 of those bytes) and in this catalog's
      // /versions log: a later run resolves only the names on lines after it.
      await db.schema
        .createTable('mirror_marks')
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull())
        .addColumn('versions_size', 'bigint', (c) => c.notNull())
        .addColumn('versions_sha256', 'text', (c) => c.notNull())
        .addColumn('local_seq', 'bigint', (c) => c.notNull())
        .addColumn('recorded_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('mirror_marks_pk', ['upstream', 'plan'])
        .execute();
    },
  },
];

/**
 * Applies every migration newer than the database, all in one write transaction under the global
 * write lock, so that processes and nodes starting together apply each migration once.
 * Fails when the database was migrated by a newer Quarry.
 */
export async function migrate(
  db: Kysely<Database>,
  writes: Pick<WriteDialect, 'write' | 'name'>,
  now: () => Date,
  where = 'the catalog',
): Promise<number> {
  return writes.write(db, null, async (trx) => {
    await (trx as AnyDb).schema
      .createTable('schema_migrations')
      .ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', 'text', (c) => c.notNull())
      .execute();
    const done = new Set(
      (await trx.selectFrom('schema_migrations').select('version').execute()).map((r) => Number(r.version)),
    );
    const newest = Math.max(0, ...done);
    const known = Math.max(...migrations.map((m) => m.version));
    if (newest > known) {
      throw new QuarryError(
        'config',
        `${where} was migrated by a newer Quarry (schema ${newest}; this one knows up to ${known})`,
      );
    }
    let applied = 0;
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await m.up(trx, writes.name);
      await trx
        .insertInto('schema_migrations')
        .values({ version: m.version, name: m.name, applied_at: now().toISOString() })
        .execute();
      applied++;
    }
    return applied;
  });
}
