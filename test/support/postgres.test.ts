import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import { startPostgres } from './postgres.ts';

const query = async (url: string, sql: string) => {
  const client = new pg.Client({ connectionString: url, ssl: false });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

test('a throwaway PostgreSQL server starts on loopback, makes databases and stops by PID', async () => {
  const server = await startPostgres();
  try {
    assert.match(server.url, /^postgres:\/\/quarry@127\.0\.0\.1:\d+\/postgres$/);
    assert.equal(new URL(server.url).port, String(server.port));
    assert.ok(alive(server.pid));
    assert.ok(existsSync(server.directory));

    const a = await server.createDatabase();
    const b = await server.createDatabase();
    assert.notEqual(a, b);
    for (const url of [a, b]) {
      assert.equal(new URL(url).hostname, '127.0.0.1');
      assert.deepEqual(await query(url, 'select 1 as one'), [{ one: 1 }]);
      const [row] = await query(url, 'select current_database() as db');
      assert.equal(`/${row.db}`, new URL(url).pathname);
    }
    assert.deepEqual(await query(a, 'SHOW max_connections'), [{ max_connections: '200' }]);
    assert.deepEqual(await query(a, 'SHOW fsync'), [{ fsync: 'off' }]);
    const named = await server.createDatabase('quarry_named');
    assert.match(named, /\/quarry_named$/);
    await assert.rejects(server.createDatabase('bad"name'), /not a plain database name/);
  } finally {
    await server.stop();
  }
  assert.equal(alive(server.pid), false);
  assert.equal(existsSync(server.directory), false);
  await server.stop(); // idempotent
});
