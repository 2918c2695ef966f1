import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuarryError } from '../../src/errors.ts';
import {
  compactIndexRequirement,
  dependencyMatches,
  isDefaultRequirement,
  isPrereleaseRequirement,
  parseConstraint,
  parseRequirement,
  requirementToString,
  satisfiedBy,
} from '../../src/gem/requirement.ts';
import { DEFAULT_REQUIREMENT } from '../../src/gem/spec.ts';
import { rubyOnce } from '../support/ruby.ts';

describe('parseRequirement', () => {
  it('parses single constraints, bare versions and comma lists', () => {
    assert.deepEqual(parseRequirement('~> 1.2'), [{ op: '~>', version: '1.2' }]);
    assert.deepEqual(parseRequirement('1.0'), [{ op: '=', version: '1.0' }]);
    assert.deepEqual(parseRequirement('>=1.0-rc1'), [{ op: '>=', version: '1.0.pre.rc1' }]);
    assert.deepEqual(parseRequirement('>= 1.0, < 2'), [
      { op: '>=', version: '1.0' },
      { op: '<', version: '2' },
    ]);
    assert.deepEqual(parseRequirement(['> 1', '!= 1.5']), [
      { op: '>', version: '1' },
      { op: '!=', version: '1.5' },
    ]);
    assert.deepEqual(parseRequirement(''), DEFAULT_REQUIREMENT);
    assert.deepEqual(parseRequirement([]), DEFAULT_REQUIREMENT);
  });
  it('drops duplicate input strings only (as Ruby uniq! does before parsing)', () => {
    assert.equal(requirementToString(parseRequirement(['>= 1', '>= 1'])), '>= 1');
    assert.equal(requirementToString(parseRequirement(['>= 1', '>=1'])), '>= 1, >= 1');
  });
  it('rejects bad operators and versions with invalid_requirement', () => {
    for (const bad of [
      '=> 1.0',
      '~ 1',
      '>> 1',
      '>= v1',
      '>= 1..0',
      'abc',
      ' ',
      '>=',
      '1, , 2',
      ['>= 1, < 2'],
    ]) {
      assert.throws(
        () => parseRequirement(bad),
        (e) => isQuarryError(e) && e.code === 'invalid_requirement',
        JSON.stringify(bad),
      );
    }
    assert.throws(() => parseConstraint('=> 1'), /ill-formed requirement "=> 1"/);
  });
});

describe('requirement helpers', () => {
  it('requirementToString keeps the stored order', () => {
    assert.equal(requirementToString(parseRequirement('< 2, >= 1.0')), '< 2, >= 1.0');
  });
  it('isDefaultRequirement is Ruby none?', () => {
    assert.equal(isDefaultRequirement(DEFAULT_REQUIREMENT), true);
    assert.equal(isDefaultRequirement(parseRequirement('>= 0.0')), true);
    assert.equal(isDefaultRequirement(parseRequirement('>= 0.a')), false);
    assert.equal(isDefaultRequirement(parseRequirement('>= 0, >= 0.0')), false);
    assert.equal(isDefaultRequirement([]), false);
  });
  it('compactIndexRequirement sorts "op version" as byte strings (PROTOCOL.md 5.3)', () => {
    assert.equal(compactIndexRequirement(parseRequirement('>= 1.0, < 2')), '< 2&>= 1.0');
    assert.equal(compactIndexRequirement(parseRequirement('~> 1.1')), '~> 1.1');
    assert.equal(compactIndexRequirement(parseRequirement('= 1.0.0, != 1.3.0')), '!= 1.3.0&= 1.0.0');
  });
  it('~> and prerelease rules from PROTOCOL.md section 10', () => {
    const t = parseRequirement('~> 1.2');
    assert.equal(satisfiedBy(t, '1.9.9'), true);
    assert.equal(satisfiedBy(t, '2.0'), false);
    const t3 = parseRequirement('~> 1.2.0');
    assert.equal(satisfiedBy(t3, '1.2.9'), true);
    assert.equal(satisfiedBy(t3, '1.3'), false);
    const ge = parseRequirement('>= 1.0');
    assert.equal(satisfiedBy(ge, '2.0.rc1'), true);
    assert.equal(dependencyMatches(ge, '2.0.rc1'), false);
    assert.equal(dependencyMatches(ge, '2.0.rc1', { allowPrerelease: true }), true);
    assert.equal(isPrereleaseRequirement(parseRequirement('> 1.0.a')), true);
  });
});

describe('cross-check with real Ruby (Gem::Requirement)', () => {
  const stringInputs = [
    '~> 1.2',
    '~>1.2.0',
    '~> 1',
    '~> 0',
    '~> 1.0.a',
    '~> 2.0.0.rc1',
    '~> 1.2-rc',
    '1.0',
    '= 1.0',
    '!= 1.3.0',
    '> 1',
    '< 2',
    '<= 1.9.9',
    '>= 0',
    '>= 0.0',
    '>= 0.a',
    '>= 1.0, < 2',
    ' < 2 ,  >= 1.0 ',
    '>= 1, >= 1',
    '>= 1, >=1, 1',
    '> 1.0.a, < 1.0',
    '~> 1.1, >= 1.1.3',
    '= 1.0.0, != 1.3.0',
    '>= 2.7.0\n',
    '',
    '>= 1,',
    '=> 1',
    '~ 1',
    '>= v1',
    '1.0_1',
    ' ',
  ];
  const arrayInputs: string[][] = [
    [],
    ['>= 1', '< 2'],
    ['>= 1', '>= 1'],
    ['~> 3.0', '>= 3.0.2'],
    ['>= 1, < 2'],
    ['1.0', '= 1.0'],
  ];
  const versions = [
    '0',
    '0.a',
    '0.9',
    '1',
    '1.0.a',
    '1.0',
    '1.0.0',
    '1.0.1',
    '1.1',
    '1.1.3',
    '1.2.rc1',
    '1.2',
    '1.2.0',
    '1.2.9',
    '1.3',
    '1.3.0',
    '1.9.9',
    '1.99',
    '2.0.a',
    '2.0.0.rc1',
    '2.0.0.rc2',
    '2',
    '2.0.1',
    '2.7.0',
    '3.0.2',
    '3.1',
    '4',
    '10',
  ];
  const script = `
    input = JSON.parse($stdin.read)
    describe = lambda do |req|
      sat = input["versions"].map { |v| req.satisfied_by?(Gem::Version.new(v)) }
      m = input["versions"].map do |v|
        d = Gem::Dependency.new("x", req)
        [d.match?("x", v), d.match?("x", v, true)]
      end
      { "ok" => true, "to_s" => req.to_s, "none" => req.none?, "pre" => req.prerelease?,
        "ci" => req.to_s.split(", ").sort.join("&"), "sat" => sat, "match" => m,
        "list" => req.requirements.map { |op, v| [op, v.version] } }
    end
    run = lambda do |args|
      begin
        describe.call(Gem::Requirement.new(*args))
      rescue Gem::Requirement::BadRequirementError, ArgumentError
        { "ok" => false }
      end
    end
    strings = input["strings"].map { |s| run.call(s.split(/\\s*,\\s*/)) }
    arrays = input["arrays"].map { |a| run.call(a) }
    puts JSON.generate({ "strings" => strings, "arrays" => arrays })
  `;
  type Res = {
    ok: boolean;
    to_s?: string;
    none?: boolean;
    pre?: boolean;
    ci?: string;
    sat?: boolean[];
    match?: [boolean, boolean][];
    list?: [string, string][];
  };
  const res = rubyOnce<{ strings: Res[]; arrays: Res[] }>(script, {
    strings: stringInputs,
    arrays: arrayInputs,
    versions,
  });

  const check = (label: string, input: string | string[], want: Res) => {
    if (!want.ok) {
      assert.throws(
        () => parseRequirement(input),
        (e) => isQuarryError(e) && e.code === 'invalid_requirement',
        label,
      );
      return;
    }
    const r = parseRequirement(input);
    assert.deepEqual(
      r.map((c) => [c.op, c.version]),
      want.list,
      label,
    );
    assert.equal(requirementToString(r), want.to_s, label);
    assert.equal(isDefaultRequirement(r), want.none, label);
    assert.equal(isPrereleaseRequirement(r), want.pre, label);
    assert.equal(compactIndexRequirement(r), want.ci, label);
    versions.forEach((v, i) => {
      assert.equal(satisfiedBy(r, v), want.sat![i], `${label} satisfied_by? ${v}`);
      const [m, mPre] = want.match![i]!;
      assert.equal(dependencyMatches(r, v), m, `${label} match? ${v}`);
      assert.equal(dependencyMatches(r, v, { allowPrerelease: true }), mPre, `${label} match? ${v}, true`);
    });
  };

  it('agrees on parsing, to_s, none?, prerelease?, compact-index form and satisfied_by? (strings)', () => {
    assert.ok(res().strings.filter((x) => x.ok).length >= 20);
    stringInputs.forEach((s, i) => {
      check(JSON.stringify(s), s, res().strings[i]!);
    });
  });
  it('agrees for array inputs', () => {
    arrayInputs.forEach((a, i) => {
      check(JSON.stringify(a), a, res().arrays[i]!);
    });
  });
});
