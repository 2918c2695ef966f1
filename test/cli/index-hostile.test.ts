/**
 * `quarry index` on bad input: a clear error naming the file and the problem, exit code 1, and
 * nothing written (a fresh build writes no file; an update leaves the published index as it was).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildGem, gemspecYaml } from '../gem/support/ustar.ts';
import { makeGem } from '../support/make-gem.ts';
import { ensureBuilt, runQuarry } from '../support/quarry.ts';

const yamlBomb = () => {
  let y = '--- !ruby/object:Gem::Specification\nname: bomb\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < 12; i++)
    y += `a${i}: &a${i} [${Array(10)
      .fill(`*a${i - 1}`)
      .join(', ')}]\n`;
  return `${y}summary: boom\n`;
};

/** [file name, bytes, what the message must mention] */
const HOSTILE: [string, () => Buffer, RegExp][] = [
  [
    'truncated-1.0.gem',
    () => makeGem({ name: 'truncated', version: '1.0' }).subarray(0, 1200),
    /truncat|corrupt|short/i,
  ],
  ['dotdot-1.0.gem', () => buildGem({ extra: [{ name: '../evil', data: 'x' }] }), /\.\./],
  ['absolute-1.0.gem', () => buildGem({ extra: [{ name: '/etc/evil', data: 'x' }] }), /absolute/i],
  [
    'link-1.0.gem',
    () => buildGem({ extra: [{ name: 'evil', type: '2', linkname: '/etc/passwd' }] }),
    /link/i,
  ],
  [
    'dup-1.0.gem',
    () => buildGem({ extra: [{ name: 'metadata.gz', data: gzipSync(gemspecYaml()) }] }),
    /more than once|duplicate/i,
  ],
  ['bomb-1.0.gem', () => buildGem({ metadata: gzipSync(yamlBomb()) }), /alias/i],
  [
    'tag-1.0.gem',
    () => buildGem({ metadata: gzipSync(gemspecYaml({ summary: '!ruby/object:OpenStruct\n  table: {}' })) }),
    /OpenStruct/,
  ],
  ['badname-1.0.gem', () => buildGem({ metadata: gzipSync(gemspecYaml({ name: '"../x"' })) }), /name/i],
  [
    'badversion-1.0.gem',
    () =>
      buildGem({
        metadata: gzipSync(gemspecYaml({ version: '!ruby/object:Gem::Version\n  version: 1..0' })),
      }),
    /version/i,
  ],
  ['nometa-1.0.gem', () => buildGem({ metadata: null }), /metadata/i],
  [
    'old-1.0.gem',
    () => Buffer.concat([Buffer.from('MD5SUM = 0123456789abcdef\n'), Buffer.alloc(600, 0x61)]),
    /old|2007|format/i,
  ],
  [
    'gzipbomb-1.0.gem',
    () => buildGem({ metadata: gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20)) }),
    /expands|limit|ratio/i,
  ],
  [
    'checksum-1.0.gem',
    () => buildGem({ checksums: `---\nSHA256:\n  metadata.gz: ${'0'.repeat(64)}\n` }),
    /checksum/i,
  ],
  ['misnamed-9.9.gem', () => makeGem({ name: 'other', version: '1.0' }), /does not match/],
];

function listTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

describe('quarry index: hostile input', () => {
  let root: string;
  before(() => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'quarry-hostile-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const [file, make, message] of HOSTILE) {
    it(`refuses ${file}, names it, and writes nothing`, () => {
      const dir = mkdtempSync(join(root, 'full-'));
      const gems = join(dir, 'gems');
      const ok = makeGem({ name: 'good', version: '1.0' });
      mkdirSync(gems, { recursive: true });
      writeFileSync(join(gems, 'good-1.0.gem'), ok);
      writeFileSync(join(gems, file), make());
      const before = listTree(dir);
      const r = runQuarry(['index', dir]);
      assert.equal(r.status, 1, `${file}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`gems/${file.replace(/\./g, '\\.')}`), r.stderr);
      assert.match(r.stderr, message, r.stderr);
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one line, no stack trace: ${r.stderr}`);
      assert.deepEqual(listTree(dir), before);
    });
  }

  it('leaves a published index byte-identical when --update meets a bad gem', () => {
    const dir = mkdtempSync(join(root, 'update-'));
    mkdirSync(join(dir, 'gems'), { recursive: true });
    writeFileSync(join(dir, 'gems', 'good-1.0.gem'), makeGem({ name: 'good', version: '1.0' }));
    assert.equal(runQuarry(['index', dir]).status, 0);
    const before = listTree(dir);
    writeFileSync(join(dir, 'gems', 'good-2.0.gem'), makeGem({ name: 'good', version: '2.0' }));
    writeFileSync(join(dir, 'gems', 'dotdot-1.0.gem'), buildGem({ extra: [{ name: '../evil', data: 'x' }] }));
    const r = runQuarry(['index', dir, '--update']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /gems\/dotdot-1\.0\.gem/);
    const afterTree = listTree(dir);
    delete afterTree['gems/good-2.0.gem'];
    delete afterTree['gems/dotdot-1.0.gem'];
    assert.deepEqual(afterTree, before);
  });

  it('says what is wrong when there is no gems/ folder', () => {
    const dir = mkdtempSync(join(root, 'empty-'));
    const r = runQuarry(['index', dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no gems\/ folder/);
    assert.deepEqual(readdirSync(dir), []);
  });
});
