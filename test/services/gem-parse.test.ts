/** Reading a folder of gems on worker threads gives what one thread gives, errors included. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { indexGemFiles } from '../../src/services/gem-parse.ts';
import { makeGem } from '../support/make-gem.ts';

const root = mkdtempSync(join(tmpdir(), 'quarry-gem-parse-'));
after(() => rmSync(root, { recursive: true, force: true }));

const gemsDir = join(root, 'gems');
mkdirSync(gemsDir);
const files: string[] = [];
for (let i = 0; i < 9; i++) {
  const file = `g${i}-1.${i}.gem`;
  writeFileSync(join(gemsDir, file), makeGem({ name: `g${i}`, version: `1.${i}`, deps: [['g0', '>= 0']] }));
  files.push(file);
}

const run = (threads: number, list: readonly string[], out: string) =>
  indexGemFiles({ gemsDir, outDir: join(root, out), info: {} }, list, { threads });

test('three threads: the same indexed files, in order, and the same quick specs as one thread', async () => {
  const one = await run(1, files, 'one');
  const three = await run(3, files, 'three');
  assert.deepEqual(three, one);
  assert.deepEqual(
    one.map((f) => f.file),
    files,
  );
  const quick = (out: string) => readdirSync(join(root, out, 'quick', 'Marshal.4.8')).sort();
  assert.deepEqual(quick('three'), quick('one'));
  assert.equal(quick('one').length, 9);
  for (const f of quick('one')) {
    assert.ok(
      readFileSync(join(root, 'one', 'quick', 'Marshal.4.8', f)).equals(
        readFileSync(join(root, 'three', 'quick', 'Marshal.4.8', f)),
      ),
    );
  }
});

test('a bad gem: threads report the first bad file in file order, with its code', async () => {
  writeFileSync(join(gemsDir, 'g4-1.4.gem'), Buffer.from('not a gem at all'));
  writeFileSync(join(gemsDir, 'g7-1.7.gem'), Buffer.alloc(0));
  for (const threads of [1, 2, 3]) {
    await assert.rejects(run(threads, files, `bad-${threads}`), (e: Error & { code?: string }) => {
      assert.equal(e.name, 'QuarryError');
      assert.equal(e.code, 'invalid_gem');
      assert.match(e.message, /^gems\/g4-1\.4\.gem: /);
      return true;
    });
  }
});
