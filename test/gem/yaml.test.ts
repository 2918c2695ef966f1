import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { QuarryError } from '../../src/errors.ts';
import {
  loadChecksumsYaml,
  loadRubyYaml,
  RubyDate,
  RubyFloat,
  RubyInteger,
  RubyObject,
  RubySymbol,
  tokenize,
} from '../../src/gem/yaml.ts';
import { rubyGems } from './support/ruby-gems.ts';
import { checksumsYaml, gemspecYaml } from './support/ustar.ts';

const OPTS = {
  what: 'metadata.gz',
  code: 'invalid_spec' as const,
  maxLength: 10 * 1024 * 1024,
  maxAliasCount: 100,
  maxAnchors: 1000,
};
const load = (src: string, o: Partial<typeof OPTS> = {}) => loadRubyYaml(src, { ...OPTS, ...o });

function rejects(src: string, code: string, pattern: RegExp, o: Partial<typeof OPTS> = {}) {
  assert.throws(
    () => load(src, o),
    (e: unknown) => e instanceof QuarryError && e.code === code && pattern.test(e.message),
  );
}

describe('tokenize: plain scalars are typed as Psych types them', () => {
  const inputs = [
    ...[
      '',
      '~',
      'null',
      'Null',
      'NULL',
      'nil',
      'true',
      'True',
      'yes',
      'Yes',
      'on',
      'ON',
      'false',
      'no',
      'No',
      'off',
    ],
    ...['y', 'n', 'Y', 'N', 'tru', 'yess', 'nope', 'fals', 'offf', 'onion', 'ruby', 'Ann Author', 'MIT'],
    ...[
      '0',
      '1',
      '-1',
      '+1',
      '42',
      '007',
      '0755',
      '08',
      '0b101',
      '0x1F',
      '0xff_ff',
      '1_000',
      '1,000',
      '1__0',
    ],
    ...[
      '12345678901234567890',
      '-12345678901234567890',
      '1.0',
      '1.10',
      '0.1',
      '.5',
      '1.',
      '-1.5',
      '1e5',
      '1.0e+5',
    ],
    ...[
      '1.0e5',
      '1,000.5',
      '1_0.5',
      '.',
      '-.',
      '+.',
      '.inf',
      '-.Inf',
      '+.INF',
      '.nan',
      '.NaN',
      '1:30',
      '1:30:45',
    ],
    ...['-1:30', '1:30.5', '190:20:30.15', '1.0.0', '3.3.15', '2.0.0.rc1', '1.0-beta', 'v1.0', '0.4.2'],
    ...['2023-11-14', '2023-1-5', '2023-02-30', '2023-13-01', '2023-00-10', '2024-02-29', '2023-02-29'],
    ...['2023-11-14 00:00:00.000000000 Z', '2023-11-14 00:00:00.000000000Z', '2011-04-26 00:00:00Z'],
    ...[
      '2008-06-01 00:00:00 +02:00',
      '2008-06-01 23:30:00 -05:00',
      '2023-11-14T12:00:00Z',
      '2023-11-14t1:02:03',
    ],
    ...['2023-11-14 23:59:60 Z', '2023-11-14 24:00:00 Z', '2023-11-14 25:00:00 Z', '2023-11-31 10:00:00 Z'],
    ...[':runtime', ':development', ':"runtime"', ":'development'", ':runtime:', 'https://example.com', '::'],
    ...['>= 1.0', '~> 2.1', 'a: b', '#x', '-', '--main', '@foo', '1abc', 'abc1', '*bold*', '日本語', 'é1'],
  ];

  test('matches Psych::ScalarScanner#tokenize', () => {
    const ruby = rubyGems<{ input: string; kind: string; value: unknown }[]>(
      'tokenize',
      [],
      JSON.stringify(inputs),
    );
    for (const r of ruby) {
      const s = r.input;
      if (r.kind === 'symbol' && !['runtime', 'development'].includes(r.value as string)) {
        assert.throws(() => tokenize(s), /not permitted/, s);
        continue;
      }
      const v = tokenize(s);
      const label = `${JSON.stringify(s)} => ${r.kind} ${JSON.stringify(r.value)}`;
      switch (r.kind) {
        case 'nil':
          assert.equal(v, null, label);
          break;
        case 'bool':
          assert.equal(v, r.value, label);
          break;
        case 'string':
          assert.equal(v, r.value, label);
          break;
        case 'int':
          if (v instanceof RubyInteger)
            assert.equal(String(v.value), String(BigInt(s.replace(/[,_]/g, ''))), label);
          else assert.equal(v, r.value, label);
          break;
        case 'float':
          assert.ok(v instanceof RubyFloat, label);
          if (typeof r.value === 'number') assert.equal(v.value, r.value, label);
          else assert.equal(String(v.value).replace(/^Infinity$/, 'Infinity'), String(r.value), label);
          break;
        case 'symbol':
          assert.deepEqual(v, new RubySymbol(r.value as string), label);
          break;
        case 'time':
        case 'date': {
          assert.ok(v instanceof RubyDate, label);
          const day = `${v.year}-${String(v.month).padStart(2, '0')}-${String(v.day).padStart(2, '0')}`;
          assert.equal(day, r.value, label);
          break;
        }
        default:
          assert.fail(`unexpected Ruby kind ${r.kind} for ${label}`);
      }
    }
  });
});

describe('loadRubyYaml', () => {
  test('loads a gemspec as RubyObject maps with Ruby scalar types', () => {
    const root = load(
      gemspecYaml({ dependencies: '\n- !ruby/object:Gem::Dependency\n  name: rack\n  type: :runtime' }),
    );
    assert.ok(root instanceof RubyObject);
    assert.equal(root.className, 'Gem::Specification');
    const version = root.get('version');
    assert.ok(version instanceof RubyObject && version.className === 'Gem::Version');
    assert.equal(version.get('version'), '1.0.0');
    assert.deepEqual(root.get('date'), new RubyDate(2023, 11, 14));
    assert.equal(root.get('specification_version'), 4);
    const [dep] = root.get('dependencies') as RubyObject[];
    assert.deepEqual(dep?.get('type'), new RubySymbol('runtime'));
  });

  test('accepts the standard tags and the permitted Ruby classes', () => {
    const v = load(
      [
        'a: !!str 123',
        'b: !!int "42"',
        'c: !!null ""',
        'd: !binary |-\n  aGVsbG8=',
        'e: !!float 1',
        'f: !<tag:yaml.org,2002:str> x',
        'g: !ruby/object:Gem::Platform\n  cpu: x86\n  os: mswin32',
        'h: !ruby/object:Gem::Version::Requirement\n  requirements: []',
        'i: !!seq [1]',
        'j: !!map {k: v}',
        'k: ! 12',
      ].join('\n'),
    ) as Map<string, unknown>;
    assert.equal(v.get('a'), '123');
    assert.equal(v.get('b'), 42);
    assert.equal(v.get('c'), null);
    assert.equal(v.get('d'), 'hello');
    assert.deepEqual(v.get('e'), new RubyFloat(1, '1'));
    assert.equal(v.get('f'), 'x');
    assert.equal((v.get('g') as RubyObject).className, 'Gem::Platform');
    assert.equal((v.get('h') as RubyObject).className, 'Gem::Version::Requirement');
    assert.deepEqual(v.get('i'), [1]);
    assert.deepEqual(v.get('j'), new Map([['k', 'v']]));
    assert.equal(v.get('k'), '12');
  });

  for (const [tag, doc] of [
    ['!ruby/object:OpenStruct', '--- !ruby/object:OpenStruct\ntable: {}\n'],
    ['!ruby/hash:Foo', 'x: !ruby/hash:Foo\n  a: 1\n'],
    ['!ruby/struct:S', 'x: !ruby/struct:S\n  a: 1\n'],
    ['!ruby/object:Gem::Installer', 'x: !ruby/object:Gem::Installer {}\n'],
    ['!ruby/array:Foo', 'x: !ruby/array:Foo [1]\n'],
    ['!ruby/sym', 'x: !ruby/sym runtime\n'],
    ['!ruby/regexp', 'x: !ruby/regexp /a/\n'],
    ['!ruby/object:Gem::Version', 'x: !ruby/object:Gem::Version 1.0\n'],
    ['tag:yaml.org,2002:set', 'x: !!set {a}\n'],
    ['tag:yaml.org,2002:omap', 'x: !!omap [{a: 1}]\n'],
    ['!custom', 'x: !custom 1\n'],
    [
      'tag:evil:ruby/object:Gem::Version',
      '%TAG ! tag:evil:\n---\nx: !ruby/object:Gem::Version {version: 1}\n',
    ],
  ] as const) {
    test(`refuses the tag ${tag}, naming it`, () => {
      const escaped = tag.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      rejects(doc, 'invalid_spec', new RegExp(`tag ${escaped} is not allowed`));
    });
  }

  test('refuses symbols other than :runtime and :development, naming them', () => {
    rejects('type: :foo\n', 'invalid_spec', /symbol :foo is not permitted/);
    rejects('{:admin: 1}\n', 'invalid_spec', /symbol :admin is not permitted/);
    assert.deepEqual(load('a: :"development"\n'), new Map([['a', new RubySymbol('development')]]));
    assert.deepEqual(load("a: ':foo'\n"), new Map([['a', ':foo']]));
  });

  test('refuses merge keys instead of merging', () => {
    rejects('base: &b {x: 1}\nother:\n  <<: *b\n', 'invalid_spec', /merge keys \(<<\) are not allowed/);
    assert.deepEqual(load('"<<": 1\n'), new Map([['<<', 1]]));
  });

  test('refuses duplicate keys, several documents and malformed YAML', () => {
    rejects('a: 1\na: 2\n', 'invalid_spec', /keys must be unique/);
    rejects('--- 1\n--- 2\n', 'invalid_spec', /multiple documents/);
    rejects('a: [1, 2\n', 'invalid_spec', /invalid YAML/);
    rejects('a: *nope\n', 'invalid_spec', /invalid YAML/);
  });

  test('loads the aliases old RubyGems wrote, sharing the object', () => {
    const src = [
      'deps:',
      '- requirement: &id001 !ruby/object:Gem::Requirement',
      '    requirements: [[">=", !ruby/object:Gem::Version {version: "1.0"}]]',
      '  version_requirements: *id001',
    ].join('\n');
    const [dep] = (load(src) as Map<string, Map<string, unknown>[]>).get('deps') ?? [];
    assert.ok(dep?.get('requirement') instanceof RubyObject);
    assert.equal(dep?.get('requirement'), dep?.get('version_requirements'));
  });

  test('a billion-laughs alias bomb fails fast, with bounded memory', () => {
    const levels = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (let i = 1; i < levels.length; i++) {
      const prev = levels[i - 1];
      lines.push(`${levels[i]}: &${levels[i]} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const src = `--- !ruby/object:Gem::Specification\nname: bomb\n${lines.join('\n')}\n`;
    const heap = process.memoryUsage().heapUsed;
    rejects(src, 'limit_exceeded', /aliases expand past the limit of 100/);
    assert.ok(process.memoryUsage().heapUsed - heap < 64 * 1024 * 1024, 'uses less than 64 MiB');
  });

  test('caps the number of anchors and of aliases', () => {
    const anchors = Array.from({ length: 11 }, (_, i) => `k${i}: &a${i} ${i}`).join('\n');
    rejects(anchors, 'limit_exceeded', /more than 10 anchors/, { maxAnchors: 10 });
    const aliases = `a: &a 1\nb: [${Array(11).fill('*a').join(', ')}]\n`;
    rejects(aliases, 'limit_exceeded', /more than 10 aliases/, { maxAnchors: 10 });
    assert.ok(load(aliases, { maxAnchors: 11 }) instanceof Map);
  });

  test('caps the document size', () => {
    rejects(`a: ${'x'.repeat(200)}\n`, 'limit_exceeded', /over 100 characters/, { maxLength: 100 });
  });

  test('an alias with no anchor before it is malformed YAML, said plainly (found by fuzzing)', () => {
    for (const src of ['*a', '*a ', 'x: *a \n', '- *b\n- &b 1\n']) {
      assert.throws(
        () => load(src),
        (e: unknown) => {
          assert.ok(e instanceof QuarryError, String(e));
          assert.equal(e.code, 'invalid_spec');
          assert.match(e.message, /^metadata\.gz: invalid YAML: alias \*[ab] has no anchor before it$/);
          // The yaml package throws a ReferenceError here: it must not reach callers as the cause.
          assert.equal(e.cause, undefined);
          return true;
        },
        JSON.stringify(src),
      );
    }
  });

  test('deep nesting is an error, not a crash', () => {
    const depth = 100_000;
    rejects(`${'['.repeat(depth)}${']'.repeat(depth)}`, 'invalid_spec', /nested too deeply|invalid YAML/);
  });
});

describe('loadChecksumsYaml', () => {
  const o = { what: 'checksums.yaml.gz', maxLength: 1e6, maxAliasCount: 100, maxAnchors: 1000 };
  const text = checksumsYaml({ 'metadata.gz': Buffer.from('m'), 'data.tar.gz': Buffer.from('d') });

  test('reads the RubyGems layout, and the same data in any other YAML layout', () => {
    const fast = loadChecksumsYaml(text, o);
    assert.deepEqual(Object.keys(fast), ['SHA256', 'SHA512']);
    assert.match(fast['SHA256']?.['data.tar.gz'] ?? '', /^[0-9a-f]{64}$/);
    const flow = `--- {${Object.entries(fast)
      .map(([algo, d]) => `"${algo}": {${Object.entries(d).map(([n, h]) => `'${n}': "${h}"`)}}`)
      .join(', ')}}\n`;
    assert.deepEqual({ ...loadChecksumsYaml(flow, o) }, { ...fast });
  });

  test('an empty document is no checksums', () => {
    assert.deepEqual(Object.keys(loadChecksumsYaml('--- {}\n', o)), []);
    assert.deepEqual(Object.keys(loadChecksumsYaml('', o)), []);
  });

  test('refuses other shapes with invalid_gem', () => {
    for (const [src, pattern] of [
      ['--- [1, 2]\n', /not a mapping of algorithms/],
      ['---\nSHA256: abc\n', /SHA256 is not a mapping/],
      ['---\nSHA256:\n  data.tar.gz: 12\n', /digest of data.tar.gz is not a string/],
      ['---\nSHA256: !ruby/object:OpenStruct {}\n', /tag !ruby\/object:OpenStruct is not allowed/],
    ] as const) {
      assert.throws(
        () => loadChecksumsYaml(src, o),
        (e: unknown) => e instanceof QuarryError && e.code === 'invalid_gem' && pattern.test(e.message),
        src,
      );
    }
  });
});

describe('loadChecksumsYaml: the fast layout reader', () => {
  const o = { what: 'checksums.yaml.gz', maxLength: 1e6, maxAliasCount: 100, maxAnchors: 1000 };

  test('gives what the YAML parser gives, or leaves the document to it', () => {
    const hex = 'ab'.repeat(32);
    for (const src of [
      `---\nSHA256:\n  metadata.gz: ${hex}\n  data.tar.gz: ${hex}\n`,
      `---\nSHA256:\n  metadata.gz: ${hex}\nSHA1:\n  metadata.gz: ${hex.slice(0, 40)}\n`,
      `---\nSHA256:\nSHA512:\n  metadata.gz: ${hex}\n`,
      `---\nSHA256:\n  yes: ${hex}\n`,
      `---\nSHA256:\n  metadata.gz: '${hex}'\n`,
      // What Psych writes for digests that could read as numbers (the fast reader takes these too).
      `---\nSHA256:\n  metadata.gz: '0${hex.slice(1)}'\n  data.tar.gz: '${'1'.repeat(64)}'\n`,
    ]) {
      let viaYaml: unknown;
      try {
        viaYaml = { ...loadChecksumsYaml(`# comment\n${src}`, o) };
      } catch (e) {
        viaYaml = (e as Error).message.replace('# comment\n', '');
      }
      let direct: unknown;
      try {
        direct = { ...loadChecksumsYaml(src, o) };
      } catch (e) {
        direct = (e as Error).message;
      }
      assert.deepEqual(JSON.parse(JSON.stringify(direct)), JSON.parse(JSON.stringify(viaYaml)), src);
    }
  });
});
