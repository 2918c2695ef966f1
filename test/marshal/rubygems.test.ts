/**
 * Cross-checks of the RubyGems dumps against real Ruby and real `gem generate_index` output,
 * made at test time from gems that RubyGems itself builds (fixtures/build_gems.rb).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { GemSpec, Requirement } from '../../src/gem/spec.ts';
import { fullName } from '../../src/gem/spec.ts';
import { load } from '../../src/marshal/reader.ts';
import type { DependencyRecord, SpecTuple } from '../../src/marshal/rubygems.ts';
import {
  deflateQuickSpec,
  dumpDependencyRecords,
  dumpGemVersion,
  dumpQuickSpec,
  dumpSpecTuples,
  loadDependencyRecords,
  loadSpecTuples,
  sanitizeSummary,
} from '../../src/marshal/rubygems.ts';
import { isRUserDefined } from '../../src/marshal/types.ts';
import { buildRubyGems, listing, RUBY_SAFE_LOAD, type RubyGemFixtures, ruby, rubyDump } from './ruby.ts';

const reqString = (r: Requirement): string => r.map((c) => `${c.op} ${c.version}`).join(', ');

let fx: RubyGemFixtures;

before(() => {
  fx = buildRubyGems();
  execFileSync('gem', ['generate_index', '-d', fx.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
});

after(() => fx?.cleanup());

describe('fixtures', () => {
  test('the Ruby-built gems cover the cases the dumps must get right', () => {
    const specs = fx.gems.map((g) => g.spec);
    assert.ok(specs.length >= 10);
    const has = (what: string, pred: (s: GemSpec) => boolean) =>
      assert.ok(specs.some(pred), `no fixture with ${what}`);
    has('platform java', (s) => s.platform === 'java');
    has('platform x86_64-linux', (s) => s.platform === 'x86_64-linux');
    has('a prerelease version', (s) => /[a-zA-Z]/.test(s.version));
    has('no description', (s) => s.description === null);
    has('a non-ASCII summary', (s) => s.summary === 'Résumé ✓');
    has('email as an Array', (s) => Array.isArray(s.email));
    has('email as a String', (s) => typeof s.email === 'string');
    has('no email', (s) => s.email === null);
    has('no homepage', (s) => s.homepage === null);
    has('a metadata Hash', (s) => Object.keys(s.metadata).length > 1);
    has('a required_ruby_version', (s) => reqString(s.requiredRubyVersion) !== '>= 0');
    has('runtime and development deps', (s) => new Set(s.dependencies.map((d) => d.type)).size === 2);
    has('a multi-constraint requirement', (s) => s.dependencies.some((d) => d.requirement.length > 1));
  });
});

describe('dumpQuickSpec', () => {
  test("is byte-identical to Ruby's Marshal.dump of the abbreviated, sanitized spec", () => {
    for (const g of fx.gems) {
      assert.equal(dumpQuickSpec(g.spec).toString('hex'), g.marshal.toString('hex'), g.file);
    }
  });

  test("matches the inflated quick/Marshal.4.8 files of Ruby's gem generate_index", () => {
    for (const g of fx.gems) {
      const name = fullName(g.spec.name, g.spec.version, g.spec.platform);
      const rz = readFileSync(join(fx.dir, 'quick', 'Marshal.4.8', `${name}.gemspec.rz`));
      assert.deepEqual(dumpQuickSpec(g.spec), inflateSync(rz), name);
    }
  });

  test('deflateQuickSpec is a zlib stream that Ruby inflates and loads into the same spec', () => {
    const outDir = join(fx.dir, 'ours');
    mkdirSync(outDir, { recursive: true });
    const expected: Record<string, unknown> = {};
    for (const g of fx.gems) {
      const s = g.spec;
      const name = fullName(s.name, s.version, s.platform);
      const rz = deflateQuickSpec(dumpQuickSpec(s));
      assert.deepEqual([...rz.subarray(0, 2)], [0x78, 0x9c], 'zlib header, default level');
      writeFileSync(join(outDir, `${name}.gemspec.rz`), rz);
      expected[name] = {
        name: s.name,
        version: s.version,
        original_platform: s.platform,
        platform: s.platform === 'ruby' ? 'ruby' : platformToS(s.platform),
        date: s.date.toISOString().replace('.000Z', 'Z'),
        summary: sanitizeSummary(s.summary),
        description: s.description ?? '',
        email: s.email,
        authors: s.authors,
        homepage: s.homepage,
        metadata: s.metadata,
        deps: s.dependencies.map((d) => [d.name, reqString(d.requirement), d.type]),
        ruby: reqString(s.requiredRubyVersion),
        rubygems: reqString(s.requiredRubygemsVersion),
        rubygems_version: s.rubygemsVersion,
      };
    }
    const out = ruby(
      `${RUBY_SAFE_LOAD}
       require "json"
       res = {}
       Dir[File.join(ARGV[0], "*.gemspec.rz")].sort.each do |f|
         s = safe_loads(Gem::Util.inflate(File.binread(f)))
         res[File.basename(f, ".gemspec.rz")] = {
           name: s.name, version: s.version.version, original_platform: s.original_platform,
           platform: s.platform.to_s, date: s.date.utc.strftime("%Y-%m-%dT%H:%M:%SZ"), summary: s.summary,
           description: s.description, email: s.email, authors: s.authors, homepage: s.homepage,
           metadata: s.metadata, deps: s.dependencies.map { |d| [d.name, d.requirement.to_s, d.type.to_s] },
           ruby: s.required_ruby_version.to_s, rubygems: s.required_rubygems_version.to_s,
           rubygems_version: s.rubygems_version }
       end
       puts JSON.generate(res)`,
      { args: [outDir] },
    );
    assert.deepEqual(JSON.parse(out.toString('utf8')), expected);
  });

  test('the outer value is a u Gem::Specification wrapping a 19-element stream', () => {
    const g = fx.gems[0];
    assert.ok(g);
    const outer = load(dumpQuickSpec(g.spec));
    assert.ok(isRUserDefined(outer) && outer.className === 'Gem::Specification');
    const inner = load(outer.bytes);
    assert.ok(Array.isArray(inner) && inner.length === 19);
  });
});

/** Gem::Platform#to_s for the fixture platforms (all of them are already in normal form except i686). */
function platformToS(p: string): string {
  return p.replace(/^i\d86-/, 'x86-');
}

describe('dumpSpecTuples', () => {
  for (const file of ['specs.4.8', 'latest_specs.4.8', 'prerelease_specs.4.8']) {
    test(`matches ${file} of gem generate_index byte for byte (same tuple order)`, () => {
      const theirs = readFileSync(join(fx.dir, file));
      assert.deepEqual(gunzipSync(readFileSync(join(fx.dir, `${file}.gz`))), theirs);
      const tuples = loadSpecTuples(theirs);
      assert.ok(tuples.length > 0);
      assert.deepEqual(dumpSpecTuples(tuples), theirs);
    });
  }

  test('the index files hold the expected tuples', () => {
    const fmt = (t: SpecTuple) => `${t.name} ${t.version} ${t.platform}`;
    const pre = loadSpecTuples(readFileSync(join(fx.dir, 'prerelease_specs.4.8'))).map(fmt);
    assert.deepEqual(pre.sort(), ['alpha 2.0.0.pre1 ruby', 'beta 0.2.0.rc1 ruby']);
    const specs = loadSpecTuples(readFileSync(join(fx.dir, 'specs.4.8'))).map(fmt);
    const releases = fx.gems.filter((g) => !/[a-zA-Z]/.test(g.spec.version)).map((g) => fmt(g.spec));
    assert.deepEqual([...specs].sort(), releases.sort());
  });

  test('Ruby loads our tuples with shared names, versions and platforms', () => {
    const tuples = fx.gems.map((g) => ({
      name: g.spec.name,
      version: g.spec.version,
      platform: g.spec.platform,
    }));
    const out = ruby(
      `${RUBY_SAFE_LOAD}
       require "json"
       v = safe_loads($stdin.binmode.read)
       ids = ->(i) { v.map { |t| t[i].object_id }.uniq.size }
       puts JSON.generate(list: v.map { |n, ver, p| [n, ver.class.name, ver.version, p] },
                          names: ids.(0), versions: ids.(1), platforms: ids.(2))`,
      { input: dumpSpecTuples(tuples) },
    );
    const got = JSON.parse(out.toString('utf8'));
    assert.deepEqual(
      got.list,
      tuples.map((t) => [t.name, 'Gem::Version', t.version, t.platform]),
    );
    assert.equal(got.names, new Set(tuples.map((t) => t.name)).size);
    assert.equal(got.versions, new Set(tuples.map((t) => t.version)).size);
    assert.equal(got.platforms, new Set(tuples.map((t) => t.platform)).size);
  });

  test('an empty platform is written as "ruby", as the indexer does', () => {
    const bytes = dumpSpecTuples([{ name: 'a', version: '1', platform: '' }]);
    assert.deepEqual(loadSpecTuples(bytes), [{ name: 'a', version: '1', platform: 'ruby' }]);
  });

  test('100,000 tuples dump and read back', () => {
    const tuples = Array.from({ length: 100_000 }, (_, i) => ({
      name: `gem-${i}`,
      version: `${i % 50}.${i % 7}.${i}`,
      platform: i % 10 === 0 ? 'x86_64-linux' : 'ruby',
    }));
    const bytes = dumpSpecTuples(tuples);
    assert.deepEqual(loadSpecTuples(bytes), tuples);
  });
});

describe('dumpDependencyRecords', () => {
  const recordsOf = (gems: RubyGemFixtures['gems']): DependencyRecord[] =>
    gems.map((g) => ({
      name: g.spec.name,
      number: g.spec.version,
      platform: g.spec.platform,
      dependencies: g.spec.dependencies
        .filter((d) => d.type === 'runtime')
        .map((d): [string, string] => [d.name, reqString(d.requirement)]),
    }));

  test('the bytes of PROTOCOL.md 4.2', () => {
    const bytes = dumpDependencyRecords([
      { name: 'beta', number: '0.1.0', platform: 'ruby', dependencies: [['alpha', '>= 1.0, < 2']] },
      { name: 'beta', number: '0.2.0.rc1', platform: 'ruby', dependencies: [['alpha', '~> 1.1']] },
    ]);
    const expected = listing(`04 08 5b 07
      7b 09
        3a 09 "name" 49 22 09 "beta" 06 3a 06 45 54
        3a 0b "number" 49 22 0a "0.1.0" 06 3b 06 54
        3a 0d "platform" 49 22 09 "ruby" 06 3b 06 54
        3a 11 "dependencies" 5b 06 5b 07 49 22 0a "alpha" 06 3b 06 54 49 22 10 ">= 1.0, < 2" 06 3b 06 54
      7b 09
        3b 00 49 22 09 "beta" 06 3b 06 54 3b 07 49 22 0e "0.2.0.rc1" 06 3b 06 54 3b 08 40 09
        3b 09 5b 06 5b 07 49 22 0a "alpha" 06 3b 06 54 49 22 0b "~> 1.1" 06 3b 06 54`);
    assert.equal(bytes.toString('hex'), expected.toString('hex'));
  });

  test("matches Ruby's Marshal.dump of the same records (one String per platform), and loads equal", () => {
    const records = recordsOf(fx.gems);
    assert.ok(records.some((r) => r.dependencies.length > 0));
    const script = `${RUBY_SAFE_LOAD}
      require "json"
      input = JSON.parse($stdin.read)
      platforms = {}
      records = input.map do |r|
        { name: r["name"], number: r["number"], platform: (platforms[r["platform"]] ||= r["platform"]),
          dependencies: r["dependencies"] }
      end
      if ARGV[0] == "dump"
        $stdout.binmode.write Marshal.dump(records)
      else
        ours = safe_loads([ARGV[1]].pack("H*"))
        puts(ours == records ? "equal" : "different")
      end`;
    const json = JSON.stringify(records);
    const ours = dumpDependencyRecords(records);
    assert.equal(ours.toString('hex'), ruby(script, { input: json, args: ['dump'] }).toString('hex'));
    assert.equal(
      ruby(script, { input: json, args: ['load', ours.toString('hex')] })
        .toString()
        .trim(),
      'equal',
    );
    assert.deepEqual(loadDependencyRecords(ours), records);
  });

  test('no nil anywhere, even with no dependencies', () => {
    const bytes = dumpDependencyRecords([{ name: 'x', number: '1', platform: 'java', dependencies: [] }]);
    const hasNil = (v: unknown): boolean =>
      v === null || (typeof v === 'object' && Object.values(v as object).some((x) => hasNil(x)));
    assert.equal(hasNil(load(bytes)), false);
    assert.deepEqual(loadDependencyRecords(bytes), [
      { name: 'x', number: '1', platform: 'java', dependencies: [] },
    ]);
  });
});

describe('dumpGemVersion', () => {
  test('matches Ruby for release and prerelease versions', () => {
    for (const v of ['0', '1.0', '1.0.0', '2.0.0.pre1', '0.2.0.rc1', '10.20.30.40']) {
      assert.equal(
        dumpGemVersion(v).toString('hex'),
        rubyDump(`Gem::Version.new(${JSON.stringify(v)})`).toString('hex'),
      );
    }
  });
});
