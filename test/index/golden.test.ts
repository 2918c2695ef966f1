/**
 * Golden compact-index tests: `quarry index DIR` on the fixture gems must write exactly the bytes that
 * test/fixtures/golden/make.rb derived from RubyGems' own objects (names, versions, info/NAME), for a
 * full build, an `--update` that adds a gem, and an `--update` after a gem file was removed (a yank).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const golden = join(root, 'test', 'fixtures', 'golden');
const bin = join(root, 'bin', 'quarry');

interface Scenarios {
  created_at: string;
  gems: string[];
  update: { add: string[]; expected: string };
  yank: { remove: string[]; name: string; token: string; expected: string };
}

const scenarios = JSON.parse(readFileSync(join(golden, 'scenarios.json'), 'utf8')) as Scenarios;

const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const temps: string[] = [];
function tempDir(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `quarry-golden-${label}-`));
  temps.push(d);
  return d;
}

/** Newest mtime of any file under dir (0 for an empty or missing dir). */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let max = 0;
  for (const f of readdirSync(dir, { recursive: true })) {
    const s = statSync(join(dir, String(f)));
    if (s.isFile()) max = Math.max(max, s.mtimeMs);
  }
  return max;
}

/** A repository folder with the base fixture gems in DIR/gems. */
function repoWithBaseGems(label: string): string {
  const dir = tempDir(label);
  mkdirSync(join(dir, 'gems'));
  for (const f of scenarios.gems) copyFileSync(join(golden, 'gems', f), join(dir, 'gems', f));
  return dir;
}

function quarryIndex(dir: string, ...args: string[]): void {
  try {
    execFileSync(process.execPath, [bin, 'index', dir, ...args], {
      env: { ...process.env, QUARRY_NOW: scenarios.created_at },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    assert.fail(
      `quarry index ${[dir, ...args].join(' ')} exited with ${err.status}\nstdout:\n${err.stdout}\nstderr:\n${err.stderr}`,
    );
  }
}

/** The compact-index files of a folder: names, versions and info/*, relative paths, sorted. */
function compactFiles(dir: string): string[] {
  const files = ['names', 'versions'].filter((f) => existsSync(join(dir, f)));
  const info = join(dir, 'info');
  if (existsSync(info)) for (const f of readdirSync(info).sort()) files.push(`info/${f}`);
  return files;
}

/** A line diff (longest common subsequence) in the `-expected` / `+actual` style. */
function lineDiff(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${JSON.stringify(a[i])}`);
      i++;
    } else {
      out.push(`+ ${JSON.stringify(b[j])}`);
      j++;
    }
  }
  return out.join('\n');
}

function assertSameBytes(label: string, actual: Buffer, expected: Buffer): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  assert.fail(
    `${label} differs from the golden file (expected ${expected.length} bytes, got ${actual.length}; ` +
      `first difference at byte ${at})\n--- expected\n+++ actual\n${lineDiff(expected.toString('utf8'), actual.toString('utf8'))}`,
  );
}

/** Same set of compact-index files, each byte-identical. */
function assertSameTree(actualDir: string, expectedDir: string): void {
  assert.deepEqual(
    compactFiles(actualDir),
    compactFiles(expectedDir),
    'the set of compact-index files differs',
  );
  for (const f of compactFiles(expectedDir)) {
    assertSameBytes(f, readFileSync(join(actualDir, f)), readFileSync(join(expectedDir, f)));
  }
}

after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

describe('golden fixtures', () => {
  test('the committed expectations are what RubyGems derives from the committed gems', () => {
    const out = tempDir('ruby');
    execFileSync('ruby', [join(golden, 'make.rb'), '--expected-only', '--out', out], { stdio: 'pipe' });
    for (const d of ['expected', scenarios.update.expected, scenarios.yank.expected]) {
      assertSameTree(join(out, d), join(golden, d));
    }
    assertSameBytes(
      'scenarios.json',
      readFileSync(join(out, 'scenarios.json')),
      readFileSync(join(golden, 'scenarios.json')),
    );
  });

  test('every fixture gem is listed once, with the SHA-256 of its bytes', () => {
    const info = compactFiles(join(golden, 'expected'))
      .filter((f) => f.startsWith('info/'))
      .map((f) => readFileSync(join(golden, 'expected', f), 'utf8'))
      .join('');
    assert.equal(info.split('\n').filter((l) => l.includes('|checksum:')).length, scenarios.gems.length);
    for (const f of scenarios.gems) {
      const sum = sha256(readFileSync(join(golden, 'gems', f)));
      assert.equal(
        info.split(`|checksum:${sum}`).length - 1,
        1,
        `${f}: checksum ${sum} not listed exactly once`,
      );
    }
  });
});

describe('quarry index DIR (compact index bytes)', () => {
  before(() => {
    const built = join(root, 'dist', 'cli', 'main.js');
    assert.ok(existsSync(built), 'quarry is not built: run `npm run build` first');
    assert.ok(
      statSync(built).mtimeMs >= newest(join(root, 'src')),
      'dist/ is older than src/: run `npm run build` first, or this test would check stale code',
    );
  });

  test('full build writes the golden names, versions and info/*', () => {
    const dir = repoWithBaseGems('full');
    quarryIndex(dir);
    assertSameTree(dir, join(golden, 'expected'));
  });

  test('--update after adding a gem appends exactly the new versions line', () => {
    const dir = repoWithBaseGems('update');
    quarryIndex(dir);
    const before = readFileSync(join(dir, 'versions'));
    for (const f of scenarios.update.add) copyFileSync(join(golden, 'update-gems', f), join(dir, 'gems', f));
    quarryIndex(dir, '--update');

    const after = readFileSync(join(dir, 'versions'));
    assertSameBytes('versions (old part)', after.subarray(0, before.length), before);
    const expectedVersions = readFileSync(join(golden, scenarios.update.expected, 'versions'));
    const base = readFileSync(join(golden, 'expected', 'versions'));
    assertSameBytes(
      'versions (appended part)',
      after.subarray(before.length),
      expectedVersions.subarray(base.length),
    );
    assertSameTree(dir, join(golden, scenarios.update.expected));
  });

  test('--update after removing a gem file appends a yank line and drops the info line', () => {
    const dir = repoWithBaseGems('yank');
    quarryIndex(dir);
    const before = readFileSync(join(dir, 'versions'));
    for (const f of scenarios.yank.remove) rmSync(join(dir, 'gems', f));
    quarryIndex(dir, '--update');

    const { name, token } = scenarios.yank;
    const info = readFileSync(join(dir, 'info', name));
    const removedLine = `${token.slice(1)} `;
    assert.ok(
      !info
        .toString('utf8')
        .split('\n')
        .some((l) => l.startsWith(removedLine)),
      `info/${name} still lists ${token.slice(1)}:\n${info}`,
    );
    const after = readFileSync(join(dir, 'versions'));
    assertSameBytes('versions (old part)', after.subarray(0, before.length), before);
    assert.equal(after.subarray(before.length).toString('utf8'), `${name} ${token} ${md5(info)}\n`);
    assertSameTree(dir, join(golden, scenarios.yank.expected));
  });
});
