import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuarryError } from '../../src/errors.ts';
import {
  bump,
  canonicalSegments,
  canonicalVersion,
  compareVersions,
  isPrerelease,
  isValidVersion,
  normalizeVersion,
  releaseOf,
  sortVersions,
  versionSegments,
  versionsEqual,
} from '../../src/gem/version.ts';
import { rubyOnce } from '../support/ruby.ts';

/** Deterministic PRNG (mulberry32) so failures can be reproduced. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// PROTOCOL.md section 10, "Results" table: [a, b, a <=> b].
const TABLE: [string, string, -1 | 0 | 1][] = [
  ['1.0', '1.0.0', 0],
  ['1', '1.0.0.0', 0],
  ['1.0.a', '1.0', -1],
  ['1.0.1.a', '1.0', 1],
  ['1.0.b1', '1.0.b.1', 0],
  ['1.0.a9', '1.0.a10', -1],
  ['1.0.beta10', '1.0.beta9', 1],
  ['1.0.rc1', '1.0.beta', 1],
  ['1.0.pre', '1.0.alpha', 1],
  ['1.0.A', '1.0.a', -1],
  ['1.0.0.Z', '1.0.0.a', -1],
  ['2.0.0.1', '2.0.0.a', 1],
  ['1.0.0.a', '1.a', 0],
  ['1.0.a.0', '1.0.a', 0],
  ['3.0.0.rc', '3.0.0.rc.1', -1],
  ['1.0.0-pre', '1.0.0.pre', -1],
  ['1.10', '1.9', 1],
  ['1.01', '1.1', 0],
  ['0.10.0', '0.9.9', 1],
  ['0', '0.0.0.a', 1],
];

const TRICKY = [
  ...TABLE.flatMap(([a, b]) => [a, b] as string[]),
  '',
  ' ',
  '  1.0  ',
  '1.0\n',
  '\t2.1\r\n',
  '1.0-rc1',
  '1.0--',
  '1-a-b',
  '1.0.0-pre.1',
  '0.9',
  '1.0.b1',
  '1.0.rc',
  '1.0.1',
  '10.0.0.0.0.1',
  '1.99999999999999999999',
  '1.99999999999999999998',
  '1.0000000000000000000000001',
  '007',
  '7',
  '1.a.0.b',
  '1.a',
  '1.A',
  '1.0.z',
  '2',
  '2.0.0.0.a.0.0',
  '1.2.3.4.5.6.7.8.9',
  'v1.0',
  '1..0',
  '1.0_1',
  '1.0-',
  '.1',
  '1.',
  '1 0',
  '-1',
  'a',
  '1.0\n\n',
  '1.0\u00a0',
];

function randomVersions(count: number, seed: number): string[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const letters = ['a', 'b', 'rc', 'pre', 'alpha', 'beta', 'A', 'Z', 'dev', 'x'];
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    const parts: string[] = [String(Math.floor(r() * 4))];
    const len = Math.floor(r() * 5);
    for (let i = 0; i < len; i++) {
      const k = r();
      if (k < 0.55) parts.push(`.${Math.floor(r() * (r() < 0.8 ? 3 : 20))}`);
      else if (k < 0.75) parts.push(`.${pick(letters)}`);
      else if (k < 0.85) parts.push(`.${pick(letters)}${Math.floor(r() * 11)}`);
      else if (k < 0.92) parts.push(`-${pick(letters)}`);
      else if (k < 0.96) parts.push(`.0${Math.floor(r() * 3)}`);
      else parts.push(pick(['..', '_1', '-', '.', ' x', 'é']));
    }
    let s = parts.join('');
    if (r() < 0.05) s = ` ${s}\t`;
    out.push(s);
  }
  return out;
}

describe('normalizeVersion / isValidVersion', () => {
  it('follows PROTOCOL.md section 10 syntax rules', () => {
    assert.equal(normalizeVersion(''), '0');
    assert.equal(normalizeVersion('   '), '0');
    assert.equal(normalizeVersion(' 1.0 '), '1.0');
    assert.equal(normalizeVersion('1.0\n'), '1.0');
    assert.equal(normalizeVersion('1.0-rc1'), '1.0.pre.rc1');
    assert.equal(normalizeVersion('1.0.0-pre'), '1.0.0.pre.pre');
    for (const bad of ['v1.0', '1..0', '1.0_1', '1.0-', 'a', '1 0']) {
      assert.equal(isValidVersion(bad), false, bad);
      assert.throws(
        () => normalizeVersion(bad),
        (e) => isQuarryError(e) && e.code === 'invalid_version' && e.message.includes(JSON.stringify(bad)),
      );
    }
  });
});

describe('segments, canonical segments, prerelease', () => {
  it('matches the documented examples', () => {
    assert.deepEqual(versionSegments('1.0.a1'), [1, 0, 'a', 1]);
    assert.deepEqual(versionSegments('1.0.b1'), versionSegments('1.0.b.1'));
    assert.deepEqual(canonicalSegments('1.0.0'), [1]);
    assert.deepEqual(canonicalSegments('1.0.0.a.0'), [1, 'a']);
    assert.deepEqual(canonicalSegments('0.10.0'), [0, 10]);
    assert.equal(canonicalVersion('1.0.0.a.0'), '1.a');
    assert.equal(isPrerelease('1.0.a'), true);
    assert.equal(isPrerelease('1.0-1'), true);
    assert.equal(isPrerelease('1.0.0'), false);
    assert.deepEqual(versionSegments('1.99999999999999999999'), [1, 99999999999999999999n]);
  });
  it('release and bump', () => {
    assert.equal(releaseOf('1.0.a.2'), '1.0');
    assert.equal(releaseOf('1.2.3'), '1.2.3');
    assert.equal(bump('1.2.3'), '1.3');
    assert.equal(bump('1'), '2');
    assert.equal(bump('1.2.a'), '2');
    assert.equal(bump('1.9007199254740993'), '2');
    assert.equal(bump('1.9007199254740993.1'), '1.9007199254740994');
  });
});

describe('compareVersions: PROTOCOL.md section 10 table', () => {
  for (const [a, b, want] of TABLE) {
    it(`${a} <=> ${b} is ${want}`, () => {
      assert.equal(compareVersions(a, b), want);
      assert.equal(compareVersions(b, a), -want || 0);
    });
  }
  it('"1.0" == "1.0.0" but the strings (eql?) differ and canonical forms (hash) agree', () => {
    assert.equal(versionsEqual('1.0', '1.0.0'), true);
    assert.notEqual(normalizeVersion('1.0'), normalizeVersion('1.0.0'));
    assert.equal(canonicalVersion('1.0'), canonicalVersion('1.0.0'));
  });
  it('sorts the documented sample', () => {
    const sorted = sortVersions(['1.0.1', '1.0', '1.0.rc', '1.0.b1', '0.9', '1.0.a', '1.0.0', '1.0.b.1']);
    assert.deepEqual(
      sorted.map(canonicalVersion),
      ['0.9', '1.a', '1.b.1', '1.b.1', '1.rc', '1', '1', '1.0.1'].map(canonicalVersion),
    );
  });
  it('sorts 20,000 versions', () => {
    const many = randomVersions(20_000, 7).filter(isValidVersion);
    const sorted = sortVersions(many);
    assert.equal(sorted.length, many.length);
    for (let i = 1; i < sorted.length; i++) assert.ok(compareVersions(sorted[i - 1]!, sorted[i]!) <= 0);
  });
});

describe('cross-check with real Ruby (Gem::Version)', () => {
  const inputs = [...TRICKY, ...randomVersions(260, 42)];
  const script = `
    list = JSON.parse($stdin.read)
    per = list.map do |s|
      if Gem::Version.correct?(s)
        v = Gem::Version.new(s)
        { "ok" => true, "version" => v.version, "pre" => v.prerelease?,
          "canon" => v.canonical_segments.join("."), "segments" => v.segments.map(&:to_s),
          "release" => v.release.version, "bump" => v.bump.version }
      else
        begin
          Gem::Version.new(s)
          { "ok" => true, "error" => "constructed" }
        rescue ArgumentError
          { "ok" => false }
        end
      end
    end
    valid = list.select { |s| Gem::Version.correct?(s) }
    vs = valid.map { |s| Gem::Version.new(s) }
    sorted = vs.sort.map { |v| v.canonical_segments.join(".") }
    sub = valid.first(70)
    pairs = sub.map { |a| sub.map { |b| Gem::Version.new(a) <=> Gem::Version.new(b) } }
    puts JSON.generate({ "per" => per, "sorted" => sorted, "pairs" => pairs })
  `;
  type PerItem = {
    ok: boolean;
    version?: string;
    pre?: boolean;
    canon?: string;
    segments?: string[];
    release?: string;
    bump?: string;
  };
  const res = rubyOnce<{ per: PerItem[]; sorted: string[]; pairs: number[][] }>(script, inputs);
  const valid = inputs.filter(isValidVersion);

  it('has a meaningful mix of valid and invalid inputs', () => {
    assert.ok(inputs.length >= 300, `${inputs.length} inputs`);
    assert.ok(valid.length >= 200 && valid.length < inputs.length, `${valid.length} valid`);
  });
  it('agrees on validity, normalization, prerelease?, segments, canonical segments, release, bump', () => {
    inputs.forEach((s, i) => {
      const want = res().per[i]!;
      assert.equal(isValidVersion(s), want.ok, `valid? ${JSON.stringify(s)}`);
      if (!want.ok) return;
      const label = JSON.stringify(s);
      assert.equal(normalizeVersion(s), want.version, label);
      assert.equal(isPrerelease(s), want.pre, label);
      assert.equal(canonicalVersion(s), want.canon, label);
      assert.deepEqual(versionSegments(s).map(String), want.segments, label);
      assert.equal(releaseOf(s), want.release, label);
      assert.equal(bump(s), want.bump, label);
    });
  });
  it('sorts the whole list in the same order', () => {
    assert.deepEqual(sortVersions(valid).map(canonicalVersion), res().sorted);
  });
  it('agrees on all pairwise comparisons of a subset', () => {
    const sub = valid.slice(0, 70);
    let nonZero = 0;
    sub.forEach((a, i) => {
      sub.forEach((b, j) => {
        const want = res().pairs[i]![j];
        if (want !== 0) nonZero++;
        assert.equal(compareVersions(a, b), want, `${JSON.stringify(a)} <=> ${JSON.stringify(b)}`);
      });
    });
    assert.ok(nonZero > 1000);
  });
});
