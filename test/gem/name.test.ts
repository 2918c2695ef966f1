import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuarryError } from '../../src/errors.ts';
import {
  gemFileName,
  isValidGemName,
  parseGemFileName,
  quickSpecFileName,
  validateGemName,
} from '../../src/gem/name.ts';
import { normalizePlatform } from '../../src/gem/platform.ts';
import { normalizeVersion } from '../../src/gem/version.ts';
import { rubyOnce } from '../support/ruby.ts';

describe('gem names', () => {
  it('accepts names that follow the rubygems.org rule', () => {
    for (const ok of [
      'rails',
      'a',
      'A1',
      '1a',
      'foo-bar',
      'foo_bar',
      'foo.bar',
      'net-http-persistent',
      'x-1.0',
    ]) {
      assert.equal(isValidGemName(ok), true, ok);
      assert.doesNotThrow(() => validateGemName(ok));
    }
  });
  it('rejects the rest with invalid_name, naming the bad name', () => {
    for (const bad of [
      '',
      '1',
      '123',
      '-foo',
      '.foo',
      '_foo',
      'foo bar',
      'foo/bar',
      'föo',
      'foo\n',
      '../x',
      'a:b',
    ]) {
      assert.equal(isValidGemName(bad), false, JSON.stringify(bad));
      assert.throws(
        () => validateGemName(bad),
        (e) => isQuarryError(e) && e.code === 'invalid_name' && e.message.includes(JSON.stringify(bad)),
      );
    }
  });
});

describe('file names', () => {
  it('omits the ruby platform', () => {
    assert.equal(gemFileName('rails', '7.0.4', 'ruby'), 'rails-7.0.4.gem');
    assert.equal(gemFileName('rails', '7.0.4'), 'rails-7.0.4.gem');
    assert.equal(gemFileName('nokogiri', '1.13.0', 'x86_64-linux'), 'nokogiri-1.13.0-x86_64-linux.gem');
    assert.equal(quickSpecFileName('rails', '7.0.4', 'ruby'), 'rails-7.0.4.gemspec.rz');
    assert.equal(quickSpecFileName('ffi', '1.0', 'x86-mingw32'), 'ffi-1.0-x86-mingw32.gemspec.rz');
  });

  it('parseGemFileName splits at the first part that is a valid version starting with a digit', () => {
    assert.deepEqual(parseGemFileName('foo-bar-1.0.0-x86_64-linux.gem'), {
      name: 'foo-bar',
      version: '1.0.0',
      platform: 'x86_64-linux',
    });
    assert.deepEqual(parseGemFileName('rails-7.0.4.gem'), {
      name: 'rails',
      version: '7.0.4',
      platform: 'ruby',
    });
    assert.deepEqual(parseGemFileName('ffi-1.0.pre.rc1-x64-mingw-ucrt.gemspec.rz'), {
      name: 'ffi',
      version: '1.0.pre.rc1',
      platform: 'x64-mingw-ucrt',
    });
    assert.deepEqual(parseGemFileName('jruby-jars-9.4.0.0-universal-java-11'), {
      name: 'jruby-jars',
      version: '9.4.0.0',
      platform: 'universal-java-11',
    });
    // A name part that looks like a version cannot be told apart (documented limit).
    assert.deepEqual(parseGemFileName('foo-2-bar-1.0.gem'), {
      name: 'foo',
      version: '2',
      platform: 'bar-1.0',
    });
    // A name part that starts with a digit but is not a version is fine.
    assert.deepEqual(parseGemFileName('x-1st-0.1.gem'), { name: 'x-1st', version: '0.1', platform: 'ruby' });
    // "foo-" is a valid gem name (a trailing "-" is allowed).
    assert.deepEqual(parseGemFileName('foo--1.0.gem'), { name: 'foo-', version: '1.0', platform: 'ruby' });
    for (const bad of [
      'rails.gem',
      'rails-.gem',
      '-1.0.gem',
      '1.0.gem',
      'foo-1.0-.gem',
      'foo-1.0-a/b.gem',
      'f o-1.gem',
    ]) {
      assert.equal(parseGemFileName(bad), null, bad);
    }
  });

  it('round-trips names, versions and platforms', () => {
    const names = ['a', 'foo-bar', 'foo_bar.baz', 'net-http-v2', 'x1'];
    const versions = ['0', '1.0', '1.0.pre.rc1', '10.2.3.4', '2.a'];
    const platforms = [
      'ruby',
      'java',
      'x86_64-linux',
      'universal-java-11',
      'x64-mingw-ucrt',
      'arm64-darwin-21',
    ];
    let n = 0;
    for (const name of names)
      for (const version of versions)
        for (const platform of platforms) {
          assert.deepEqual(parseGemFileName(gemFileName(name, version, platform)), {
            name,
            version,
            platform,
          });
          assert.deepEqual(parseGemFileName(quickSpecFileName(name, version, platform)), {
            name,
            version,
            platform,
          });
          n++;
        }
    assert.equal(n, 150);
  });
});

describe('cross-check with real Ruby (Gem::Specification#file_name / original_name)', () => {
  const cases: [string, string, string][] = [
    ['rails', '7.0.4', 'ruby'],
    ['foo-bar', '1.0-rc1', 'ruby'],
    ['nokogiri', '1.13.0', 'x86_64-linux'],
    ['nokogiri', '1.13.0', 'x86_64-linux-gnu'],
    ['ffi', '1.0', 'i386-mswin32'],
    ['ffi', '1.0', 'x64-mingw-ucrt'],
    ['jruby-jars', '9.4.0.0', 'universal-java-11'],
    ['json', '2.6.1', 'java'],
    ['sqlite3', '1.5.0', 'i686-linux'],
    ['x', ' 1.0 ', 'arm64-darwin-21'],
  ];
  const script = `
    out = JSON.parse($stdin.read).map do |name, version, platform|
      spec = Gem::Specification.new do |s|
        s.name = name
        s.version = version
        s.platform = platform
      end
      [spec.file_name, spec.original_name + ".gemspec.rz", spec.version.to_s]
    end
    puts JSON.generate(out)
  `;
  const res = rubyOnce<[string, string, string][]>(script, cases);

  it('gemFileName with the normalized platform is file_name; quickSpecFileName uses the original', () => {
    cases.forEach(([name, version, platform], i) => {
      const [fileName, quick, v] = res()[i]!;
      assert.equal(normalizeVersion(version), v);
      assert.equal(gemFileName(name, v, normalizePlatform(platform)), fileName);
      assert.equal(quickSpecFileName(name, v, platform), quick);
    });
  });
});
