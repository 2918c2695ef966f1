/**
 * The fast gemspec reader must agree with the general YAML loader on everything it accepts, and
 * accept what RubyGems writes. Inputs: real Psych output, committed in test/fixtures/psych-gemspecs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadRubyYaml } from '../../src/gem/yaml.ts';
import { fastLoadGemspec } from '../../src/gem/yaml-fast.ts';
import { gemspecYaml } from '../support/make-gem.ts';

const slow = (yaml: string) =>
  loadRubyYaml(yaml, {
    what: 'metadata',
    code: 'invalid_spec',
    maxLength: 10_000_000,
    maxAliasCount: 100,
    maxAnchors: 100,
  });

/**
 * Psych's to_yaml of the gems installed where test/fixtures/psych-gemspecs/make.rb last ran (91
 * real gems), plus specs made to stress quoting, wrapping and nils. Committed, so the test reads
 * the same corpus on every machine, whatever it has installed.
 */
const CORPUS = fileURLToPath(new URL('../fixtures/psych-gemspecs/specs/', import.meta.url));
/** The stress specs: the fast reader declines them (the general loader reads them). */
const STRESS = ['bool', 'colon', 'crlf', 'emoji', 'num', 'quoted', 'stress', 'tabs'].map((n) => `${n}.yaml`);

describe('fast Psych gemspec reader', () => {
  it('agrees with the general loader on real Psych output, and takes the fast path for every real gem', () => {
    const files = readdirSync(CORPUS)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    assert.equal(files.length, 99);
    const declined: string[] = [];
    for (const f of files) {
      const yaml = readFileSync(join(CORPUS, f), 'utf8');
      const got = fastLoadGemspec(yaml);
      const full = slow(yaml);
      if (got === null) declined.push(f);
      else assert.deepStrictEqual(got, full, f);
    }
    assert.deepEqual(declined, STRESS);
  });

  it('agrees on the gemspecs our test gem builder writes', () => {
    const yaml = gemspecYaml({
      name: 'x',
      version: '1.0.a',
      platform: 'java',
      deps: [['y', '>= 1', '< 2']],
      devDeps: [['z']],
    });
    assert.deepStrictEqual(fastLoadGemspec(yaml), slow(yaml));
  });

  it('declines what it does not handle, leaving errors to the general loader', () => {
    const base = gemspecYaml({ name: 'x', version: '1.0' });
    const declined = [
      base.replace('authors:\n- Test Author', 'authors: &a\n- Test Author\nx: *a'),
      base.replace('summary:', 'evil: !ruby/object:OpenStruct\n  a: 1\nsummary:'),
      base.replace('summary:', 'evil: !ruby/hash:Foo {}\nsummary:'),
      base.replace('summary:', '<<: {}\nsummary:'),
      base.replace('summary:', '# comment\nsummary:'),
      base.replace('licenses:\n- MIT', 'licenses: [MIT, BSD]'),
      base.replace('name: x', 'name: x\nname: y'),
      `${base}---\nsecond: doc\n`,
      base.replace('--- !ruby/object:Gem::Specification', '--- !ruby/object:Gem::Version'),
    ];
    for (const y of declined) assert.equal(fastLoadGemspec(y), null, y.slice(0, 80));
  });
});
