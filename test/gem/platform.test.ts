import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isQuarryError } from '../../src/errors.ts';
import {
  isValidPlatformString,
  normalizePlatform,
  parsePlatform,
  platformToArray,
  platformToString,
  validatePlatformString,
} from '../../src/gem/platform.ts';
import { rubyOnce } from '../support/ruby.ts';

type Arr = [string | null, string, string | null];

// PROTOCOL.md section 9 table, RG 3.3.15 column: [input, to_a ('ruby' for the String), to_s].
const TABLE: [string, Arr | 'ruby', string][] = [
  ['ruby', 'ruby', 'ruby'],
  ['java', [null, 'java', null], 'java'],
  ['jruby', [null, 'java', null], 'java'],
  ['universal-java-11', ['universal', 'java', '11'], 'universal-java-11'],
  ['x86_64-linux', ['x86_64', 'linux', null], 'x86_64-linux'],
  ['x86_64-linux-gnu', ['x86_64', 'linux', null], 'x86_64-linux'],
  ['x86_64-linux-musl', ['x86_64', 'linux', 'musl'], 'x86_64-linux-musl'],
  ['aarch64-linux', ['aarch64', 'linux', null], 'aarch64-linux'],
  ['arm64-darwin', ['arm64', 'darwin', null], 'arm64-darwin'],
  ['arm64-darwin-21', ['arm64', 'darwin', '21'], 'arm64-darwin-21'],
  ['x86_64-darwin-19', ['x86_64', 'darwin', '19'], 'x86_64-darwin-19'],
  ['universal-darwin', ['universal', 'darwin', null], 'universal-darwin'],
  ['x86-mingw32', ['x86', 'mingw32', null], 'x86-mingw32'],
  ['x64-mingw32', ['x64', 'mingw32', null], 'x64-mingw32'],
  ['x64-mingw-ucrt', ['x64', 'mingw', 'ucrt'], 'x64-mingw-ucrt'],
  ['i386-mswin32', ['x86', 'mswin32', null], 'x86-mswin32'],
  ['x86-mswin32-60', ['x86', 'mswin32', '60'], 'x86-mswin32-60'],
  ['i686-linux', ['x86', 'linux', null], 'x86-linux'],
  ['armv7l-linux-eabihf', ['armv7l', 'linux', 'eabihf'], 'armv7l-linux-eabihf'],
  ['java-1.5', ['java', 'unknown', null], 'java-unknown'],
];

describe('parsePlatform: PROTOCOL.md section 9 table (RG 3.3.15)', () => {
  for (const [input, arr, str] of TABLE) {
    it(`${input} => ${str}`, () => {
      assert.deepEqual(platformToArray(parsePlatform(input)), arr);
      assert.equal(normalizePlatform(input), str);
    });
  }
  it('empty means ruby; "current" is refused', () => {
    assert.equal(parsePlatform(''), 'ruby');
    assert.equal(platformToString('ruby'), 'ruby');
    assert.throws(
      () => parsePlatform('current'),
      (e) => isQuarryError(e) && e.code === 'invalid_platform',
    );
  });
});

describe('isValidPlatformString', () => {
  it('accepts real platforms and rejects unsafe characters', () => {
    for (const ok of ['ruby', 'java', 'x86_64-linux', 'x64-mingw-ucrt', 'universal-java-1.8', 'foo-bar']) {
      assert.equal(isValidPlatformString(ok), true, ok);
      assert.doesNotThrow(() => validatePlatformString(ok));
    }
    for (const bad of [
      '',
      'x86 linux',
      'x86/linux',
      'a,b',
      'a|b',
      'a:b',
      'a\\b',
      'a\nb',
      'a\tb',
      'a\x00b',
      'a\x7f',
    ]) {
      assert.equal(isValidPlatformString(bad), false, JSON.stringify(bad));
      assert.throws(
        () => validatePlatformString(bad),
        (e) => isQuarryError(e) && e.code === 'invalid_platform' && e.message.includes(JSON.stringify(bad)),
      );
    }
  });
});

describe('cross-check with real Ruby (Gem::Platform.new)', () => {
  const inputs = [
    ...TABLE.map(([s]) => s),
    '',
    'mswin32',
    'mswin64',
    'x64-mswin64_140',
    'i386-mswin32_80',
    'x86-mswin32_60',
    'i586-linux',
    'xi486y-linux',
    'arm-linux-gnueabihf',
    'aarch64-linux-gnu',
    'aarch64-linux-musl',
    'arm-linux-musleabihf',
    'x86_64-linux-gnu-2',
    'a-linux-musl-x',
    'x86_64-linux-android',
    'powerpc-aix5.3.0.0',
    'powerpc-aix-5',
    'i386-cygwin',
    'universal-macruby',
    'x86_64-darwin22',
    'universal-darwin-8.1',
    'i386-freebsd8',
    'hppa2.0w-hpux11.31',
    'universal-java1.6',
    'universal-javafoo',
    'dalvik21',
    'universal-dotnet',
    'universal-dotnet2.0',
    'x86-mingw',
    'x64-mingw-foo',
    'i386-netbsdelf',
    'x86_64-openbsd3.7',
    'x86_64-openbsd',
    'amd64-bitrig5.4',
    'sparc-solaris2.10',
    'sparc-solaris',
    'x86_64-wasi',
    'wasm32-wasi',
    'x86-foo-1',
    'x86-foo-1.2',
    'x86-foo-1.2.3',
    'foo_platform9',
    'x86-my_platform2',
    'i386',
    'RUBY',
    'Ruby',
    '-',
    '--x',
    'x86-',
    '-linux',
    'x86--linux',
    'x86_64-linux-',
    'arm64-darwin-21-x',
    'x86_64-linux\ngnu',
    'x86-mingw32-abc',
  ];
  const script = `
    list = JSON.parse($stdin.read)
    out = list.map do |s|
      p = Gem::Platform.new(s)
      p.is_a?(String) ? { "s" => p } : { "a" => p.to_a, "s" => p.to_s }
    end
    puts JSON.generate(out)
  `;
  const res = rubyOnce<{ a?: Arr; s: string }[]>(script, inputs);

  it(`agrees with to_a and to_s for ${inputs.length} strings`, () => {
    assert.ok(inputs.length >= 40);
    inputs.forEach((s, i) => {
      const want = res()[i]!;
      const label = JSON.stringify(s);
      const p = parsePlatform(s);
      assert.deepEqual(platformToArray(p), want.a ?? 'ruby', label);
      assert.equal(platformToString(p), want.s, label);
      assert.equal(normalizePlatform(s), want.s, label);
    });
  });
});
