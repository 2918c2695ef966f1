/** PreparedQuery: compiled once, run with new arguments in their places, on SQLite in memory. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { PreparedQuery } from '../../src/catalog/prepared.ts';
import type { Db } from '../../src/catalog/rows.ts';

function memoryDb(): Db {
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  return db as unknown as Db;
}

it('runs one compiled query with each call’s arguments, in their places, whatever their order', async () => {
  const db = memoryDb();
  await db.schema
    .createTable('meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text')
    .execute();
  const put = new PreparedQuery<[string, string], never>((d, [value, key]) =>
    d.insertInto('meta').values({ key: key!, value: value! }),
  );
  const get = new PreparedQuery<[string], { value: string }>((d, [key]) =>
    d.selectFrom('meta').select('value').where('key', '=', key!),
  );
  await put.execute(db, 'one', 'a');
  await put.execute(db, 'two', 'b');
  assert.equal((await get.first(db, 'a'))?.value, 'one');
  assert.equal((await get.first(db, 'b'))?.value, 'two');
  assert.equal(await get.first(db, 'nope'), undefined);
  // Inside a transaction too.
  await db.transaction().execute(async (trx) => {
    await put.execute(trx, 'three', 'c');
    assert.equal((await get.first(trx, 'c'))?.value, 'three');
  });
  await db.destroy();
});

it('refuses a query that does not place every argument', async () => {
  const db = memoryDb();
  const q = new PreparedQuery<[string, string], { x: number }>((d, [a]) =>
    d
      .selectFrom('sqlite_master' as never)
      .select('type as x' as never)
      .where('name' as never, '=', a as never),
  );
  await assert.rejects(q.execute(db, 'a', 'b'), /1 argument\(s\) not placed/);
  await db.destroy();
});
