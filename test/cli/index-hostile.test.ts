/**
 * `quarry index` on bad input: a clear error naming the file and the problem, exit code 1, and
 * nothing written (a fresh build writes no file; an update leaves the published index as it was).
 * Also: gems/ entries that are no regular files (directories, FIFOs, symlinks to non-gems), and
 * what killed runs leave behind in DIR/.quarry.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildGem, gemspecYaml } from '../gem/support/ustar.ts';
import { makeGem } from '../support/make-gem.ts';
import { readPublished, servedFiles } from '../support/published.ts';
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

/** Every file (its bytes) and symlink (its target) under dir, symlinks not followed. */
function listTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isSymbolicLink()) out[relative(dir, p)] = `-> ${readlinkSync(p)}`;
      else if (!e.isFile()) out[relative(dir, p)] = 'not a regular file';
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
  /** A folder with one good gem and `setup` run on its gems/ folder; the run must fail on `file`. */
  function refuses(file: string, setup: (gems: string) => void, message: RegExp): string {
    const dir = mkdtempSync(join(root, 'kind-'));
    const gems = join(dir, 'gems');
    mkdirSync(gems, { recursive: true });
    writeFileSync(join(gems, 'good-1.0.gem'), makeGem({ name: 'good', version: '1.0' }));
    setup(gems);
    const before = listTree(dir);
    const r = runQuarry(['index', dir], { timeoutMs: 30_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`gems/${file.replace(/\./g, '\\.')}`), r.stderr);
    assert.match(r.stderr, message, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one line, no stack trace: ${r.stderr}`);
    assert.deepEqual(listTree(dir), before);
    return r.stderr;
  }

  it('refuses a directory named *.gem, and names it', () => {
    refuses(
      'dir-1.0.gem',
      (gems) => mkdirSync(join(gems, 'dir-1.0.gem')),
      /is a directory, not a \.gem file/,
    );
  });

  it('refuses a FIFO named *.gem without blocking on it', () => {
    refuses(
      'pipe-1.0.gem',
      (gems) => {
        const r = spawnSync('mkfifo', [join(gems, 'pipe-1.0.gem')]);
        assert.equal(r.status, 0, String(r.stderr));
      },
      /is a FIFO \(named pipe\), not a \.gem file/,
    );
  });

  it('refuses a symlink to a file that is not a gem without printing what that file holds', () => {
    const secret = join(root, 'secret.txt');
    writeFileSync(secret, `password=${'hunter2 '.repeat(20)}\n`.repeat(50));
    const stderr = refuses(
      'evil-1.0.gem',
      (gems) => symlinkSync(secret, join(gems, 'evil-1.0.gem')),
      /not a tar archive/,
    );
    assert.doesNotMatch(stderr, /hunter2|password/, 'the message quotes nothing of the file');
  });

  it('refuses symlinks to a directory and broken symlinks', () => {
    refuses(
      'todir-1.0.gem',
      (gems) => symlinkSync(root, join(gems, 'todir-1.0.gem')),
      /is a symlink to a directory/,
    );
    refuses(
      'broken-1.0.gem',
      (gems) => symlinkSync(join(root, 'nowhere'), join(gems, 'broken-1.0.gem')),
      /broken symlink/,
    );
  });

  it('reads a gem through a symlink to a regular file', () => {
    const dir = mkdtempSync(join(root, 'link-'));
    mkdirSync(join(dir, 'gems'));
    const elsewhere = join(dir, 'linked-2.0.gem');
    writeFileSync(elsewhere, makeGem({ name: 'linked', version: '2.0' }));
    symlinkSync(elsewhere, join(dir, 'gems', 'linked-2.0.gem'));
    const r = runQuarry(['index', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(readFileSync(join(dir, 'versions'), 'utf8'), /^linked 2\.0 \w{32}$/m);
  });

  it('removes what killed runs left in .quarry (staging folders, old generations, pools, a dead lock)', () => {
    const dir = mkdtempSync(join(root, 'leftovers-'));
    mkdirSync(join(dir, 'gems'));
    writeFileSync(join(dir, 'gems', 'good-1.0.gem'), makeGem({ name: 'good', version: '1.0' }));
    assert.equal(runQuarry(['index', dir]).status, 0);
    const published = readPublished(dir);
    const q = join(dir, '.quarry');
    const current = readlinkSync(join(q, 'current'));
    mkdirSync(join(q, 'staging-1-dead', 'info'), { recursive: true });
    writeFileSync(join(q, 'staging-1-dead', 'info', 'good'), 'half written');
    mkdirSync(join(q, 'gen-900', 'info'), { recursive: true });
    mkdirSync(join(q, 'pool-901', 'quick', 'Marshal.4.8'), { recursive: true });
    writeFileSync(join(q, '.tmp-link-1-dead'), '');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(join(q, 'lock'), `${gone}\n`);
    // An update with nothing to do still cleans up, and leaves the published index as it was.
    const r = runQuarry(['index', dir, '--update']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /updated: \+0 -0/);
    assert.deepEqual(readPublished(dir), published);
    assert.equal(readlinkSync(join(q, 'current')), current);
    const left = readdirSync(q).sort();
    assert.deepEqual(
      left.filter((e) => !/^(current|gen-\d+|pool-\d+)$/.test(e)),
      [],
      `left: ${left.join(' ')}`,
    );
    assert.ok(!left.includes('gen-900') && !left.includes('pool-901'), `left: ${left.join(' ')}`);
    // The next full build removes the generation it replaces only on the run after it.
    writeFileSync(join(dir, 'gems', 'good-2.0.gem'), makeGem({ name: 'good', version: '2.0' }));
    assert.equal(runQuarry(['index', dir]).status, 0);
    assert.equal(runQuarry(['index', dir]).status, 0);
    const gens = readdirSync(q).filter((e) => e.startsWith('gen-'));
    assert.equal(gens.length, 2, `generations kept: ${gens.join(' ')}`);
  });

  it('replaces the real files of an older layout with links, keeping the bytes a reader gets', () => {
    const dir = mkdtempSync(join(root, 'old-layout-'));
    mkdirSync(join(dir, 'gems'));
    writeFileSync(join(dir, 'gems', 'good-1.0.gem'), makeGem({ name: 'good', version: '1.0' }));
    assert.equal(runQuarry(['index', dir]).status, 0);
    const served = Object.fromEntries(servedFiles(dir).map((f) => [f, readFileSync(join(dir, f))]));
    // As an older Quarry (or gem generate_index) left it: real files and folders, no generations.
    const flat = mkdtempSync(join(root, 'flat-'));
    for (const [f, body] of Object.entries(served)) {
      mkdirSync(dirname(join(flat, f)), { recursive: true });
      writeFileSync(join(flat, f), body);
    }
    writeFileSync(join(flat, 'info', 'stale'), 'from an old run');
    const r = runQuarry(['index', flat], { env: { SOURCE_DATE_EPOCH: undefined } });
    assert.equal(r.status, 0, r.stderr);
    for (const p of ['versions', 'info', 'quick', 'specs.4.8.gz']) {
      assert.ok(lstatSync(join(flat, p)).isSymbolicLink(), `${p} is a link now`);
    }
    assert.equal(readPublished(flat).kind, 'index');
    assert.deepEqual(readdirSync(join(flat, 'info')), ['good']);
    for (const f of servedFiles(flat).filter((f) => f !== 'versions')) {
      assert.ok(readFileSync(join(flat, f)).equals(served[f]!), `${f} differs`);
    }
  });
});
