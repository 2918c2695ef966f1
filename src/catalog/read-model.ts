/**
 * The web UI's read model (CatalogReadModel) over kysely, for both drivers: search, recent and
 * newest gems, reverse dependencies, counts and download counts, each a bounded query (no whole
 * catalog in memory). KyselyCatalog hands these calls here.
 */
import { sql } from 'kysely';
import { compareVersions } from '../gem/version.ts';
import type { WriteDialect } from './kysely-catalog.ts';
import type { Db } from './rows.ts';
import { findVersion, hasLiveVersion, toRecord, versionsQuery } from './rows.ts';
import type { CatalogReadModel, GemCounts, GemListing, Paged, SearchPage, VersionRecord } from './types.ts';
import { SEARCH_COUNT_LIMIT } from './types.ts';

/** A version as lists need it: no spec. */
interface LightVersion {
  id: number;
  gem_id: number;
  number: string;
  platform: string;
  prerelease: number | boolean;
  created_at: string;
  yanked_at: string | null;
  origin: string | null;
  downloads: number | string | bigint;
}

/** mostRecent (services/json-api.ts) over light rows: latest release on ruby, then any release, then the highest. */
function latestOf(rows: LightVersion[]): LightVersion | undefined {
  const live = rows
    .filter((r) => r.yanked_at === null)
    .sort(
      (a, b) =>
        -compareVersions(a.number, b.number) ||
        (a.platform === 'ruby' ? -1 : b.platform === 'ruby' ? 1 : a.platform < b.platform ? -1 : 1),
    );
  const pre = (r: LightVersion) => Number(r.prerelease) === 1;
  return live.find((r) => !pre(r) && r.platform === 'ruby') ?? live.find((r) => !pre(r)) ?? live[0];
}

/** A LIKE pattern's own characters escaped (with ESCAPE '\\'). */
const likeEscape = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export class KyselyReadModel implements CatalogReadModel {
  constructor(
    private readonly db: Db,
    private readonly dialect: WriteDialect,
    /** gems.info_md5 of a gem with no live version. */
    private readonly noLiveMd5: string,
  ) {}

  /** Light versions of some gems: the listing of each (its newest live version), by gem id. */
  private async listings(gems: { id: number; name: string; summary: string }[]): Promise<GemListing[]> {
    if (gems.length === 0) return [];
    const rows = (await this.db
      .selectFrom('versions')
      .select([
        'id',
        'gem_id',
        'number',
        'platform',
        'prerelease',
        'created_at',
        'yanked_at',
        'origin',
        'downloads',
      ])
      .where(
        'gem_id',
        'in',
        gems.map((g) => g.id),
      )
      .execute()) as LightVersion[];
    const byGem = new Map<number, LightVersion[]>();
    for (const r of rows) {
      const list = byGem.get(r.gem_id);
      if (list) list.push(r);
      else byGem.set(r.gem_id, [r]);
    }
    const out: GemListing[] = [];
    for (const g of gems) {
      const versions = byGem.get(g.id) ?? [];
      const v = latestOf(versions);
      if (!v) continue;
      out.push({
        name: g.name,
        summary: g.summary,
        number: v.number,
        platform: v.platform,
        createdAt: v.created_at,
        origin: v.origin,
        downloads: versions.reduce((n, r) => n + Number(r.downloads), 0),
      });
    }
    return out;
  }

  /**
   * One scan of `gems`, kept cheap per row (190,000 gems in tens of milliseconds): a gem has a live
   * version when its /info MD5 is not that of an empty /info (gems.info_md5 is kept under the gem's
   * lock by every write; a gem without one yet asks `versions`), and SQLite's LIKE already ignores
   * ASCII case (as its lower() does), so only PostgreSQL lower-cases the summary. On SQLite a first
   * pass takes up to countLimit + 1 matches unordered: when there are no more, they are ranked and
   * paged here (one pass, exact total); past the limit, a second pass asks the database for the
   * page. PostgreSQL runs the page and a count that stops past the limit at once, on two connections.
   */
  async searchGems(
    query: string,
    offset: number,
    limit: number,
    countLimit = SEARCH_COUNT_LIMIT,
  ): Promise<SearchPage> {
    const q = query.trim().toLowerCase().slice(0, 200);
    if (q === '') return { items: [], total: 0, more: false };
    const words = q.split(/\s+/).filter(Boolean).slice(0, 8);
    const contains = `%${likeEscape(q)}%`;
    const summary = this.dialect.name === 'postgres' ? sql`lower(gems.summary)` : sql`gems.summary`;
    const summaryHasAll = sql.join(
      words.map((w) => sql`${summary} LIKE ${`%${likeEscape(w)}%`} ESCAPE '\\'`),
      sql` AND `,
    );
    const matches = sql<boolean>`(gems.name_lower LIKE ${contains} ESCAPE '\\' OR (${summaryHasAll}))`;
    const live = this.liveGem();
    const base = this.db.selectFrom('gems').where(matches).where(live);
    const rank = sql<number>`CASE WHEN gems.name_lower = ${q} THEN 0 WHEN gems.name_lower LIKE ${`${likeEscape(q)}%`} ESCAPE '\\' THEN 1 WHEN gems.name_lower LIKE ${contains} ESCAPE '\\' THEN 2 ELSE 3 END`;
    const pageQuery = () =>
      base
        .select(['gems.id as id', 'gems.name as name', 'gems.summary as summary', rank.as('rank')])
        .orderBy('rank')
        .orderBy(this.dialect.byteOrder('gems.name'))
        .limit(limit)
        .offset(offset)
        .execute();
    if (this.dialect.name === 'postgres') {
      // Two connections of the pool, both scans at once: the page ranked by the database, and the
      // count up to one past the limit (measured faster there than the single pass below).
      const [rows, n] = await Promise.all([
        pageQuery(),
        this.db
          .selectFrom(
            base
              .select('gems.id')
              .limit(countLimit + 1)
              .as('m'),
          )
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirst(),
      ]);
      const counted = Number(n?.n ?? 0);
      // A first page that is not full holds every match.
      const exact = offset === 0 && rows.length < limit;
      const more = !exact && counted > countLimit;
      const total = exact ? rows.length : Math.min(counted, countLimit);
      return { items: await this.listings(rows), total, more };
    }
    // SQLite, pass 1: up to countLimit + 1 matches, unordered (a scan that stops there). Up to the
    // limit, that is every match: ranked and paged here, the total exact, one pass.
    const found = await base
      .select(['gems.id as id', 'gems.name as name', 'gems.name_lower as lower', 'gems.summary as summary'])
      .limit(countLimit + 1)
      .execute();
    if (found.length <= countLimit) {
      const rankOf = (lower: string) =>
        lower === q ? 0 : lower.startsWith(q) ? 1 : lower.includes(q) ? 2 : 3;
      const ranked = found.map((r) => ({ ...r, rank: rankOf(r.lower) }));
      // Rank, then the name's bytes (gem names are ASCII: code unit order is byte order).
      ranked.sort((a, b) => a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return {
        items: await this.listings(ranked.slice(offset, offset + limit)),
        total: found.length,
        more: false,
      };
    }
    // Pass 2, for a query that matches more than the limit: the page, ranked by the database.
    const rows = await pageQuery();
    // A first page that is not full holds every match (a page longer than the count limit).
    if (offset === 0 && rows.length < limit)
      return { items: await this.listings(rows), total: rows.length, more: false };
    return { items: await this.listings(rows), total: countLimit, more: true };
  }

  async recentVersions(limit: number): Promise<VersionRecord[]> {
    const rows = await versionsQuery(this.db)
      .where('versions.yanked_at', 'is', null)
      .orderBy('versions.id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  async newestGems(limit: number): Promise<VersionRecord[]> {
    const gems = await this.db
      .selectFrom('gems')
      .select(['id', 'name', 'summary'])
      .where(hasLiveVersion)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    const out: VersionRecord[] = [];
    for (const l of await this.listings(gems)) {
      const v = await findVersion(this.db, l.name, l.number, l.platform);
      if (v) out.push(v);
    }
    return out;
  }

  /**
   * The dependents by gem first (a version is live by the versions_live index alone, not its row
   * with the spec), then their names: a gem that thousands depend on reads index entries, and the
   * gems table once per dependent gem. Total and page in one query.
   */
  async reverseDependencies(
    name: string,
    offset: number,
    limit: number,
  ): Promise<Paged<{ name: string; type: string }>> {
    const dependents = this.db
      .selectFrom('dependencies')
      .select(['dependencies.gem_id as gem_id', (eb) => eb.fn.max('dependencies.type').as('type')])
      .where('dependencies.name', '=', name)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('versions')
            .select('versions.id')
            .whereRef('versions.gem_id', '=', 'dependencies.gem_id')
            .whereRef('versions.id', '=', 'dependencies.version_id')
            .where('versions.yanked_at', 'is', null),
        ),
      )
      .groupBy('dependencies.gem_id');
    const rows = await this.db
      .selectFrom(dependents.as('d'))
      .innerJoin('gems', 'gems.id', 'd.gem_id')
      .select(['gems.name as name', 'd.type as type', sql<number>`count(*) over ()`.as('total')])
      .orderBy(this.dialect.byteOrder('gems.name'))
      .limit(limit)
      .offset(offset)
      .execute();
    const total =
      rows.length > 0
        ? Number(rows[0]!.total)
        : Number(
            (
              await this.db
                .selectFrom(dependents.as('d'))
                .select((eb) => eb.fn.countAll().as('n'))
                .executeTakeFirst()
            )?.n ?? 0,
          );
    return { items: rows.map((r) => ({ name: r.name, type: String(r.type) })), total };
  }

  /**
   * Without reading every version row: live gems from `gems` (as search tells them), gems with a
   * live mirrored version from the versions_origin index (migration 7), and hosted ones as the live
   * gems less those whose live versions are all mirrored (a probe per mirrored version; none on a
   * server that mirrors nothing).
   */
  async gemCounts(): Promise<GemCounts> {
    const mirrored = sql<boolean>`versions.yanked_at IS NULL AND versions.origin IS NOT NULL AND versions.origin LIKE 'mirror:%'`;
    const [live, mirror, cached] = await Promise.all([
      this.db
        .selectFrom('gems')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(this.liveGem())
        .executeTakeFirst(),
      this.db
        .selectFrom('versions')
        .select([
          (eb) => eb.fn.count<number>('versions.gem_id').distinct().as('n'),
          sql<number>`count(DISTINCT CASE WHEN NOT EXISTS (SELECT 1 FROM versions h WHERE h.gem_id = versions.gem_id
            AND h.yanked_at IS NULL AND (h.origin IS NULL OR h.origin NOT LIKE 'mirror:%')) THEN versions.gem_id END)`.as(
            'only',
          ),
        ])
        .where(mirrored)
        .executeTakeFirst(),
      this.db
        .selectFrom('cached_gems')
        .select((eb) => eb.fn.count<number>('name').distinct().as('n'))
        .executeTakeFirst(),
    ]);
    return {
      hosted: Number(live?.n ?? 0) - Number(mirror?.only ?? 0),
      mirrored: Number(mirror?.n ?? 0),
      cached: Number(cached?.n ?? 0),
    };
  }

  /** A gem with a live version: its /info MD5 is not an empty /info's (see searchGems). */
  private liveGem() {
    return sql<boolean>`(CASE WHEN gems.info_md5 IS NULL
      THEN EXISTS (SELECT 1 FROM versions WHERE versions.gem_id = gems.id AND versions.yanked_at IS NULL)
      ELSE gems.info_md5 <> ${this.noLiveMd5} END)`;
  }

  /**
   * One UPDATE for the whole batch (atomic alone: it commits whole or not at all), over the batch as
   * one JSON parameter, so the statement's text is the same whatever the batch's size. Ids in order.
   */
  async addDownloads(counts: ReadonlyMap<number, number>): Promise<void> {
    const rows = [...counts]
      .filter(([id, n]) => Number.isSafeInteger(id) && Number.isSafeInteger(n) && n > 0)
      .sort((a, b) => a[0] - b[0]);
    if (rows.length === 0) return;
    const batch = JSON.stringify(rows);
    const update =
      this.dialect.name === 'postgres'
        ? sql`UPDATE versions SET downloads = versions.downloads + d.n
            FROM (SELECT (e->>0)::bigint AS id, (e->>1)::bigint AS n FROM json_array_elements(${batch}::json) AS e) AS d
            WHERE versions.id = d.id`
        : // A write statement outside BEGIN takes SQLite's write lock with its snapshot, waiting (busy_timeout).
          sql`UPDATE versions SET downloads = downloads + d.n
            FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS n FROM json_each(${batch})) AS d
            WHERE versions.id = d.id`;
    await update.execute(this.db);
  }

  async downloads(name: string): Promise<Map<number, number>> {
    return (await this.downloadsOf([name])).get(name)!;
  }

  async downloadsOf(names: readonly string[]): Promise<Map<string, Map<number, number>>> {
    const out = new Map<string, Map<number, number>>(names.map((n) => [n, new Map()]));
    if (out.size === 0) return out;
    const rows = await this.db
      .selectFrom('versions')
      .innerJoin('gems', 'gems.id', 'versions.gem_id')
      .select(['gems.name as name', 'versions.id as id', 'versions.downloads as downloads'])
      .where('gems.name', 'in', [...out.keys()])
      .execute();
    for (const r of rows) out.get(r.name)?.set(r.id, Number(r.downloads));
    return out;
  }
}
