import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_GEM_LIMITS } from '../../src/gem/limits.ts';
import { specFromYaml } from '../../src/gem/spec-from-yaml.ts';
import { loadRubyYaml } from '../../src/gem/yaml.ts';
import { fastLoadGemspec } from '../../src/gem/yaml-fast.ts';
import { type RubySpec, rubyGems, specAsRuby } from './support/ruby-gems.ts';
import { gemspecYaml } from './support/ustar.ts';

const OPTS = {
  what: 'metadata.gz',
  code: 'invalid_spec' as const,
  maxLength: 10 * 1024 * 1024,
  maxAliasCount: 100,
  maxAnchors: 1000,
};
const load = (src: string) => loadRubyYaml(src, OPTS);

/** A deterministic generator of awkward strings for YAML round trips. */
function awkwardStrings(count: number): string[] {
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const atoms = [
    ...[
      'a',
      'Z',
      '9',
      ' ',
      '  ',
      ':',
      ': ',
      ' #',
      '#',
      '-',
      '- ',
      '?',
      '!',
      '&',
      '*',
      '|',
      '>',
      "'",
      '"',
      '\\',
    ],
    ...[
      '%',
      '@',
      '`',
      ',',
      '[',
      ']',
      '{',
      '}',
      '~',
      '\t',
      '\n',
      '\n\n',
      'é',
      '日本',
      '✓',
      '\u0085',
      '\u2028',
    ],
    ...[
      '\x01',
      '\x7f',
      'yes',
      'null',
      '1.0',
      '0755',
      ':runtime',
      ':foo',
      '<<',
      '---',
      '...',
      '2020-01-01',
      ' x ',
    ],
  ];
  const fixed = [
    '',
    ' ',
    'y',
    'n',
    'a: b',
    '- x',
    'x\n',
    'x\n\n',
    '\nx',
    ' lead',
    'trail ',
    '#c',
    'a #b',
    '@x',
  ];
  const out = [...fixed];
  while (out.length < count) {
    const long = rand(4) === 0;
    const parts = long ? 40 + rand(80) : 1 + rand(8);
    let s = '';
    for (let i = 0; i < parts; i++) s += long && rand(3) > 0 ? 'word ' : (atoms[rand(atoms.length)] ?? '');
    out.push(s);
  }
  return out;
}

describe('fastLoadGemspec', () => {
  test("gives the full loader's value for every real gemspec of the corpus, and engages on each", () => {
    // Psych's YAML of 91 real gems, committed (test/fixtures/psych-gemspecs/make.rb), so the test
    // reads the same input whatever the machine has installed. The stress specs beside them are
    // yaml-fast-psych.test.ts's.
    const dir = fileURLToPath(new URL('../fixtures/psych-gemspecs/specs/', import.meta.url));
    const files = readdirSync(dir).filter((f) => /-\d[^/]*\.yaml$/.test(f));
    assert.equal(files.length, 91);
    for (const f of files) {
      const doc = readFileSync(join(dir, f), 'utf8');
      const fast = fastLoadGemspec(doc);
      assert.ok(fast, `the fast reader takes ${f}`);
      assert.deepEqual(fast, load(doc), f);
    }
  });

  test("gives the full loader's value (or declines) on Psych dumps of awkward strings", () => {
    const strings = awkwardStrings(400);
    const dumps = rubyGems<{ yaml: string; spec: RubySpec }[]>('dump-yaml', [], JSON.stringify(strings));
    for (const { yaml, spec } of dumps) {
      // The full loader agrees with Psych on the strings themselves.
      assert.deepEqual(specAsRuby(specFromYaml(load(yaml), DEFAULT_GEM_LIMITS)), spec, yaml);
    }
    // The fast reader may decline a document; on each one it takes, it gives the same value.
    const taken = dumps.filter(({ yaml }) => fastLoadGemspec(yaml) !== null);
    assert.ok(taken.length > dumps.length / 2, `the fast reader took ${taken.length} of ${dumps.length}`);
    for (const { yaml } of taken) assert.deepEqual(fastLoadGemspec(yaml), load(yaml), yaml);
  });

  test('declines what it does not support, so the full loader decides', () => {
    const base = gemspecYaml();
    for (const doc of [
      base.replace('--- !ruby/object:Gem::Specification\n', '---\n'),
      base.replace('summary: Demo gem', 'summary: &a Demo gem\ndescription: *a'),
      base.replace('summary: Demo gem', 'summary: !ruby/object:OpenStruct\n  a: 1'),
      base.replace('summary: Demo gem', 'summary: Demo # comment'),
      base.replace('summary: Demo gem', 'summary: "quoted" # comment'),
      base.replace('summary: Demo gem', 'summary: "unterminated\nname: x'),
      base.replace('summary: Demo gem', 'summary: |2-\n   indented'),
      base.replace('summary: Demo gem', 'summary: >\n  folded'),
      base.replace('summary: Demo gem', 'summary: {a: 1}'),
      base.replace('summary: Demo gem', 'summary: x\nsummary: y'),
      base.replace('dependencies: []', 'dependencies:\n- !ruby/object:Gem::Dependency\n  type: :foo'),
      base.replace('name: demo', 'name: demo\r'),
      '--- !ruby/object:Gem::Specification\n',
    ]) {
      assert.equal(fastLoadGemspec(doc), null, doc);
    }
  });
});
