/** The queries every push runs, built and compiled once per catalog (prepared.ts). */

import { infoLineRows } from './index-reads.ts';
import { PreparedQuery } from './prepared.ts';
import type { Row } from './rows.ts';
import { versionsQuery } from './rows.ts';

/** A version row's values, in the order of the prepared insert. */
type VersionArgs = [
  gemId: number,
  number: string,
  platform: string,
  gemPlatform: string,
  canonical: string,
  fullName: string,
  originalFullName: string,
  prerelease: 0 | 1,
  sha256: string,
  size: number,
  spec: string,
  infoLine: string,
  createdAt: string,
  pushedBy: number | null,
  origin: string | null,
];

export function pushQueries() {
  return {
    gemByLower: new PreparedQuery<[string], { id: number; name: string }>((db, [lower]) =>
      db.selectFrom('gems').select(['id', 'name']).where('name_lower', '=', lower!),
    ),
    // (number, platform) equal is also (canonical, platform) equal: the first branch finds it.
    candidates: new PreparedQuery<[number, string, string, string, string], Row>(
      (db, [gemId, canonical, platform, number, gemPlatform]) =>
        versionsQuery(db)
          .where('versions.gem_id', '=', gemId as unknown as number)
          .where((eb) =>
            eb.or([
              eb.and([eb('versions.canonical', '=', canonical!), eb('versions.platform', '=', platform!)]),
              eb.and([eb('versions.number', '=', number!), eb('versions.gem_platform', '=', gemPlatform!)]),
            ]),
          )
          .orderBy('versions.id'),
    ),
    insertVersion: new PreparedQuery<VersionArgs, Omit<Row, 'name'>>((db, m) =>
      db
        .insertInto('versions')
        .values({
          gem_id: m[0] as never,
          number: m[1]!,
          platform: m[2]!,
          gem_platform: m[3]!,
          canonical: m[4]!,
          full_name: m[5]!,
          original_full_name: m[6]!,
          prerelease: m[7] as never,
          sha256: m[8]!,
          size: m[9] as never,
          spec: m[10]!,
          info_line: m[11]!,
          created_at: m[12]!,
          yanked_at: null,
          pushed_by: m[13] as never,
          origin: m[14]!,
        })
        .returningAll(),
    ),
    liveLines: new PreparedQuery((db, [name]) =>
      infoLineRows(db, name!).where('versions.yanked_at', 'is', null),
    ),
    gemInfo: new PreparedQuery<[string, string, number], never>((db, [md5, summary, id]) =>
      db
        .updateTable('gems')
        .set({ info_md5: md5!, summary: summary! })
        .where('id', '=', id as unknown as number),
    ),
  };
}
