import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { QuarryError } from '../../src/errors.ts';
import { readTar } from '../../src/gem/tar.ts';
import { rubyGems, tempDir } from './support/ruby-gems.ts';
import { buildTar, tarEntry } from './support/ustar.ts';

function rejects(buf: Buffer, code: string, pattern: RegExp, options?: Parameters<typeof readTar>[1]) {
  assert.throws(
    () => readTar(buf, options),
    (e: unknown) => e instanceof QuarryError && e.code === code && pattern.test(e.message),
  );
}

describe('readTar: reading', () => {
  test('reads names, types, sizes and data, in order', () => {
    const buf = buildTar([
      { name: 'a.txt', data: 'hello' },
      { name: 'dir/b.bin', data: Buffer.alloc(1000, 7) },
      { name: 'empty', data: '' },
    ]);
    const entries = readTar(buf);
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.size]),
      [
        ['a.txt', '0', 5],
        ['dir/b.bin', '0', 1000],
        ['empty', '0', 0],
      ],
    );
    assert.equal(entries[0]?.data.toString(), 'hello');
    assert.ok(entries[1]?.data.equals(Buffer.alloc(1000, 7)));
  });

  test('entry data is a view into the input, not a copy', () => {
    const buf = buildTar([{ name: 'a.txt', data: 'hello' }]);
    const [entry] = readTar(buf);
    assert.equal(entry?.data.buffer, buf.buffer);
    assert.equal(entry?.data.byteOffset, buf.byteOffset + 512);
  });

  test('joins prefix and name with one slash', () => {
    const prefix = 'p'.repeat(120);
    const [a, b] = readTar(
      buildTar([
        { name: 'file.rb', prefix, data: 'x' },
        { name: 'x', prefix: 'dir/', data: 'y' },
      ]),
    );
    assert.equal(a?.name, `${prefix}/file.rb`);
    assert.equal(b?.name, 'dir/x');
  });

  test('reads the long names that RubyGems TarWriter splits into prefix and name', () => {
    const dir = tempDir('quarry-tar-');
    const file = join(dir, 'ruby.tar');
    const ruby = rubyGems<{ name: string; type: string; data: string | null }[]>('tar', [file]);
    const ours = readTar(readFileSync(file), { regularFilesOnly: false });
    assert.ok(
      ruby.some((e) => e.name.length > 200),
      'the Ruby tar has a name longer than 200 bytes',
    );
    assert.deepEqual(
      ours.map((e) => ({ name: e.name, type: e.type, data: e.type === '0' ? e.data.toString() : null })),
      ruby,
    );
  });

  test('reads a ustar written by GNU tar (NUL-terminated fields)', () => {
    const dir = tempDir('quarry-tar-');
    const src = join(dir, 'src');
    const deep = join('x'.repeat(90), 'y'.repeat(60));
    mkdirSync(join(src, deep), { recursive: true });
    writeFileSync(join(src, deep, 'f.txt'), 'gnu');
    writeFileSync(join(src, 'top.txt'), 'top');
    const out = join(dir, 'gnu.tar');
    execFileSync('tar', ['--format=ustar', '-cf', out, '-C', src, 'top.txt', join(deep, 'f.txt')]);
    const entries = readTar(readFileSync(out));
    assert.deepEqual(
      entries.map((e) => [e.name, e.data.toString()]),
      [
        ['top.txt', 'top'],
        [`${deep}/f.txt`, 'gnu'],
      ],
    );
  });

  test('stops at the first zero block and ignores what follows', () => {
    const buf = Buffer.concat([buildTar([{ name: 'a', data: '1' }]), tarEntry({ name: 'after', data: '2' })]);
    assert.deepEqual(
      readTar(buf).map((e) => e.name),
      ['a'],
    );
  });

  test('accepts a tar without the closing zero blocks, or with a short zero tail', () => {
    const bare = buildTar([{ name: 'a', data: '1' }], false);
    assert.equal(readTar(bare).length, 1);
    assert.equal(readTar(Buffer.concat([bare, Buffer.alloc(100)])).length, 1);
    assert.deepEqual(readTar(Buffer.alloc(0)), []);
  });

  test('numeric fields may be padded with spaces or NULs; uid/gid may be base-256', () => {
    const buf = buildTar([
      {
        name: 'a',
        data: 'abc',
        sizeField: '   3  \0\0\0\0\0\0',
        patch: {
          100: ' 644 \0\0\0',
          108: Buffer.from([0x80, 0, 0, 0, 0, 0, 0x03, 0xe8]),
          116: '\0\0\0\0\0\0\0\0',
        },
      },
    ]);
    const [e] = readTar(buf);
    assert.equal(e?.size, 3);
    assert.equal(e?.data.toString(), 'abc');
  });

  test('a NUL typeflag reads as a regular file', () => {
    const [e] = readTar(buildTar([{ name: 'a', data: 'x', patch: { 156: '\0' } }]));
    assert.equal(e?.type, '0');
  });

  test('other entry types are returned when regularFilesOnly is false', () => {
    const entries = readTar(
      buildTar([
        { name: 'dir', type: '5' },
        { name: 'link', type: '2', linkname: 'dir' },
      ]),
      { regularFilesOnly: false },
    );
    assert.deepEqual(
      entries.map((e) => [e.name, e.type]),
      [
        ['dir', '5'],
        ['link', '2'],
      ],
    );
  });
});

describe('readTar: rejects', () => {
  test('a truncated header', () => {
    const buf = buildTar([{ name: 'a', data: '1' }], false);
    rejects(
      Buffer.concat([buf, tarEntry({ name: 'b', data: '2' }).subarray(0, 300)]),
      'invalid_gem',
      /truncated/,
    );
  });

  test('truncated data', () => {
    const buf = buildTar([{ name: 'big', data: Buffer.alloc(2000, 1) }], false);
    rejects(buf.subarray(0, 1024), 'invalid_gem', /"big" is truncated: 2000 bytes declared/);
  });

  test('a size field that is not octal', () => {
    rejects(
      buildTar([{ name: 'a', data: '1', sizeField: '00000000009\0' }]),
      'invalid_gem',
      /"a": size field .* not an octal/,
    );
    rejects(buildTar([{ name: 'a', data: '1', sizeField: '0000 0000001' }]), 'invalid_gem', /size field/);
  });

  test('other numeric fields that are not octal', () => {
    rejects(buildTar([{ name: 'a', patch: { 100: 'rwxr-xr\0' } }]), 'invalid_gem', /mode field/);
    rejects(buildTar([{ name: 'a', patch: { 136: 'yesterday!!\0' } }]), 'invalid_gem', /mtime field/);
    rejects(buildTar([{ name: 'a', patch: { 108: 'root\0\0\0\0' } }]), 'invalid_gem', /uid field/);
  });

  test('a NUL byte inside a name', () => {
    rejects(buildTar([{ name: 'meta\0data.gz', data: '1' }]), 'invalid_gem', /name contains a NUL byte/);
    rejects(
      buildTar([{ name: 'x', prefix: 'a\0b', data: '1' }]),
      'invalid_gem',
      /prefix contains a NUL byte/,
    );
  });

  test('a name that is not UTF-8', () => {
    rejects(
      buildTar([{ name: 'x', patch: { 0: Buffer.from([0x66, 0xff, 0x66]) } }]),
      'invalid_gem',
      /not valid UTF-8/,
    );
  });

  test('absolute paths, also through the prefix', () => {
    rejects(
      buildTar([{ name: '/etc/passwd', data: '1' }]),
      'invalid_gem',
      /"\/etc\/passwd" is an absolute path/,
    );
    rejects(buildTar([{ name: 'passwd', prefix: '/etc', data: '1' }]), 'invalid_gem', /absolute path/);
  });

  test('".." path segments', () => {
    rejects(
      buildTar([{ name: '../evil', data: '1' }]),
      'invalid_gem',
      /"\.\.\/evil" has a "\.\." path segment/,
    );
    rejects(buildTar([{ name: 'a/../../b', data: '1' }]), 'invalid_gem', /"\.\." path segment/);
  });

  test('an empty name', () => {
    rejects(
      buildTar([{ name: '', data: '1', patch: { 124: '00000000001\0' } }]),
      'invalid_gem',
      /empty name/,
    );
  });

  test('symlinks, hard links, directories and pax headers by default', () => {
    rejects(
      buildTar([{ name: 'metadata.gz', type: '2', linkname: '/etc/passwd' }]),
      'invalid_gem',
      /symbolic link/,
    );
    rejects(buildTar([{ name: 'metadata.gz', type: '1', linkname: 'x' }]), 'invalid_gem', /hard link/);
    rejects(buildTar([{ name: 'dir', type: '5' }]), 'invalid_gem', /"dir" is a directory/);
    rejects(
      buildTar([{ name: 'PaxHeader', type: 'x', data: '30 path=x\n' }]),
      'invalid_gem',
      /pax extended header/,
    );
  });

  test('duplicate names, including prefix/name spellings of the same path', () => {
    rejects(
      buildTar([
        { name: 'a', data: '1' },
        { name: 'a', data: '2' },
      ]),
      'invalid_gem',
      /"a" appears more than once/,
    );
    rejects(
      buildTar([
        { name: 'd/f', data: '1' },
        { name: 'f', prefix: 'd', data: '2' },
      ]),
      'invalid_gem',
      /"d\/f" appears more than once/,
    );
  });

  test('an entry over the size limit, before reading its data', () => {
    const buf = buildTar([{ name: 'big', data: Buffer.alloc(10) }], false).subarray(0, 512);
    const huge = Buffer.from(buf);
    huge.write('77777777777\0', 124, 'latin1');
    rejects(huge, 'limit_exceeded', /"big" is 8589934591 bytes, over the 1000-byte limit/, {
      maxEntrySize: 1000,
    });
  });

  test('too many entries', () => {
    const entries = Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    rejects(buildTar(entries), 'limit_exceeded', /more than 4 entries/, { maxEntries: 4 });
    assert.equal(readTar(buildTar(entries), { maxEntries: 5 }).length, 5);
  });
});
