import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isQuarryError } from '../../src/errors.ts';
import {
  gemDate,
  gemDependency,
  gemPlatform,
  gemVersion,
  timeFromDump,
} from '../../src/marshal/gem-objects.ts';
import { load } from '../../src/marshal/reader.ts';
import type { RHash, RString, RUserDefined, RUserMarshal, RValue } from '../../src/marshal/types.ts';
import { float, hash, obj, str, stringOf, sym, userMarshal } from '../../src/marshal/types.ts';
import { dump } from '../../src/marshal/writer.ts';
import { listing, ruby, rubyDump, rubyLiteral } from './ruby.ts';

const isMarshalError = (e: unknown): boolean => isQuarryError(e) && e.code === 'marshal';

describe('reading the dumps of PROTOCOL.md section 2', () => {
  test('longs', () => {
    const table: [string, number | bigint][] = [
      ['04 08 69 00', 0],
      ['04 08 69 7f', 122],
      ['04 08 69 01 7b', 123],
      ['04 08 69 02 00 01', 256],
      ['04 08 69 03 00 00 01', 65536],
      ['04 08 69 fa', -1],
      ['04 08 69 80', -123],
      ['04 08 69 ff 84', -124],
      ['04 08 69 fe ff fe', -257],
      ['04 08 69 04 ff ff ff 3f', 2 ** 30 - 1],
      ['04 08 6c 2b 07 00 00 00 40', 2 ** 30],
    ];
    for (const [bytes, n] of table) assert.equal(load(listing(bytes)), n, bytes);
  });

  test('strings and their encodings', () => {
    assert.deepEqual(load(listing('04 08 49 22 08 75 74 66 06 3a 06 45 54')), str('utf'));
    assert.deepEqual(load(listing('04 08 49 22 0a 61 73 63 69 69 06 3a 06 45 46')), str('ascii', 'ascii'));
    assert.deepEqual(load(listing('04 08 22 08 62 69 6e')), str('bin', 'binary'));
    const latin = load(
      listing('04 08 49 22 08 6c 61 74 06 3a 0d 65 6e 63 6f 64 69 6e 67 22 0f 49 53 4f 2d 38 38 35 39 2d 31'),
    );
    assert.deepEqual(latin, { ...str('lat', 'other'), encodingName: 'ISO-8859-1' });
  });

  test('object links resolve to the same JS object', () => {
    const v = load(listing(`04 08 5b 07 55 3a 11 "Gem::Version" 5b 06 49 22 08 "1.0" 06 3a 06 45 54 40 06`));
    assert.ok(Array.isArray(v));
    assert.deepEqual(v[0], gemVersion('1.0'));
    assert.equal(v[0], v[1]);
  });

  test('Gem::Requirement with symbol links', () => {
    const v = load(
      rubyLiteral(
        '\\x04\\bU:\\x15Gem::Requirement[\\x06[\\a[\\aI\\"\\a~>\\x06:\\x06ETU:\\x11Gem::Version[\\x06I\\"\\b1.2\\x06;\\x06T[\\aI\\"\\a!=\\x06;\\x06TU;\\a[\\x06I\\"\\n1.2.5\\x06;\\x06T',
      ),
    );
    assert.deepEqual(
      v,
      userMarshal('Gem::Requirement', [
        [
          [str('~>'), gemVersion('1.2')],
          [str('!='), gemVersion('1.2.5')],
        ],
      ]),
    );
  });

  test('Gem::Dependency, Gem::Platform and Time', () => {
    const dep = load(rubyDump('Gem::Dependency.new("rack", ">= 1.0", "< 3")'));
    const expected = gemDependency(
      {
        name: 'rack',
        requirement: [
          { op: '>=', version: '1.0' },
          { op: '<', version: '3' },
        ],
        type: 'runtime',
        prerelease: false,
      },
      { linkVersionRequirements: true },
    );
    assert.deepEqual(dep, expected);
    assert.ok(dep !== null && typeof dep === 'object' && !Array.isArray(dep) && dep.type === 'object');
    assert.equal(dep.ivars[1]?.[1], dep.ivars[4]?.[1], '@version_requirements is a link to @requirement');

    assert.deepEqual(
      load(
        rubyLiteral('\\x04\\bo:\\x12Gem::Platform\\b:\\t@cpu0:\\b@osI\\"\\tjava\\x06:\\x06ET:\\r@version0'),
      ),
      gemPlatform('java'),
    );

    const time = load(
      listing(
        '04 08 49 75 3a 09 54 69 6d 65 0d c0 e9 1e c0 00 00 00 00 06 3a 09 7a 6f 6e 65 49 22 08 55 54 43 06 3a 06 45 46',
      ),
    ) as RUserDefined;
    assert.deepEqual(time, gemDate(new Date(Date.UTC(2023, 10, 14))));
    assert.equal(timeFromDump(time.bytes).toISOString(), '2023-11-14T00:00:00.000Z');
  });

  test('timeFromDump reads times of day and microseconds written by Ruby', () => {
    const t = load(rubyDump('Time.utc(2024, 2, 29, 13, 45, 59, 123456)')) as RUserDefined;
    assert.equal(timeFromDump(t.bytes).toISOString(), '2024-02-29T13:45:59.123Z');
  });
});

describe('round trips (write, then read)', () => {
  test('every kind of value comes back equal', () => {
    const values: RValue[] = [
      null,
      true,
      false,
      0,
      -5,
      2 ** 30,
      -(2 ** 31),
      2n ** 80n,
      -(2n ** 64n) + 1n,
      float(1.5),
      float(-0.001),
      str('Résumé ✓'),
      str('ascii', 'ascii'),
      str(Buffer.from([0, 1, 255]), 'binary'),
      { ...str('x', 'other'), encodingName: 'Shift_JIS' },
      { ...str('tagged'), ivars: [['@taguri', str('tag:yaml.org')]] },
      sym('runtime'),
      sym('résumé'),
      [],
      [1, [2, [3]]],
      hash([]),
      hash([[sym('name'), str('rack')]], str('default')),
      obj('Gem::Platform', [
        ['@cpu', null],
        ['@os', str('java')],
        ['@version', null],
      ]),
      gemDate(new Date(Date.UTC(2001, 0, 31))),
      { type: 'userClass', className: 'HashWithIndifferentAccess', value: hash([[str('a'), 1]]) },
      { type: 'extended', modules: ['A', 'B'], value: str('z') },
      { type: 'class', name: 'Gem::Version' },
      { type: 'module', name: 'Comparable' },
    ];
    for (const v of values) {
      const bytes = dump(v);
      assert.deepEqual(load(bytes), v, `round trip of ${bytes.toString('hex')}`);
      assert.deepEqual(dump(load(bytes)), bytes, 'rewriting the loaded value gives the same bytes');
    }
  });

  test('shared objects and cycles stay shared', () => {
    const s = str('ruby');
    const v = gemVersion('1.0');
    const a: RValue[] = [s, v, s, v];
    a.push(a);
    const back = load(dump(a));
    assert.ok(Array.isArray(back));
    assert.equal(back[0], back[2]);
    assert.equal(back[1], back[3]);
    assert.equal(back[4], back);
  });

  test('Ruby values with C, e, }, Bignum, Float and encodings load, and rewrite byte-identically', () => {
    const bytes = rubyDump(`(
      class UStr < String; end; module Mod; end
      h = Hash.new("d"); h[:k] = [1.5, 2**70, -(2**40)]
      [UStr.new("x"), "y".dup.extend(Mod), h, "é".encode("ISO-8859-1"), :"sym✓", "a".b, Float::INFINITY]
    )`);
    const v = load(bytes);
    assert.ok(Array.isArray(v));
    assert.equal((v[0] as { type: string }).type, 'userClass');
    assert.deepEqual((v[1] as { modules: string[] }).modules, ['Mod']);
    const h = v[2] as RHash;
    assert.deepEqual(h.default, str('d'));
    assert.deepEqual(h.entries[0]?.[1], [float(1.5), 2n ** 70n, -(2 ** 40)]);
    const latin = v[3] as RString;
    assert.equal(latin.encodingName, 'ISO-8859-1');
    assert.deepEqual(latin.value, Buffer.from([0xe9]), 'bytes that are not UTF-8 stay bytes');
    assert.deepEqual(v[4], sym('sym✓'));
    assert.equal(stringOf(v[5]), 'a');
    assert.deepEqual(dump(v), bytes);
  });
});

describe('bad input', () => {
  const sample = (): Buffer => {
    const dep = gemDependency({
      name: 'rack',
      requirement: [{ op: '>=', version: '1.0' }],
      type: 'runtime',
      prerelease: false,
    });
    return dump([
      str('x'),
      sym('a'),
      sym('a'),
      hash([[str('k'), float(2.5)]]),
      dep,
      gemDate(new Date(0)),
      2n ** 70n,
    ]);
  };

  test('every truncation is a marshal error', () => {
    const full = sample();
    assert.ok(Array.isArray(load(full)));
    for (let n = 0; n < full.length; n++) {
      assert.throws(() => load(full.subarray(0, n)), isMarshalError, `prefix of ${n} bytes`);
    }
  });

  test('wrong version, trailing bytes, bad links, unknown types', () => {
    const cases: [string, RegExp][] = [
      ['04 09 30', /version 4\.9/],
      ['03 08 30', /version 3\.8/],
      ['04 08 30 30', /trailing/],
      ['04 08 5b 06 40 07', /object link 2 out of range/],
      ['04 08 3b 00', /symbol link 0 out of range/],
      ['04 08 58', /unknown Marshal type byte 0x58/],
      ['04 08 2f 06 61 00', /unsupported Marshal type Regexp/],
      ['04 08 53 3a 06 53 00', /unsupported Marshal type Struct/],
      ['04 08 6f 69 00 00', /expected a Symbol/],
      ['04 08 66 08 "abc"', /bad Float/],
      ['04 08 6c 3f 06 01 00', /Bignum sign/],
      ['04 08 5b fa', /negative array length/],
      ['04 08 49 5b 00 06 3a 06 45 54', /ivars|instance variables/],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(
        () => load(listing(bytes)),
        (e: unknown) => isMarshalError(e) && message.test((e as Error).message),
        bytes,
      );
    }
  });

  test('declared lengths beyond the input fail at once, without allocating', () => {
    assert.throws(() => load(listing('04 08 5b 03 00 00 01')), /truncated Marshal data \(array length 65536/);
    assert.throws(
      () => load(listing('04 08 22 03 00 00 01 61')),
      /truncated Marshal data \(byte length 65536/,
    );
    assert.throws(() => load(listing('04 08 7b 02 00 01 30 30')), /truncated Marshal data \(hash size 256/);
    assert.throws(
      () => load(listing('04 08 5b 04 ff ff ff 3f')),
      /array length 1073741823 exceeds the limit/,
    );
    assert.equal(load(listing('04 07 30')), null, 'an older 4.x minor version still reads, as in Ruby');
  });

  test('limits: depth, length and object count', () => {
    // 100 nested one-element arrays: [ 06 [ 06 ... 0
    const nested = Buffer.from([4, 8, ...Array.from({ length: 100 }, () => [0x5b, 0x06]).flat(), 0x30]);
    assert.throws(
      () => load(nested),
      (e: unknown) => isMarshalError(e) && /nesting deeper than 64/.test(String(e)),
    );
    assert.ok(Array.isArray(load(nested, { maxDepth: 200 })));
    assert.throws(() => load(dump(['a', 'b', 'c']), { maxLength: 2 }), /exceeds the limit of 2/);
    assert.throws(() => load(dump(['a', 'b', 'c']), { maxObjects: 3 }), /more than 3 objects/);
  });

  test('random corruption never escapes as anything but a marshal error', () => {
    const base = sample();
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let loaded = 0;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(base);
      const edits = 1 + rand(3);
      for (let j = 0; j < edits; j++) b[2 + rand(b.length - 2)] = rand(256);
      try {
        load(b);
        loaded++;
      } catch (e) {
        assert.ok(isMarshalError(e), `unexpected ${String(e)} for ${b.toString('hex')}`);
      }
    }
    assert.ok(loaded < 3000);
  });
});

describe('Ruby accepts what the writer writes', () => {
  test('Marshal.load of a mixed stream gives the Ruby values', () => {
    const shared = str('shared');
    const bytes = dump([
      shared,
      shared,
      gemVersion('2.0.0.pre1'),
      gemDependency({
        name: 'rake',
        requirement: [{ op: '~>', version: '13.0' }],
        type: 'development',
        prerelease: false,
      }),
      gemPlatform('x86_64-linux'),
      gemDate(new Date(Date.UTC(2023, 10, 14))),
      hash([[sym('name'), str('Résumé ✓')]]),
      float(0.25),
      2n ** 64n,
      str('ascii', 'ascii'),
    ]);
    const out = ruby(
      `require "time"
       v = Marshal.load($stdin.binmode.read)
       puts [v[0].equal?(v[1]), v[2].prerelease?, v[3].type, v[3].requirement.to_s, v[4].to_s, v[5].utc.iso8601,
             v[6][:name], v[6][:name].encoding, v[7], v[8], v[9].encoding].join("|")`,
      { input: bytes },
    )
      .toString('utf8')
      .trim();
    assert.equal(
      out,
      'true|true|development|~> 13.0|x86_64-linux|2023-11-14T00:00:00Z|Résumé ✓|UTF-8|0.25|18446744073709551616|US-ASCII',
    );
  });

  test('userMarshal data that is not an Array still round-trips (shape is up to the caller)', () => {
    const v: RUserMarshal = userMarshal('Foo', 5);
    assert.deepEqual(load(dump(v)), v);
  });
});
