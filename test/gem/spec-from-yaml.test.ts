import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_GEM_LIMITS } from '../../src/gem/limits.ts';
import { specFromYaml } from '../../src/gem/spec-from-yaml.ts';
import { loadRubyYaml } from '../../src/gem/yaml.ts';
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

/** Compare specFromYaml with Gem::Specification.from_yaml on the same document. */
function compareWithRuby(yaml: string, skip: (keyof RubySpec)[] = []) {
  const ruby = rubyGems<{ spec?: RubySpec; error?: string }>('from-yaml', [], yaml);
  assert.ok(ruby.spec, `Ruby loads it: ${ruby.error}`);
  const actual = specAsRuby(specFromYaml(load(yaml), DEFAULT_GEM_LIMITS)) as unknown as Record<
    string,
    unknown
  >;
  const expected = { ...ruby.spec } as Record<string, unknown>;
  for (const k of skip) {
    delete actual[k];
    delete expected[k];
  }
  assert.deepEqual(actual, expected);
}

describe('specFromYaml agrees with Gem::Specification.from_yaml', () => {
  test('a Syck-era gemspec: Gem::Platform object, legacy version_requirements, zone offset date', () => {
    compareWithRuby(
      [
        '--- !ruby/object:Gem::Specification ',
        'name: oldgem',
        'version: !ruby/object:Gem::Version ',
        '  version: 0.9.2',
        'platform: !ruby/object:Gem::Platform ',
        '  cpu: x86',
        '  os: mswin32',
        '  version: "60"',
        'authors: ',
        '- Old Author',
        'autorequire: ',
        'bindir: bin',
        'cert_chain: []',
        '',
        'date: 2008-06-01 00:00:00 +02:00',
        'default_executable: ',
        'dependencies: ',
        '- !ruby/object:Gem::Dependency ',
        '  name: hpricot',
        '  type: :runtime',
        '  version_requirement: ',
        '  version_requirements: !ruby/object:Gem::Requirement ',
        '    requirements: ',
        '    - - ">="',
        '      - !ruby/object:Gem::Version ',
        '        version: "0.6"',
        '    version: ',
        'description: An old gem',
        'email: old@example.com',
        'executables: []',
        '',
        'extensions: []',
        '',
        'files: ',
        '- lib/old.rb',
        'has_rdoc: true',
        'homepage: http://old.example.com',
        'post_install_message: ',
        'require_paths: ',
        '- lib',
        'required_ruby_version: !ruby/object:Gem::Requirement ',
        '  requirements: ',
        '  - - ">="',
        '    - !ruby/object:Gem::Version ',
        '      version: "0"',
        '  version: ',
        'rubyforge_project: old',
        'rubygems_version: 1.2.0',
        'signing_key: ',
        'specification_version: 2',
        'summary: An old gem',
        'test_files: []',
        '',
      ].join('\n'),
      ['requiredRubygemsVersion'],
    );
  });

  test('an early-Psych gemspec with &id001 aliases and a glued "Z" date', () => {
    compareWithRuby(
      [
        '--- !ruby/object:Gem::Specification',
        'name: psychgem',
        'version: !ruby/object:Gem::Version',
        '  version: 1.2.3.beta',
        '  prerelease: ',
        'platform: ruby',
        'authors:',
        '- A',
        '- B',
        'date: 2011-04-26 00:00:00.000000000Z',
        'dependencies:',
        '- !ruby/object:Gem::Dependency',
        '  name: rack',
        '  requirement: &id001 !ruby/object:Gem::Requirement',
        '    none: false',
        '    requirements:',
        '    - - ~>',
        '      - !ruby/object:Gem::Version',
        '        version: "1.0"',
        '  type: :development',
        '  prerelease: false',
        '  version_requirements: *id001',
        'email:',
        '- a@example.com',
        '- ',
        'licenses: []',
        'metadata: {}',
        'required_rubygems_version: !ruby/object:Gem::Requirement',
        '  none: false',
        '  requirements:',
        '  - - ">"',
        '    - !ruby/object:Gem::Version',
        '      version: 1.3.1',
        'rubygems_version: 1.8.1',
        'specification_version: 3',
        'summary: Psych era',
        '',
      ].join('\n'),
      ['email'],
    );
  });

  test('a sparse gemspec: missing and nil attributes get RubyGems defaults', () => {
    compareWithRuby(
      gemspecYaml({
        platform: '',
        authors: '<omit>',
        dependencies: '<omit>',
        metadata: '',
        require_paths: '',
        rubygems_version: '<omit>',
        specification_version: '<omit>',
        bindir: '',
        licenses: '',
      }),
    );
  });

  test('a RubyGems >= 3.6 gemspec: no nil attributes, normalized platform plus original_platform', () => {
    compareWithRuby(
      gemspecYaml({ platform: 'x86-linux', original_platform: 'i686-linux', metadata: '\n  a: "1"\n  b: x' }),
    );
  });

  test('where Quarry normalizes: empty requirements and nested require_paths; nil email items stay', () => {
    const yaml = [
      '--- !ruby/object:Gem::Specification',
      'name: x',
      'version: !ruby/object:Gem::Version',
      '  version: 1.0.0',
      'author: Solo',
      'email:',
      '-',
      '- a@example.com',
      'require_paths:',
      '- - lib',
      '  - ext',
      '- other',
      "date: '2020-03-04'",
      'dependencies:',
      '- !ruby/object:Gem::Dependency',
      '  name: rack',
      '  requirement: !ruby/object:Gem::Requirement',
      '    requirements: []',
      'summary: s',
      '',
    ].join('\n');
    compareWithRuby(yaml, ['dependencies', 'requirePaths']);
    const spec = specFromYaml(load(yaml), DEFAULT_GEM_LIMITS);
    // RubyGems keeps `requirements: []` and the nesting; Quarry's model has no empty requirement.
    assert.deepEqual(spec.dependencies[0]?.requirement, [{ op: '>=', version: '0' }]);
    assert.deepEqual(spec.requirePaths, ['lib', 'ext', 'other']);
    assert.deepEqual(spec.email, [null, 'a@example.com']);
    assert.deepEqual(spec.authors, []);
  });

  test('a gemspec with no date gets 1980-01-02 (RubyGems uses the clock)', () => {
    const spec = specFromYaml(load(gemspecYaml({ date: '<omit>' })), DEFAULT_GEM_LIMITS);
    assert.equal(spec.date.toISOString(), '1980-01-02T00:00:00.000Z');
  });
});
