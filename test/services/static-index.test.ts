/** buildStaticIndex's state on disk: updates append to a log; a bad log means a full build. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildStaticIndex } from '../../src/services/static-index.ts';
import { makeGem } from '../support/make-gem.ts';

const root = mkdtempSync(join(tmpdir(), 'quarry-static-index-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'gems'));
const add = (name: string, version: string) =>
  writeFileSync(join(root, 'gems', `${name}-${version}.gem`), makeGem({ name, version }));
const run = (update = true) => buildStaticIndex({ dir: root, update, now: () => new Date(0) });
const read = (p: string) => readFileSync(join(root, p), 'utf8');

test('updates append one block each to the state log; the snapshot stays as the full build wrote it', async () => {
  add('a', '1.0');
  assert.equal((await run(false)).mode, 'full');
  const snapshot = read('.quarry/current/index-state');
  add('a', '2.0');
  const r1 = await run();
  assert.deepEqual([r1.mode, r1.added, r1.gems], ['update', 1, 2]);
  unlinkSync(join(root, 'gems', 'a-1.0.gem'));
  const r2 = await run();
  assert.deepEqual([r2.mode, r2.removed, r2.gems], ['update', 1, 1]);
  assert.equal(read('.quarry/current/index-state'), snapshot);
  const log = read('.quarry/current/index-state.log');
  assert.equal(log.match(/^commit /gm)?.length, 2);
  assert.match(read('versions'), /\na 2\.0 \w{32}\na -1\.0 \w{32}\n$/);
  // Nothing new: nothing written, the log unchanged.
  const r3 = await run();
  assert.deepEqual([r3.mode, r3.written], ['update', 0]);
  assert.equal(read('.quarry/current/index-state.log'), log);
});

test('an unfinished log block makes the next run a full build that starts a new snapshot', async () => {
  appendFileSync(join(root, '.quarry/current/index-state.log'), '+\tz-1.0.gem');
  add('b', '1.0');
  const r = await run();
  assert.equal(r.mode, 'full');
  assert.equal(r.fullReason, 'index state log ends in an unfinished update');
  assert.throws(() => read('.quarry/current/index-state.log'), /ENOENT/);
  add('c', '1.0');
  const next = await run();
  assert.deepEqual([next.mode, next.gems], ['update', 3]);
});

test('a log left from an older snapshot is ignored and replaced', async () => {
  // As after a crash between writing a new snapshot and removing the old log.
  const log = read('.quarry/current/index-state.log');
  assert.equal((await run(false)).mode, 'full');
  writeFileSync(
    join(root, '.quarry/current/index-state.log'),
    log.replace(/^(quarry-index-log 2 )\w+/, '$1old'),
  );
  add('d', '1.0');
  const r = await run();
  assert.deepEqual([r.mode, r.added, r.gems], ['update', 1, 4]);
  assert.equal(read('.quarry/current/index-state.log').match(/^commit /gm)?.length, 1);
});

test('one run at a time: a live holder of the lock stops the run; a dead one is taken over', async () => {
  const lock = join(root, '.quarry', 'lock');
  writeFileSync(lock, `${process.ppid}\n`);
  await assert.rejects(run(), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'conflict');
    assert.match(e.message, new RegExp(`another quarry index \\(pid ${process.ppid}\\) is working on `));
    return true;
  });
  assert.equal(read('.quarry/lock'), `${process.ppid}\n`);
  const gone = spawnSync(process.execPath, ['-e', '0']).pid;
  writeFileSync(lock, `${gone}\n`);
  assert.equal((await run()).mode, 'update');
  assert.throws(() => read('.quarry/lock'), /ENOENT/);
});
