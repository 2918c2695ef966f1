import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { QuarryError } from '../../src/errors.ts';
import { type GemPackage, readGem } from '../../src/gem/package.ts';
import { readTar } from '../../src/gem/tar.ts';
import { type RubyGemReport, rubyGems, specAsRuby, tempDir } from './support/ruby-gems.ts';
import {
  buildGem,
  buildTar,
  checksumsYaml,
  dataTarGz,
  gemspecYaml,
  gemWithYaml,
  sha256,
} from './support/ustar.ts';

type Options = Parameters<typeof readGem>[1];

function rejectsGem(bytes: Buffer, code: string, pattern: RegExp, options?: Options): QuarryError {
  let caught: unknown;
  assert.throws(
    () => readGem(bytes, options),
    (e: unknown) => {
      caught = e;
      return e instanceof QuarryError && e.code === code && pattern.test(e.message);
    },
  );
  return caught as QuarryError;
}

/** Check one gem against what RubyGems read from it. */
function checkAgainstRuby(report: RubyGemReport): GemPackage {
  assert.ok(report.spec, `RubyGems reads ${report.file}: ${report.error}`);
  const bytes = readFileSync(report.file);
  const gem = readGem(bytes);
  // email keeps the nil items real gems have (webrick 1.8.1: [nil, nil, "normal@…"]), as RubyGems does.
  const expected = { ...report.spec };
  assert.deepEqual(specAsRuby(gem.spec), expected, basename(report.file));
  assert.equal(gem.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(gem.size, bytes.length);
  assert.deepEqual(gem.checksums, report.checksums ?? null);
  assert.deepEqual(gem.entries, report.entries);
  return gem;
}

describe('readGem on gems built by RubyGems', () => {
  const dir = tempDir('quarry-gems-');
  const reports = rubyGems<RubyGemReport[]>('build', [dir]);
  const byName = (part: string) => {
    const r = reports.find((x) => basename(x.file).includes(part));
    assert.ok(r, `built ${part}`);
    return r;
  };

  test('RubyGems built every edge-case gem', () => {
    assert.equal(reports.length, 10);
  });

  for (const report of reports) {
    test(`${basename(report.file)} reads as RubyGems reads it`, () => {
      checkAgainstRuby(report);
    });
  }

  test('the demo gem: non-ASCII summary, multi-constraint requirements, dependency types', () => {
    const { spec } = checkAgainstRuby(byName('0-demo-1.0.0'));
    assert.equal(spec.summary, 'Démo gem: ünïcödé ✓ 日本語');
    assert.deepEqual(spec.dependencies[0], {
      name: 'rack',
      requirement: [
        { op: '>=', version: '1.0' },
        { op: '<', version: '3' },
      ],
      type: 'runtime',
      prerelease: false,
    });
    assert.equal(spec.dependencies.filter((d) => d.type === 'development').length, 2);
    assert.equal(spec.date.toISOString(), '2023-11-14T00:00:00.000Z');
  });

  test('the inner data.tar.gz uses the prefix field for a path over 100 bytes', () => {
    const outer = readTar(readFileSync(byName('0-demo-1.0.0').file));
    const data = outer.find((e) => e.name === 'data.tar.gz');
    assert.ok(data);
    const names = readTar(gunzipSync(data.data), { regularFilesOnly: false }).map((e) => e.name);
    const long = names.find((n) => n.length > 100);
    assert.ok(long?.endsWith('/long-file-name.txt'), `long path read back whole: ${names.join(', ')}`);
  });

  test('prerelease, dashed and platform gems keep their versions and original platforms', () => {
    assert.equal(checkAgainstRuby(byName('2.0.0.rc1')).spec.version, '2.0.0.rc1');
    assert.equal(checkAgainstRuby(byName('dashed')).spec.version, '1.0.pre.beta2');
    assert.equal(checkAgainstRuby(byName('java')).spec.platform, 'java');
    assert.equal(checkAgainstRuby(byName('x86_64-linux')).spec.platform, 'x86_64-linux');
    assert.equal(checkAgainstRuby(byName('x86-linux')).spec.platform, 'i686-linux');
  });

  test('a signed gem: .sig entries are allowed and reported', () => {
    const gem = checkAgainstRuby(byName('signed'));
    assert.equal(gem.signed, true);
    assert.deepEqual(
      gem.entries.filter((e) => e.endsWith('.sig')),
      ['metadata.gz.sig', 'data.tar.gz.sig', 'checksums.yaml.gz.sig'],
    );
    assert.equal(gem.spec.certChain.length, 1);
    assert.equal(checkAgainstRuby(byName('minimal')).signed, false);
  });
});

describe('readGem on the gems Debian Ruby installs', () => {
  const dir = tempDir('quarry-real-gems-');
  const reports = rubyGems<RubyGemReport[]>('real', [dir]);

  test('there are real gems to read', () => {
    assert.ok(reports.length >= 10, `found ${reports.length} gems`);
  });

  test('every one reads as RubyGems reads it', () => {
    for (const report of reports) checkAgainstRuby(report);
  });
});

describe('readGem on hand-made gems', () => {
  test('a minimal gem, plain `metadata` instead of metadata.gz, and no checksums', () => {
    const gem = readGem(buildGem());
    assert.equal(gem.spec.name, 'demo');
    assert.deepEqual(Object.keys(gem.checksums ?? {}), ['SHA256', 'SHA512']);
    const plain = buildTar([
      { name: 'metadata', data: gemspecYaml() },
      { name: 'data.tar.gz', data: dataTarGz() },
    ]);
    const gem2 = readGem(plain);
    assert.equal(gem2.spec.version, '1.0.0');
    assert.equal(gem2.checksums, null);
    assert.deepEqual(gem2.entries, ['metadata', 'data.tar.gz']);
  });

  test('errors name the file once the caller adds it', () => {
    const err = rejectsGem(buildGem({ metadata: null }), 'invalid_gem', /no metadata\.gz/);
    assert.equal(err.about('evil-1.0.gem').message, 'evil-1.0.gem: gem has no metadata.gz');
  });
});

describe('readGem rejects hostile or broken gems', () => {
  const good = buildGem();

  test('a truncated gem', () => {
    rejectsGem(good.subarray(0, 700), 'invalid_gem', /"metadata\.gz" is truncated/);
  });

  test('an empty file and a file that is not a tar', () => {
    rejectsGem(Buffer.alloc(0), 'invalid_gem', /empty/);
    const err = rejectsGem(Buffer.from('hello, world\n'.repeat(100)), 'invalid_gem', /not a tar archive/);
    assert.doesNotMatch(err.message, /hello/, 'the message quotes none of the bytes');
  });

  test('corrupt gzip in metadata.gz', () => {
    const metadata = Buffer.from(gzipSync(gemspecYaml()));
    metadata.fill(0xaa, 12, 40);
    rejectsGem(buildGem({ metadata }), 'invalid_gem', /metadata\.gz is corrupt gzip data/);
  });

  test('metadata.gz with a second gzip member, trailing junk, a bad CRC or a cut trailer', () => {
    const metadata = gzipSync(gemspecYaml());
    const second = Buffer.concat([metadata, gzipSync('dependencies: []\n')]);
    rejectsGem(
      buildGem({ metadata: second }),
      'invalid_gem',
      /metadata\.gz has \d+ bytes after its gzip stream/,
    );
    const junk = Buffer.concat([metadata, Buffer.from('junk')]);
    rejectsGem(buildGem({ metadata: junk }), 'invalid_gem', /metadata\.gz has 4 bytes after its gzip stream/);
    const badCrc = Buffer.from(metadata);
    badCrc.writeUInt8(badCrc.readUInt8(badCrc.length - 8) ^ 1, badCrc.length - 8);
    rejectsGem(
      buildGem({ metadata: badCrc }),
      'invalid_gem',
      /metadata\.gz is corrupt gzip data \(CRC-32 mismatch\)/,
    );
    rejectsGem(
      buildGem({ metadata: metadata.subarray(0, -3) }),
      'invalid_gem',
      /metadata\.gz is corrupt gzip data/,
    );
  });

  test('metadata.gz that is not gzip, and data.tar.gz that is not gzip', () => {
    rejectsGem(
      buildGem({ metadata: Buffer.from(gemspecYaml()) }),
      'invalid_gem',
      /metadata\.gz is not gzip data/,
    );
    rejectsGem(
      buildGem({ data: Buffer.from('plain tar?') }),
      'invalid_gem',
      /data\.tar\.gz is not gzip data/,
    );
  });

  test('a checksum mismatch', () => {
    const metadata = gzipSync(gemspecYaml());
    const wrong = checksumsYaml({ 'metadata.gz': metadata, 'data.tar.gz': Buffer.from('something else') });
    rejectsGem(
      buildGem({ metadata, checksums: wrong }),
      'invalid_gem',
      /SHA256 checksum mismatch for data\.tar\.gz/,
    );
    const sha512Only = `---\nSHA512:\n  metadata.gz: ${'ab'.repeat(64)}\n`;
    rejectsGem(
      buildGem({ checksums: sha512Only }),
      'invalid_gem',
      /SHA512 checksum mismatch for metadata\.gz/,
    );
    const sha1 = `---\nSHA1:\n  metadata.gz: ${'0a'.repeat(20)}\n`;
    rejectsGem(buildGem({ checksums: sha1 }), 'invalid_gem', /SHA1 checksum mismatch for metadata\.gz/);
  });

  test('checksums for an entry the gem lacks, or with an unknown algorithm', () => {
    const missing = `---\nSHA256:\n  extra.bin: ${sha256(Buffer.from('x'))}\n`;
    rejectsGem(
      buildGem({ checksums: missing }),
      'invalid_gem',
      /"extra\.bin", which is not a checksummed entry/,
    );
    const md5 = `---\nMD5:\n  metadata.gz: ${'ab'.repeat(16)}\n`;
    rejectsGem(buildGem({ checksums: md5 }), 'invalid_gem', /unsupported checksum algorithm "MD5"/);
  });

  test('a YAML alias bomb in the gemspec', () => {
    const bomb = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
    for (const [prev, cur] of ['ab', 'bc', 'cd', 'de', 'ef', 'fg', 'gh', 'hi']) {
      bomb.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    rejectsGem(
      gemWithYaml(`${gemspecYaml()}${bomb.join('\n')}\n`),
      'limit_exceeded',
      /metadata\.gz: YAML aliases expand/,
    );
  });

  test('an unknown Ruby object tag in the gemspec', () => {
    const yaml = gemspecYaml({ metadata: '!ruby/object:OpenStruct\n  table: {}' });
    rejectsGem(gemWithYaml(yaml), 'invalid_spec', /Ruby class tag !ruby\/object:OpenStruct is not allowed/);
  });

  test('a !ruby/hash tag and a gemspec root of another class', () => {
    rejectsGem(
      gemWithYaml(gemspecYaml({ metadata: '!ruby/hash:Foo\n  a: b' })),
      'invalid_spec',
      /!ruby\/hash:Foo/,
    );
    const notSpec = '--- !ruby/object:Gem::Version\nversion: 1.0\n';
    rejectsGem(gemWithYaml(notSpec), 'invalid_spec', /is a Gem::Version object, not a Gem::Specification/);
  });

  test('a symbol that is not :runtime or :development', () => {
    const yaml = gemspecYaml({
      dependencies: '\n- !ruby/object:Gem::Dependency\n  name: rack\n  type: :optional',
    });
    rejectsGem(gemWithYaml(yaml), 'invalid_spec', /symbol :optional is not permitted/);
  });

  test('an entry with an absolute path', () => {
    rejectsGem(buildGem({ extra: [{ name: '/etc/cron.d/x', data: 'x' }] }), 'invalid_gem', /absolute path/);
  });

  test('an entry with a ".." segment', () => {
    rejectsGem(
      buildGem({ extra: [{ name: '../../evil.sig', data: 'x' }] }),
      'invalid_gem',
      /"\.\." path segment/,
    );
  });

  test('a symlink entry', () => {
    const gem = buildTar([
      { name: 'metadata.gz', type: '2', linkname: '/etc/passwd' },
      { name: 'data.tar.gz', data: dataTarGz() },
    ]);
    rejectsGem(gem, 'invalid_gem', /"metadata\.gz" is a symbolic link/);
  });

  test('a duplicate entry', () => {
    rejectsGem(
      buildGem({ extra: [{ name: 'data.tar.gz', data: dataTarGz() }] }),
      'invalid_gem',
      /appears more than once/,
    );
  });

  test('both metadata and metadata.gz', () => {
    rejectsGem(
      buildGem({ extra: [{ name: 'metadata', data: gemspecYaml() }] }),
      'invalid_gem',
      /both metadata\.gz and metadata/,
    );
  });

  test('an unexpected entry', () => {
    rejectsGem(
      buildGem({ extra: [{ name: 'install.sh', data: 'rm -rf /' }] }),
      'invalid_gem',
      /unexpected entry "install\.sh"/,
    );
  });

  test('an old-format (pre-2007) gem', () => {
    const old = Buffer.from(
      'MD5SUM = 0123456789abcdef\nif $0 == __FILE__\n__END__\n--- !ruby/object:Gem::Specification\n',
    );
    rejectsGem(old, 'invalid_gem', /pre-2007.*not supported/);
  });

  test('missing metadata and missing data', () => {
    rejectsGem(buildGem({ metadata: null }), 'invalid_gem', /gem has no metadata\.gz/);
    rejectsGem(buildGem({ data: null }), 'invalid_gem', /gem has no data\.tar\.gz/);
  });

  test('oversize metadata: a gzip bomb of 50 MiB of zeros', () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    const err = rejectsGem(buildGem({ metadata: bomb, checksums: null }), 'limit_exceeded', /metadata\.gz/);
    assert.match(err.message, /decompresses to more than 10 MiB|expands more than 200 times/);
    rejectsGem(
      buildGem({ metadata: bomb, checksums: null }),
      'limit_exceeded',
      /decompresses to more than 10 MiB/,
      {
        limits: { maxExpansionRatio: 100_000 },
      },
    );
  });

  test('a gzip expansion ratio over the limit', () => {
    const zeros = gzipSync(Buffer.alloc(3 * 1024 * 1024));
    rejectsGem(
      buildGem({ metadata: zeros, checksums: null }),
      'limit_exceeded',
      /metadata\.gz expands more than 200 times/,
    );
  });

  test('a checksums.yaml.gz bomb', () => {
    const bomb = gzipSync(Buffer.alloc(11 * 1024 * 1024, 0x20));
    const gem = buildTar([
      { name: 'metadata.gz', data: gzipSync(gemspecYaml()) },
      { name: 'data.tar.gz', data: dataTarGz() },
      { name: 'checksums.yaml.gz', data: bomb },
    ]);
    rejectsGem(gem, 'limit_exceeded', /checksums\.yaml\.gz/);
  });

  test('metadata that is not UTF-8', () => {
    const yaml = Buffer.concat([Buffer.from(gemspecYaml({ summary: 'caf' })), Buffer.from([0xe9, 0x0a])]);
    rejectsGem(buildGem({ metadata: gzipSync(yaml) }), 'invalid_gem', /metadata\.gz is not valid UTF-8/);
  });

  test('a bad gem name', () => {
    rejectsGem(
      gemWithYaml(gemspecYaml({ name: '"../evil"' })),
      'invalid_name',
      /gemspec name: invalid gem name "\.\.\/evil"/,
    );
    rejectsGem(gemWithYaml(gemspecYaml({ name: '"foo bar"' })), 'invalid_name', /"foo bar"/);
    rejectsGem(gemWithYaml(gemspecYaml({ name: '<omit>' })), 'invalid_spec', /gemspec name: is missing/);
  });

  test('a bad version', () => {
    const yaml = gemspecYaml({ version: "!ruby/object:Gem::Version\n  version: '1..0'" });
    rejectsGem(gemWithYaml(yaml), 'invalid_version', /gemspec version: malformed version number "1\.\.0"/);
    rejectsGem(gemWithYaml(gemspecYaml({ version: '<omit>' })), 'invalid_version', /version: is missing/);
  });

  test('a bad platform', () => {
    rejectsGem(
      gemWithYaml(gemspecYaml({ platform: 'x86_64-linux/../../etc' })),
      'invalid_platform',
      /gemspec platform: invalid platform/,
    );
    rejectsGem(gemWithYaml(gemspecYaml({ platform: '"x86 linux"' })), 'invalid_platform', /"x86 linux"/);
    rejectsGem(gemWithYaml(gemspecYaml({ platform: '[x86]' })), 'invalid_platform', /must be a string/);
  });

  test('bad dependencies: name, operator, version', () => {
    const dep = (name: string, op: string, v: string) =>
      gemspecYaml({
        dependencies: `\n- !ruby/object:Gem::Dependency\n  name: ${name}\n  requirement: !ruby/object:Gem::Requirement\n    requirements:\n    - - "${op}"\n      - !ruby/object:Gem::Version\n        version: '${v}'\n  type: :runtime`,
      });
    rejectsGem(
      gemWithYaml(dep('"bad name"', '>=', '1')),
      'invalid_name',
      /dependency "bad name": invalid gem name/,
    );
    rejectsGem(
      gemWithYaml(dep('rack', '=~', '1')),
      'invalid_requirement',
      /dependency "rack": unknown operator "=~"/,
    );
    rejectsGem(
      gemWithYaml(dep('rack', '>=', 'x.y')),
      'invalid_version',
      /dependency "rack": malformed version/,
    );
  });

  test('bad metadata: non-string value, key or value too long', () => {
    rejectsGem(
      gemWithYaml(gemspecYaml({ metadata: '\n  a: 1' })),
      'invalid_spec',
      /metadata\["a"\]: value must be a string/,
    );
    const longKey = `\n  ${'k'.repeat(129)}: v`;
    rejectsGem(
      gemWithYaml(gemspecYaml({ metadata: longKey })),
      'invalid_spec',
      /key is 129 characters, over the 128 limit/,
    );
    const longValue = `\n  k: ${'é'.repeat(1025)}`;
    rejectsGem(gemWithYaml(gemspecYaml({ metadata: longValue })), 'invalid_spec', /value is 1025 characters/);
    const okValue = `\n  k: ${'é'.repeat(1024)}`;
    assert.equal(readGem(gemWithYaml(gemspecYaml({ metadata: okValue }))).spec.metadata['k']?.length, 1024);
  });

  test('missing summary, wrong types, non-integer specification_version', () => {
    rejectsGem(gemWithYaml(gemspecYaml({ summary: '<omit>' })), 'invalid_spec', /summary: is missing/);
    rejectsGem(
      gemWithYaml(gemspecYaml({ authors: 'Ann' })),
      'invalid_spec',
      /authors: must be a list of strings/,
    );
    rejectsGem(
      gemWithYaml(gemspecYaml({ specification_version: 'four' })),
      'invalid_spec',
      /specification_version: must be an integer/,
    );
    rejectsGem(gemWithYaml(gemspecYaml({ date: "'yesterday'" })), 'invalid_spec', /invalid date format/);
  });

  test('limits: too many entries, a large signature, a gem over the size limit', () => {
    const sigs = Array.from({ length: 14 }, (_, i) => ({ name: `x${i}.sig`, data: 'sig' }));
    rejectsGem(buildGem({ extra: sigs }), 'limit_exceeded', /more than 16 entries/);
    rejectsGem(
      buildGem({ extra: [{ name: 'metadata.gz.sig', data: Buffer.alloc(1024 * 1024 + 1) }] }),
      'limit_exceeded',
      /metadata\.gz\.sig is 1048577 bytes/,
    );
    rejectsGem(good, 'limit_exceeded', /over the 1000-byte limit/, { limits: { maxGemSize: 1000 } });
  });
});
