/**
 * The fast gemspec reader must agree with the general YAML loader on everything it accepts, and
 * accept what RubyGems writes. Inputs come from real Psych output at test time.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
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

// Psych's to_yaml of every installed spec, plus specs made to stress quoting, wrapping and nils.
const RUBY = String.raw`
dir = ARGV[0]
Gem::Specification.each { |s| File.write(File.join(dir, "#{s.full_name}.yaml"), s.to_yaml) }
base = Gem::Specification.new do |x|
  x.name = "stress"; x.version = "1.0.0.pre.1"; x.summary = "A " * 80
  x.description = "Line one\n\nLine three with \"quotes\" and: colons # hash\n  indented\n\n\n"
  x.authors = ["Ünïcödé Ñame", "O'Brien", "- dash", "#hash", "yes", "1.5", "~"]
  x.email = ["a@b.c", nil]
  x.metadata = { "source_code_uri" => "https://x.y/z", "weird key: x" => "v: w", "k2" => "'quoted'", "e" => "" }
  x.homepage = "https://h.example"; x.post_install_message = "Thanks!\n"; x.platform = "x86_64-linux"
  x.add_runtime_dependency "rack", ">= 1.0", "< 3"
  x.add_development_dependency "rake", "~> 13.0"
  x.required_ruby_version = [">= 2.7", "< 4"]
  x.licenses = ["MIT", "Apache-2.0"]
end
File.write(File.join(dir, "stress.yaml"), base.to_yaml)
[["tabs", "tab\there \u0001 ctl"], ["quoted", "\"" + ("long quoted é " * 12) + "\\ back"],
 ["bool", "true"], ["num", "1.5"], ["colon", "key: value"], ["emoji", "✓ " * 50], ["crlf", "a\r\nb"]].each do |n, summary|
  s = base.dup; s.name = n; s.summary = summary; s.description = summary * 3
  File.write(File.join(dir, "#{n}.yaml"), s.to_yaml)
end
`;

describe('fast Psych gemspec reader', () => {
  it('agrees with the general loader on real Psych output, and takes the fast path for it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'quarry-psych-'));
    try {
      execFileSync('ruby', ['-e', RUBY, dir]);
      const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
      assert.ok(files.length >= 20, `only ${files.length} specs`);
      let fast = 0;
      for (const f of files) {
        const yaml = readFileSync(join(dir, f), 'utf8');
        const got = fastLoadGemspec(yaml);
        if (got === null) continue;
        fast++;
        assert.deepStrictEqual(got, slow(yaml), f);
      }
      // What RubyGems writes should mostly take the fast path; it may decline rare shapes.
      assert.ok(fast >= files.length * 0.9, `fast path taken for ${fast} of ${files.length}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
