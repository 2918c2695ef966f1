/** The /versions base a catalog keeps in its meta table: written whole, under the global write lock. */
import { isoSeconds } from '../index/compact.ts';
import { versionToken } from '../index/entry.ts';
import type { BaseLine } from './derive.ts';
import { baseBody } from './derive.ts';
import type { Db } from './rows.ts';

export async function setMeta(db: Db, key: string, value: string): Promise<void> {
  await db
    .insertInto('meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}

/**
 * Writes a base from every live version, with the log's current sequence number and `createdAt`.
 * `infoMd5` gives the /info MD5 of a gem that has none stored yet (catalogs from before the
 * info_md5 column: computed once). The caller holds the global write lock and bumps the generation.
 */
export async function writeVersionsBase(
  trx: Db,
  createdAt: Date,
  infoMd5: (name: string) => Promise<string>,
): Promise<void> {
  const missing = await trx.selectFrom('gems').select(['id', 'name']).where('info_md5', 'is', null).execute();
  for (const g of missing) {
    const md5 = await infoMd5(g.name);
    await trx.updateTable('gems').set({ info_md5: md5 }).where('id', '=', g.id).execute();
  }
  const rows = await trx
    .selectFrom('versions')
    .innerJoin('gems', 'gems.id', 'versions.gem_id')
    .select(['gems.name as name', 'gems.info_md5 as md5', 'versions.number', 'versions.platform'])
    .where('versions.yanked_at', 'is', null)
    .orderBy('versions.gem_id')
    .orderBy('versions.id')
    .execute();
  const lines: BaseLine[] = [];
  let cur: BaseLine | undefined;
  for (const r of rows) {
    if (cur?.name !== r.name) {
      cur = { name: r.name, tokens: [], infoMd5: r.md5 ?? '' };
      lines.push(cur);
    }
    cur.tokens.push(versionToken({ version: r.number, platform: r.platform }));
  }
  const seq = await trx
    .selectFrom('versions_log')
    .select((eb) => eb.fn.max('seq').as('m'))
    .executeTakeFirst();
  await setMeta(trx, 'versions_created_at', isoSeconds(createdAt));
  await setMeta(trx, 'versions_base', baseBody(createdAt, lines));
  await setMeta(trx, 'versions_base_seq', String(Number(seq?.m ?? 0)));
}
