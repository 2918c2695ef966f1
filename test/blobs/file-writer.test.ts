import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileWriter, WRITER_MAX_BYTES } from '../../src/util/file-writer.ts';

describe('file writer thread', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quarry-writer-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes many files at once, each whole, into folders it makes, with no temp file left', async () => {
    const bodies = Array.from({ length: 300 }, (_, i) => Buffer.from(`body ${i} `.repeat(i + 1)));
    await Promise.all(bodies.map((b, i) => fileWriter.write(join(dir, 'many', String(i % 7), `f${i}`), b)));
    for (let i = 0; i < bodies.length; i++) {
      assert.deepEqual(await readFile(join(dir, 'many', String(i % 7), `f${i}`)), bodies[i]);
    }
    const names = (
      await Promise.all(Array.from({ length: 7 }, (_, d) => readdir(join(dir, 'many', String(d)))))
    ).flat();
    assert.equal(names.length, 300);
    assert.equal(names.filter((n) => n.startsWith('.tmp-')).length, 0);
  });

  it('leaves the caller its bytes, including a view into a larger buffer', async () => {
    const big = Buffer.alloc(64 * 1024, 7);
    const view = big.subarray(100, 200);
    await fileWriter.write(join(dir, 'view'), view);
    assert.equal(view.length, 100);
    assert.equal(big.length, 64 * 1024);
    assert.deepEqual(await readFile(join(dir, 'view')), Buffer.alloc(100, 7));
  });

  it('replaces a file whole, and writes of one path land in the order they were issued', async () => {
    const p = join(dir, 'same');
    await Promise.all(['a', 'b', 'c', 'd'].map((s) => fileWriter.write(p, Buffer.from(s.repeat(1000)))));
    assert.equal(await readFile(p, 'utf8'), 'd'.repeat(1000));
    // A large body (the threadpool) then a small one (the thread), and the other way round: the
    // small one is written far sooner, yet the last issued is what stays.
    const large = Buffer.alloc(WRITER_MAX_BYTES * 4, 'L');
    const small = Buffer.from('small');
    for (const [first, last] of [
      [large, small],
      [small, large],
      [large, small],
    ] as const) {
      const writes = [fileWriter.write(p, first), fileWriter.write(p, last)];
      await Promise.all(writes);
      assert.ok((await readFile(p)).equals(last), `${first.length} then ${last.length} bytes`);
    }
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('.tmp-')),
      [],
    );
  });

  it('fails a write with the error code of the file system, and the others of its batch still land', async () => {
    await writeFile(join(dir, 'a-file'), 'x');
    const bad = fileWriter.write(join(dir, 'a-file', 'below'), Buffer.from('y'));
    const good = fileWriter.write(join(dir, 'good'), Buffer.from('z'));
    await assert.rejects(bad, (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR' || e.code === 'EEXIST');
    await good;
    assert.equal(await readFile(join(dir, 'good'), 'utf8'), 'z');
  });

  it('makes a folder again when it was removed after a write into it', async () => {
    await fileWriter.write(join(dir, 'gone', 'one'), Buffer.from('1'));
    await rm(join(dir, 'gone'), { recursive: true });
    await fileWriter.write(join(dir, 'gone', 'two'), Buffer.from('2'));
    assert.equal(await readFile(join(dir, 'gone', 'two'), 'utf8'), '2');
  });

  it('takes thousands of writes issued at once (sent to the thread a batch at a time)', async () => {
    const n = 5_000;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        fileWriter.write(join(dir, 'burst', String(i % 16), `f${i}`), Buffer.from(String(i))),
      ),
    );
    let count = 0;
    for (let d = 0; d < 16; d++) count += (await readdir(join(dir, 'burst', String(d)))).length;
    assert.equal(count, n);
    assert.equal(await readFile(join(dir, 'burst', '7', 'f4999'), 'utf8'), '4999');
  });

  it('writes a body over the thread limit through the threadpool, whole', async () => {
    const body = Buffer.alloc(WRITER_MAX_BYTES + 1, 3);
    await fileWriter.write(join(dir, 'large'), body);
    assert.deepEqual(await readFile(join(dir, 'large')), body);
  });
});
