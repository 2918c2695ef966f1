import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isQuarryError } from '../../src/errors.ts';
import { formatFloat } from '../../src/marshal/float.ts';
import {
  gemDate,
  gemDependency,
  gemPlatform,
  gemRequirement,
  gemVersion,
  makeInterner,
} from '../../src/marshal/gem-objects.ts';
import type { RValue } from '../../src/marshal/types.ts';
import { float, hash, obj, str, sym, userDefined } from '../../src/marshal/types.ts';
import { dump } from '../../src/marshal/writer.ts';
import { listing, rubyDump, rubyLiteral } from './ruby.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const withHeader = (b: Buffer): Buffer => Buffer.concat([Buffer.from([4, 8]), b]);

describe('long encoding (PROTOCOL.md 2.2)', () => {
  const table: [number, string][] = [
    [0, '04 08 69 00'],
    [1, '04 08 69 06'],
    [122, '04 08 69 7f'],
    [123, '04 08 69 01 7b'],
    [255, '04 08 69 01 ff'],
    [256, '04 08 69 02 00 01'],
    [65536, '04 08 69 03 00 00 01'],
    [-1, '04 08 69 fa'],
    [-123, '04 08 69 80'],
    [-124, '04 08 69 ff 84'],
    [-257, '04 08 69 fe ff fe'],
    [2 ** 30 - 1, '04 08 69 04 ff ff ff 3f'],
    [2 ** 30, '04 08 6c 2b 07 00 00 00 40'],
  ];
  for (const [n, bytes] of table) {
    test(`${n}`, () => assert.equal(hex(dump(n)), bytes.replaceAll(' ', '')));
  }

  test('integers and Bignums across every boundary match Ruby', () => {
    const values: (number | bigint)[] = [];
    for (const base of [
      122,
      123,
      124,
      255,
      256,
      2 ** 15,
      2 ** 16,
      2 ** 23,
      2 ** 24,
      2 ** 30,
      2 ** 31,
      2 ** 32,
    ]) {
      for (const d of [-1, 0, 1]) values.push(base + d, -(base + d));
    }
    values.push(
      2 ** 40 + 7,
      -(2 ** 48),
      Number.MAX_SAFE_INTEGER,
      2n ** 64n,
      -(2n ** 70n),
      3n ** 100n,
      2n ** 63n - 1n,
    );
    const ours = dump(values);
    const theirs = rubyDump(`[${values.map(String).join(', ')}]`);
    assert.equal(hex(ours), hex(theirs));
  });

  test('a bigint in Fixnum range is written as a Fixnum', () => {
    assert.equal(hex(dump(5n)), hex(dump(5)));
  });
});

describe('strings (PROTOCOL.md 2.3)', () => {
  test('UTF-8, US-ASCII, binary and other encodings', () => {
    assert.equal(hex(dump(str('utf'))), hex(withHeader(listing('49 22 08 75 74 66 06 3a 06 45 54'))));
    assert.equal(
      hex(dump(str('ascii', 'ascii'))),
      hex(withHeader(listing('49 22 0a 61 73 63 69 69 06 3a 06 45 46'))),
    );
    assert.equal(hex(dump(str('bin', 'binary'))), hex(withHeader(listing('22 08 62 69 6e'))));
    const latin = { ...str('lat', 'other'), encodingName: 'ISO-8859-1' };
    assert.equal(
      hex(dump(latin)),
      hex(
        withHeader(
          listing('49 22 08 6c 61 74 06 3a 0d 65 6e 63 6f 64 69 6e 67 22 0f 49 53 4f 2d 38 38 35 39 2d 31'),
        ),
      ),
    );
  });

  test('a plain JS string is a fresh UTF-8 String; bytes are written as is', () => {
    assert.equal(hex(dump('utf')), hex(dump(str('utf'))));
    assert.equal(hex(dump(str(Buffer.from([0xff, 0x00]), 'binary'))), '04082207ff00');
  });

  test('non-ASCII text and symbols match Ruby', () => {
    const ours = dump([str('Résumé ✓'), sym('résumé'), sym('résumé'), sym('plain')]);
    assert.equal(hex(ours), hex(rubyDump('["Résumé ✓", :"résumé", :"résumé", :plain]')));
  });
});

describe('symbols and links (PROTOCOL.md 2.4)', () => {
  test('the same Gem::Version twice is an @ link', () => {
    const v = gemVersion('1.0');
    const expected = listing(`04 08 5b 07 55 3a 11 "Gem::Version" 5b 06 49 22 08 "1.0" 06 3a 06 45 54 40 06`);
    assert.equal(hex(dump([v, v])), hex(expected));
  });

  test('symbols repeat as ; links and the same array/hash/string as @ links, as in Ruby', () => {
    const s = str('x');
    const a: RValue[] = [s];
    const h = hash([[sym('k'), s]]);
    const ours = dump([sym('k'), a, a, h, h, s, sym('k')]);
    const theirs = rubyDump('(s = "x"; a = [s]; h = {k: s}; [:k, a, a, h, h, s, :k])');
    assert.equal(hex(ours), hex(theirs));
  });

  test('a _dump (u) object is numbered after its ivars, as Ruby does', () => {
    const t = gemDate(new Date(Date.UTC(2023, 10, 14)));
    const s = str('x');
    const ours = dump([t, s, s]);
    assert.equal(hex(ours), hex(rubyDump('(t = Time.utc(2023, 11, 14); s = "x"; [t, s, s])')));
    assert.equal(hex(ours.subarray(-2)), '4008'); // link to object #3
  });

  test('cyclic arrays become links to themselves', () => {
    const a: RValue[] = [];
    a.push(a);
    assert.equal(hex(dump(a)), hex(rubyDump('(a = []; a << a; a)')));
  });
});

describe('RubyGems classes (PROTOCOL.md 2.5–2.9)', () => {
  test('Gem::Version', () => {
    const expected = listing(
      '04 08 55 3a 11 47 65 6d 3a 3a 56 65 72 73 69 6f 6e 5b 06 49 22 08 31 2e 30 06 3a 06 45 54',
    );
    assert.equal(hex(dump(gemVersion('1.0'))), hex(expected));
  });

  test('Gem::Requirement', () => {
    const expected = rubyLiteral(
      '\\x04\\bU:\\x15Gem::Requirement[\\x06[\\a[\\aI\\"\\a~>\\x06:\\x06ETU:\\x11Gem::Version[\\x06I\\"\\b1.2\\x06;\\x06T[\\aI\\"\\a!=\\x06;\\x06TU;\\a[\\x06I\\"\\n1.2.5\\x06;\\x06T',
    );
    const ours = dump(
      gemRequirement([
        { op: '~>', version: '1.2' },
        { op: '!=', version: '1.2.5' },
      ]),
    );
    assert.equal(hex(ours), hex(expected));
  });

  test('Gem::Dependency made in Ruby links @version_requirements', () => {
    const expected = listing(`04 08 6f 3a 14 "Gem::Dependency" 0a
      3a 0a "@name" 49 22 09 "rack" 06 3a 06 45 54
      3a 11 "@requirement" 55 3a 15 "Gem::Requirement" 5b 06 5b 06 5b 07
        49 22 07 ">=" 06 3b 07 54
        55 3a 11 "Gem::Version" 5b 06 49 22 08 "1.0" 06 3b 07 54
      3a 0a "@type" 3a 0c "runtime"
      3a 10 "@prerelease" 46
      3a 1a "@version_requirements" 40 07`);
    const dep = {
      name: 'rack',
      requirement: [{ op: '>=' as const, version: '1.0' }],
      type: 'runtime' as const,
      prerelease: false,
    };
    assert.equal(hex(dump(gemDependency(dep, { linkVersionRequirements: true }))), hex(expected));
    assert.equal(hex(expected), hex(rubyDump('Gem::Dependency.new("rack", ">= 1.0")')));
  });

  test('Gem::Platform', () => {
    assert.equal(
      hex(dump(gemPlatform('x86_64-linux'))),
      hex(
        rubyLiteral(
          '\\x04\\bo:\\x12Gem::Platform\\b:\\t@cpuI\\"\\vx86_64\\x06:\\x06ET:\\b@osI\\"\\nlinux\\x06;\\aT:\\r@version0',
        ),
      ),
    );
    assert.equal(
      hex(dump(gemPlatform('java'))),
      hex(
        rubyLiteral('\\x04\\bo:\\x12Gem::Platform\\b:\\t@cpu0:\\b@osI\\"\\tjava\\x06:\\x06ET:\\r@version0'),
      ),
    );
  });

  test('Gem::Platform parsing matches RubyGems for many platform strings', () => {
    const platforms = [
      'x86_64-linux',
      'java',
      'jruby',
      'java1.5',
      'x86-mingw32',
      'x64-mingw32',
      'x64-mingw-ucrt',
      'i386-mswin32',
      'mswin32',
      'i386-mswin32_80',
      'x86-mswin64_100',
      'universal-darwin-21',
      'arm64-darwin',
      'x86_64-darwin19',
      'x86_64-linux-musl',
      'aarch64-linux-gnu',
      'arm-linux-gnueabihf',
      'i686-linux',
      'powerpc-aix5.3',
      'x86-cygwin',
      'universal-macruby',
      'x86-freebsd10',
      'hppa-hpux11',
      'universal-dotnet',
      'universal-dotnet2.0',
      'dalvik22',
      'x86-netbsdelf',
      'x86-openbsd5.8',
      'x86-bitrig1.0',
      'sparc-solaris2.10',
      'x86-weird',
      'universal-java-11',
      'arm-linux-eabi',
      'x86_64-unknown-linux-gnu',
      'a-b-c-d',
      'mips64el-linux-gnuabi64',
      'test_platform7',
    ];
    // Ruby takes some parts from frozen literals ('linux', 'x86'), which repeat as links.
    const intern = makeInterner();
    const ours = dump(platforms.map((p) => gemPlatform(p, intern)));
    const theirs = rubyDump(`${JSON.stringify(platforms)}.map { |p| Gem::Platform.new(p) }`);
    assert.equal(hex(ours), hex(theirs));
  });

  test('Time: a gemspec date is Iu Time with zone "UTC"', () => {
    const expected = listing(
      '04 08 49 75 3a 09 54 69 6d 65 0d c0 e9 1e c0 00 00 00 00 06 3a 09 7a 6f 6e 65 49 22 08 55 54 43 06 3a 06 45 46',
    );
    assert.equal(hex(dump(gemDate(new Date(Date.UTC(2023, 10, 14))))), hex(expected));
    // Any time of day is cut to midnight UTC, like Gem::Specification#date=.
    assert.equal(hex(dump(gemDate(new Date(Date.UTC(2023, 10, 14, 23, 59, 59))))), hex(expected));
  });

  test('Time for dates across years and months matches Ruby', () => {
    const dates = [
      [1980, 1, 2],
      [2000, 2, 29],
      [2011, 12, 31],
      [2038, 1, 19],
      [2099, 7, 4],
    ] as const;
    const intern = makeInterner(); // the "UTC" zone is one interned string in Ruby
    const ours = dump(dates.map(([y, m, d]) => gemDate(new Date(Date.UTC(y, m - 1, d)), intern)));
    assert.equal(
      hex(ours),
      hex(rubyDump(`[${dates.map(([y, m, d]) => `Time.utc(${y}, ${m}, ${d})`).join(', ')}]`)),
    );
  });

  test('an invalid date is a marshal error', () => {
    assert.throws(
      () => gemDate(new Date(Number.NaN)),
      (e) => isQuarryError(e) && e.code === 'marshal',
    );
    assert.throws(
      () => gemDate(new Date(Date.UTC(1850, 0, 1))),
      (e) => isQuarryError(e) && e.code === 'marshal',
    );
  });
});

describe('other types, checked against Ruby', () => {
  test('floats use Ruby text forms', () => {
    const values = [
      1.5,
      100,
      1e-5,
      0.001,
      0.0001,
      123456789.123,
      -0,
      0,
      1e100,
      2.5e-7,
      0.1,
      1 / 3,
      -2.75,
      5e-324,
      Number.MAX_VALUE,
      1e15,
      1e16,
      12345678901234567000,
      123,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    ];
    assert.equal(formatFloat(100), '1e2');
    assert.equal(formatFloat(0.001), '0.001');
    assert.equal(formatFloat(-0), '-0');
    const ours = dump(values.map(float));
    const packed = Buffer.alloc(8 * values.length);
    values.forEach((v, i) => {
      packed.writeDoubleLE(v, 8 * i);
    });
    const theirs = rubyDump(`["${packed.toString('hex')}"].pack("H*").unpack("E*")`);
    assert.equal(hex(ours), hex(theirs));
  });

  test('Hash with default, user class, extended object, user-defined with ivars, class refs', () => {
    const ours = dump([
      hash([[str('a'), 1]], 5),
      { type: 'userClass', className: 'UStr', value: str('x') },
      { type: 'userClass', className: 'UArr', value: [1, 2] },
      { type: 'extended', modules: ['Mod'], value: str('y') },
      obj('Obj', [['@a', null]]),
      userDefined('Time', Buffer.from('c0e91ec000000000', 'hex')),
      { type: 'class', name: 'String' },
      { type: 'module', name: 'Kernel' },
      hash([]),
      [true, false, null],
    ]);
    const theirs = rubyDump(`(
      class UStr < String; end; class UArr < Array; end; module Mod; end
      class Obj; def initialize; @a = nil; end; end
      h = Hash.new(5); h["a"] = 1
      t = Time.utc(2023, 11, 14); def t._dump(_l) = ["c0e91ec000000000"].pack("H*")
      [h, UStr.new("x"), UArr.new([1, 2]), "y".dup.extend(Mod), Obj.new, t, String, Kernel, {}, [true, false, nil]]
    )`);
    assert.equal(hex(ours), hex(theirs));
  });

  test('values that cannot be written are marshal errors', () => {
    const isMarshal = (e: unknown) => isQuarryError(e) && e.code === 'marshal';
    assert.throws(() => dump(1.5), isMarshal);
    assert.throws(() => dump(2 ** 60), isMarshal);
    assert.throws(() => dump({ type: 'string', value: 'x', encoding: 'other' }), isMarshal);
    const deep: RValue[] = [];
    let cur = deep;
    for (let i = 0; i < 100; i++) {
      const next: RValue[] = [];
      cur.push(next);
      cur = next;
    }
    assert.throws(() => dump(deep, { maxDepth: 50 }), isMarshal);
  });
});
