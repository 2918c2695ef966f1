/** The SQLite driver prepares each SQL text once, and keeps a bounded number of statements. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { preparedOnce } from '../../src/catalog/sqlite.ts';

describe('SQLite prepared statements', () => {
  it('gives the same statement for the same text, and a fresh one after it was evicted', () => {
    const sqlite = new Sqlite(':memory:');
    const db = preparedOnce(sqlite, 2);
    const a = db.prepare('select 1 as x');
    assert.equal(db.prepare('select 1 as x'), a);
    assert.deepEqual(a.all([]), [{ x: 1 }]);
    const b = db.prepare('select 2 as x');
    db.prepare('select 1 as x'); // a is now the most recently used
    db.prepare('select 3 as x'); // evicts b, the least recently used
    assert.equal(db.prepare('select 1 as x'), a);
    assert.notEqual(db.prepare('select 2 as x'), b);
    db.close();
    assert.equal(sqlite.open, false);
  });

  it('binds new parameters on every run of a cached statement', () => {
    const sqlite = new Sqlite(':memory:');
    const db = preparedOnce(sqlite);
    db.prepare('create table t (n integer)').run([]);
    for (const n of [1, 2, 3]) db.prepare('insert into t (n) values (?)').run([n]);
    assert.deepEqual(db.prepare('select n from t where n >= ? order by n').all([2]), [{ n: 2 }, { n: 3 }]);
    assert.deepEqual(db.prepare('select n from t where n >= ? order by n').all([3]), [{ n: 3 }]);
    db.close();
  });
});
