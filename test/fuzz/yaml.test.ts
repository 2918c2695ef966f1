/**
 * Fuzzing the YAML side of the gem reader: the safe Ruby-YAML loader (yaml.ts), the fast Psych
 * gemspec reader (yaml-fast.ts), the checksums reader, and the spec built from what they return.
 * Each input loads or fails with a QuarryError; and whatever the fast reader accepts, the general
 * loader reads to the same value (the fast path must never change what a gem means).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { DEFAULT_GEM_LIMITS } from '../../src/gem/limits.ts';
import { specFromYaml } from '../../src/gem/spec-from-yaml.ts';
import { loadChecksumsYaml, loadRubyYaml } from '../../src/gem/yaml.ts';
import { fastLoadGemspec } from '../../src/gem/yaml-fast.ts';
import { gemspecYaml } from '../support/make-gem.ts';
import { onlyQuarryErrors, params, textMutationsOf, timeout } from './support.ts';

const CORPUS = fileURLToPath(new URL('../fixtures/psych-gemspecs/specs/', import.meta.url));
const SPECS = [
  ...['rake-13.0.6', 'bundler-2.3.7', 'stress', 'quoted', 'crlf', 'tabs']
    .map((n) => join(CORPUS, `${n}.yaml`))
    .filter((p) => readdirSync(CORPUS).includes(p.slice(CORPUS.length)))
    .map((p) => readFileSync(p, 'utf8')),
  gemspecYaml({
    name: 'x',
    version: '1.0.a',
    platform: 'java',
    deps: [['y', '>= 1', '< 2']],
    devDeps: [['z']],
  }),
];

const OPTS = { what: 'metadata', maxLength: 64 * 1024, maxAliasCount: 100, maxAnchors: 100 };
const slow = (text: string) => loadRubyYaml(text, { ...OPTS, code: 'invalid_spec' });

/** YAML-ish text: the characters that matter to YAML, in random order. */
const yamlish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '\n',
        ' ',
        '  ',
        '- ',
        ': ',
        '---',
        '...',
        '!ruby/object:Gem::Specification',
        '!ruby/object:Gem::Version',
        '!ruby/object:OpenStruct',
        '!binary',
        '&a ',
        '*a',
        '<<: ',
        '"',
        "'",
        '|',
        '>',
        '{',
        '}',
        '[',
        ']',
        ',',
        '#',
        '\\',
        '\t',
        ':',
        '%YAML 1.1',
        'name',
        'version',
        'dependencies',
        'requirements',
        ':runtime',
        '2024-01-01',
        '0x1F',
        '1e3',
        '.inf',
        '~',
        'null',
        'yes',
        '\u2028',
        '\uFEFF',
        '\u0000',
      ),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 60 },
  )
  .map((parts) => parts.join(''));

const texts = fc.oneof(textMutationsOf(SPECS, 8), yamlish, fc.string({ maxLength: 300 }));

describe('fuzz: YAML', () => {
  it('loadRubyYaml: loads or throws a QuarryError', { timeout: timeout(3000) }, () => {
    fc.assert(
      fc.property(texts, (t) => {
        onlyQuarryErrors(() => slow(t));
      }),
      params(3000),
    );
  });

  it('fastLoadGemspec: never throws, and agrees with loadRubyYaml on all it accepts', {
    timeout: timeout(3000),
  }, () => {
    fc.assert(
      fc.property(textMutationsOf(SPECS, 4), (t) => {
        const fast = fastLoadGemspec(t);
        if (fast === null) return;
        assert.deepStrictEqual(fast, slow(t));
      }),
      params(3000),
    );
  });

  it('specFromYaml over either reader: a spec or a QuarryError', { timeout: timeout(3000) }, () => {
    fc.assert(
      fc.property(texts, (t) => {
        onlyQuarryErrors(() => specFromYaml(fastLoadGemspec(t) ?? slow(t), DEFAULT_GEM_LIMITS));
      }),
      params(3000),
    );
  });

  it('loadChecksumsYaml: digests or a QuarryError', { timeout: timeout(2000) }, () => {
    const base = `---\nSHA256:\n  metadata.gz: ${'ab'.repeat(32)}\n  data.tar.gz: '${'1'.repeat(64)}'\nSHA512:\n  metadata.gz: ${'cd'.repeat(64)}\n`;
    fc.assert(
      fc.property(fc.oneof(textMutationsOf([base], 6), yamlish), (t) => {
        const r = onlyQuarryErrors(() => loadChecksumsYaml(t, OPTS));
        if (!(r instanceof Error)) {
          for (const [algo, digests] of Object.entries(r)) {
            assert.equal(typeof algo, 'string');
            for (const v of Object.values(digests)) assert.equal(typeof v, 'string');
          }
        }
      }),
      params(2000),
    );
  });
});
