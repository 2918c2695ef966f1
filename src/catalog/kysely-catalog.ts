/**
 * The catalog over kysely: one query code path for SQLite (better-sqlite3) and PostgreSQL (pg).
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { GemSpec } from '../gem/spec.ts';
import type { Database, VersionsTable } from './schema.ts';
import type {
  ApiKeyRecord,
  Catalog,
  CatalogTx,
  NewApiKey,
  NewVersion,
  Scope,
  VersionRecord,
  VersionsBase,
  VersionsLogRow,
} from './types.ts';

type Row = Selectable<VersionsTable> & { name: string };
type Db = Kysely<Database> | Transaction<Database>;

const toRecord = (r: Row): VersionRecord => ({
  id: r.id,
  name: r.name,
  number: r.number,
  platform: r.platform,
  gemPlatform: r.gem_platform,
  canonical: r.canonical,
  prerelease: r.prerelease === 1,
  sha256: r.sha256,
  size: r.size,
  spec: reviveSpec(JSON.parse(r.spec) as GemSpec),
  createdAt: r.created_at,
  yankedAt: r.yanked_at,
});

const reviveSpec = (s: GemSpec): GemSpec => ({ ...s, date: new Date(s.date) });

const fullNameOf = (name: string, number: string, platform: string) =>
  platform === 'ruby' ? `${name}-${number}` : `${name}-${number}-${platform}`;

function versionsQuery(db: Db) {
  return db
    .selectFrom('versions')
    .innerJoin('gems', 'gems.id', 'versions.gem_id')
    .selectAll('versions')
    .select('gems.name as name');
}

/** Every change a derived index depends on bumps the generation, inside the same transaction. */
async function bumpGeneration(db: Db): Promise<void> {
  await db
    .insertInto('meta')
    .values({ key: 'generation', value: '1' })
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet({ value: (eb) => eb.cast(eb(eb.cast('meta.value', 'integer'), '+', 1), 'text') }),
    )
    .execute();
}

function txApi(db: Db): CatalogTx {
  return {
    async gemNameLike(name) {
      const r = await db
        .selectFrom('gems')
        .select('name')
        .where('name_lower', '=', name.toLowerCase())
        .executeTakeFirst();
      return r?.name ?? null;
    },
    findVersion: (name, number, platform) => findVersion(db, name, number, platform),
    async findCanonical(name, canonical, platform) {
      const rows = await versionsQuery(db)
        .where('gems.name', '=', name)
        .where('versions.canonical', '=', canonical)
        .where('versions.platform', '=', platform)
        .execute();
      return rows.map(toRecord);
    },
    liveVersions: (name) => liveVersions(db, name),
    async insertVersion(v: NewVersion) {
      let gem = await db
        .selectFrom('gems')
        .select(['id', 'name'])
        .where('name', '=', v.name)
        .executeTakeFirst();
      if (!gem) {
        gem = await db
          .insertInto('gems')
          .values({ name: v.name, name_lower: v.name.toLowerCase(), created_at: v.createdAt })
          .returning(['id', 'name'])
          .executeTakeFirstOrThrow();
      }
      const row = await db
        .insertInto('versions')
        .values({
          gem_id: gem.id,
          number: v.number,
          platform: v.platform,
          gem_platform: v.gemPlatform,
          canonical: v.canonical,
          full_name: fullNameOf(v.name, v.number, v.gemPlatform),
          original_full_name: fullNameOf(v.name, v.number, v.platform),
          prerelease: v.prerelease ? 1 : 0,
          sha256: v.sha256,
          size: v.size,
          spec: JSON.stringify(v.spec),
          created_at: v.createdAt,
          yanked_at: null,
          pushed_by: v.pushedBy,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRecord({ ...row, name: gem.name });
    },
    async setYanked(id, yankedAt) {
      await db.updateTable('versions').set({ yanked_at: yankedAt }).where('id', '=', id).execute();
    },
    async appendVersionsLog(name, tokens, infoMd5) {
      const r = await db
        .insertInto('versions_log')
        .values({ gem_name: name, tokens, info_md5: infoMd5 })
        .returning('seq')
        .executeTakeFirstOrThrow();
      await bumpGeneration(db);
      return r.seq;
    },
    allLiveVersions: () => allLiveVersions(db),
    async maxLogSeq() {
      const r = await db
        .selectFrom('versions_log')
        .select((eb) => eb.fn.max('seq').as('m'))
        .executeTakeFirst();
      return Number(r?.m ?? 0);
    },
    async setVersionsBase(base: VersionsBase) {
      for (const [key, value] of [
        ['versions_created_at', base.createdAt],
        ['versions_base', base.body],
        ['versions_base_seq', String(base.baseSeq)],
      ] as const) {
        await db
          .insertInto('meta')
          .values({ key, value })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
          .execute();
      }
      await bumpGeneration(db);
    },
  };
}

async function findVersion(
  db: Db,
  name: string,
  number: string,
  platform: string,
): Promise<VersionRecord | null> {
  const r = await versionsQuery(db)
    .where('gems.name', '=', name)
    .where('versions.number', '=', number)
    .where('versions.platform', '=', platform)
    .executeTakeFirst();
  return r ? toRecord(r) : null;
}

async function allLiveVersions(db: Db): Promise<VersionRecord[]> {
  const rows = await versionsQuery(db)
    .where('versions.yanked_at', 'is', null)
    .orderBy('gems.name')
    .orderBy('versions.id')
    .execute();
  return rows.map(toRecord);
}

async function liveVersions(db: Db, name: string): Promise<VersionRecord[]> {
  const rows = await versionsQuery(db)
    .where('gems.name', '=', name)
    .where('versions.yanked_at', 'is', null)
    .orderBy('versions.id')
    .execute();
  return rows.map(toRecord);
}

const keyRecord = (r: Selectable<Database['api_keys']>): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  scopes: r.scopes.split(',').filter(Boolean) as Scope[],
  gemPattern: r.gem_pattern,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

export class KyselyCatalog implements Catalog {
  constructor(private readonly db: Kysely<Database>) {}

  transaction<T>(fn: (tx: CatalogTx) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(txApi(trx)));
  }

  async generation(): Promise<number> {
    const r = await this.db
      .selectFrom('meta')
      .select('value')
      .where('key', '=', 'generation')
      .executeTakeFirst();
    return Number(r?.value ?? 0);
  }

  liveVersions(name: string): Promise<VersionRecord[]> {
    return liveVersions(this.db, name);
  }

  allLiveVersions(): Promise<VersionRecord[]> {
    return allLiveVersions(this.db);
  }

  findVersion(name: string, number: string, platform: string): Promise<VersionRecord | null> {
    return findVersion(this.db, name, number, platform);
  }

  async findByFullName(fullName: string): Promise<VersionRecord | null> {
    const r =
      (await versionsQuery(this.db)
        .where('versions.full_name', '=', fullName)
        .orderBy('versions.id', 'desc')
        .executeTakeFirst()) ??
      (await versionsQuery(this.db)
        .where('versions.original_full_name', '=', fullName)
        .orderBy('versions.id', 'desc')
        .executeTakeFirst());
    return r ? toRecord(r) : null;
  }

  async allVersions(name: string): Promise<VersionRecord[]> {
    const rows = await versionsQuery(this.db)
      .where('gems.name', '=', name)
      .orderBy('versions.id', 'desc')
      .execute();
    return rows.map(toRecord);
  }

  async versionsBase(): Promise<VersionsBase | null> {
    const rows = await this.db
      .selectFrom('meta')
      .select(['key', 'value'])
      .where('key', 'in', ['versions_created_at', 'versions_base', 'versions_base_seq'])
      .execute();
    const m = new Map(rows.map((r) => [r.key, r.value]));
    const createdAt = m.get('versions_created_at');
    const body = m.get('versions_base');
    const seq = m.get('versions_base_seq');
    if (createdAt === undefined || body === undefined || seq === undefined) return null;
    return { createdAt, body, baseSeq: Number(seq) };
  }

  async versionsLogSince(seq: number): Promise<VersionsLogRow[]> {
    const rows = await this.db
      .selectFrom('versions_log')
      .selectAll()
      .where('seq', '>', seq)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ seq: r.seq, name: r.gem_name, tokens: r.tokens, infoMd5: r.info_md5 }));
  }

  async liveNames(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('gems')
      .select('name')
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('versions')
            .select('versions.id')
            .whereRef('versions.gem_id', '=', 'gems.id')
            .where('versions.yanked_at', 'is', null),
        ),
      )
      .execute();
    return rows.map((r) => r.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async createKey(k: NewApiKey): Promise<ApiKeyRecord> {
    const r = await this.db
      .insertInto('api_keys')
      .values({
        name: k.name,
        prefix: k.prefix,
        hash: k.hash,
        scopes: k.scopes.join(','),
        gem_pattern: k.gemPattern,
        expires_at: k.expiresAt,
        created_at: k.createdAt,
        revoked_at: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return keyRecord(r);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.selectFrom('api_keys').selectAll().orderBy('id').execute()).map(keyRecord);
  }

  async findKeyByHash(hash: string): Promise<(ApiKeyRecord & { hash: string }) | null> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return r ? { ...keyRecord(r), hash: r.hash } : null;
  }

  async revokeKey(id: number, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async touchKey(id: number, at: string): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
