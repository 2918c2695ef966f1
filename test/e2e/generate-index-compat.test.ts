/**
 * `quarry index` against RubyGems' own `gem generate_index` on the same corpus. One Ruby process
 * loads both outputs with Marshal and reports what it found; the assertions are made here.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildCorpus } from '../support/corpus.ts';
import { generateIndex, indexStaticDir, staticIndexer } from '../support/quarry.ts';
import { describeRun, requireRuby, rubySandbox } from '../support/ruby.ts';

type Tuple = [name: string, version: string, platform: string];

interface TupleFile {
  /** Set when the file is missing or could not be read. */
  error?: string;
  /** [name, version.to_s, platform], sorted. */
  rows: Tuple[];
  /** Entries that are not [String, Gem::Version, String]. */
  bad: string[];
}

interface QuickDiff {
  file: string;
  problem: string;
  fields?: { field: string; theirs: unknown; ours: unknown }[];
}

interface Report {
  a: Record<string, TupleFile>;
  b: Record<string, TupleFile>;
  /** For each legacy index of B: does gunzip(X.4.8.gz) equal X.4.8 byte for byte? */
  bGzMatchesRaw: Record<string, boolean>;
  quickA: string[];
  quickB: string[];
  quickDiffs: QuickDiff[];
  /** Every (name, version, platform, prerelease) of the gems in A/gems, read by RubyGems. */
  gems: [string, string, string, boolean][];
  /** Highest release version per (name, original platform), from the gems themselves. */
  latestPerPlatform: Tuple[];
  /** Highest release version per name. */
  latestPerName: [string, string][];
}

const FILES = ['specs.4.8', 'latest_specs.4.8', 'prerelease_specs.4.8'];

// Loads both directories with real RubyGems and prints a JSON report. Quick specs are compared field
// by field on the 19-element array that Gem::Specification#_dump writes (read raw, because
// Specification._load drops the licenses field), each field reduced to a canonical tree of class,
// instance variables, string encodings and values. Object sharing (Marshal links) is ignored.
const COMPARE_RB = `
require 'json'
require 'zlib'
require 'rubygems'
require 'rubygems/package'

A, B = ARGV
FILES = %w[specs.4.8 latest_specs.4.8 prerelease_specs.4.8]
FIELDS = %w[rubygems_version specification_version name version date summary required_ruby_version
  required_rubygems_version original_platform dependencies rubyforge_project email authors description
  homepage has_rdoc new_platform licenses metadata]

module RawSpecLoad
  def _load(str)
    Thread.current[:quarry_raw_spec] ? Marshal.load(str) : super
  end
end
Gem::Specification.singleton_class.prepend(RawSpecLoad)

def tuples(path)
  data = File.binread(path)
  data = Gem::Util.gunzip(data) if path.end_with?('.gz')
  list = Marshal.load(data)
  return { error: "not an Array: #{list.class}", rows: [], bad: [] } unless list.is_a?(Array)
  bad = []
  rows = list.map do |t|
    ok = t.is_a?(Array) && t.size == 3 && t[0].is_a?(String) && t[1].is_a?(Gem::Version) && t[2].is_a?(String)
    bad << t.inspect unless ok
    t.is_a?(Array) ? t.map(&:to_s) : [t.inspect, '', '']
  end
  { rows: rows.sort, bad: bad }
rescue StandardError => e
  { error: "#{e.class}: #{e.message}", rows: [], bad: [] }
end

def text(s)
  s.dup.force_encoding('UTF-8').valid_encoding? ? s.dup.force_encoding('UTF-8') : "hex:#{s.unpack1('H*')}"
end

def canon(o)
  case o
  when nil, true, false, Integer then o
  when String then ['String', o.encoding.name, text(o)]
  when Symbol then ['Symbol', o.to_s]
  when Array then ['Array', o.map { |x| canon(x) }]
  when Hash then ['Hash', o.map { |k, v| [canon(k), canon(v)] }, canon(o.default)]
  when Time then ['Time', o.to_i, o.nsec, o.utc?, o.utc_offset, o.zone]
  else [o.class.name, o.instance_variables.sort.map { |iv| [iv.to_s, canon(o.instance_variable_get(iv))] }]
  end
end

def raw_fields(path)
  Thread.current[:quarry_raw_spec] = true
  Marshal.load(Zlib::Inflate.inflate(File.binread(path)))
ensure
  Thread.current[:quarry_raw_spec] = false
end

def quick_diff(file)
  pa = File.join(A, 'quick', 'Marshal.4.8', file)
  pb = File.join(B, 'quick', 'Marshal.4.8', file)
  return { file: file, problem: 'missing in ours' } unless File.file?(pb)
  begin
    spec = Marshal.load(Zlib::Inflate.inflate(File.binread(pb)))
    return { file: file, problem: "loads as #{spec.class}" } unless spec.is_a?(Gem::Specification)
    return { file: file, problem: "loads as #{spec.original_name}" } unless "#{spec.original_name}.gemspec.rz" == file
    fa = raw_fields(pa)
    fb = raw_fields(pb)
  rescue StandardError => e
    return { file: file, problem: "cannot load ours: #{e.class}: #{e.message}" }
  end
  return { file: file, problem: "ours has #{fb.size} fields, theirs #{fa.size}" } unless fb.size == fa.size
  fields = fa.each_index.filter_map do |i|
    ca = canon(fa[i])
    cb = canon(fb[i])
    { field: FIELDS[i] || i.to_s, theirs: ca, ours: cb } unless ca == cb
  end
  fields.empty? ? nil : { file: file, problem: 'fields differ', fields: fields }
end

report = { a: {}, b: {}, bGzMatchesRaw: {} }
FILES.each do |f|
  [[A, :a], [B, :b]].each do |dir, key|
    report[key][f] = tuples(File.join(dir, f))
    report[key]["#{f}.gz"] = tuples(File.join(dir, "#{f}.gz"))
  end
  begin
    report[:bGzMatchesRaw][f] = Gem::Util.gunzip(File.binread(File.join(B, "#{f}.gz"))) == File.binread(File.join(B, f))
  rescue StandardError
    report[:bGzMatchesRaw][f] = false
  end
end

quick = ->(dir) { d = File.join(dir, 'quick', 'Marshal.4.8'); File.directory?(d) ? Dir.children(d).sort : [] }
report[:quickA] = quick.(A)
report[:quickB] = quick.(B)
report[:quickDiffs] = report[:quickA].filter_map { |f| quick_diff(f) }

specs = Dir.glob(File.join(A, 'gems', '*.gem')).sort.map { |f| Gem::Package.new(f).spec }
report[:gems] = specs.map { |s| [s.name, s.version.to_s, s.original_platform.to_s, s.version.prerelease?] }
released = specs.reject { |s| s.version.prerelease? }
report[:latestPerPlatform] = released.group_by { |s| [s.name, s.original_platform.to_s] }
  .map { |(name, platform), ss| [name, ss.map(&:version).max.to_s, platform] }.sort
report[:latestPerName] = released.group_by(&:name).map { |name, ss| [name, ss.map(&:version).max.to_s] }.sort
puts JSON.generate(report)
`;

const key = (t: readonly string[]): string => t.join(' ');

/** Rows only in one of two tuple lists, as short readable lines. */
function setDiff(expected: Tuple[], ours: Tuple[], expectedLabel = 'theirs'): string {
  const a = new Set(expected.map(key));
  const b = new Set(ours.map(key));
  const onlyA = [...a].filter((x) => !b.has(x)).map((x) => `  - only in ${expectedLabel}: ${x}`);
  const onlyB = [...b].filter((x) => !a.has(x)).map((x) => `  + only in ours: ${x}`);
  return [...onlyA, ...onlyB].slice(0, 40).join('\n');
}

describe(`${staticIndexer()} output matches gem generate_index (RubyGems 3.3)`, () => {
  let root: string;
  let report: Report;

  before(() => {
    requireRuby();
    root = mkdtempSync(join(tmpdir(), 'quarry-compat-'));
    const a = join(root, 'A');
    const b = join(root, 'B');
    buildCorpus(a);
    buildCorpus(b);
    generateIndex(a);
    indexStaticDir(b);
    const s = rubySandbox('quarry-compat-ruby-');
    try {
      const r = s.rubySync(['-e', COMPARE_RB, a, b], { timeoutMs: 120_000 });
      if (r.status !== 0) throw new Error(describeRun('ruby (compare indexes)', r));
      report = JSON.parse(r.stdout) as Report;
    } finally {
      s.cleanup();
    }
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('both outputs are readable Marshal of [String, Gem::Version, String] tuples', () => {
    for (const side of ['a', 'b'] as const) {
      for (const f of FILES.flatMap((x) => [x, `${x}.gz`])) {
        const t = report[side][f];
        const who = side === 'a' ? 'generate_index' : 'ours';
        assert.ok(t, `${who}: ${f} was not examined`);
        assert.equal(t.error, undefined, `${who}: ${f}: ${t.error}`);
        assert.deepEqual(t.bad, [], `${who}: ${f} has malformed entries`);
      }
    }
    // generate_index must have seen the whole corpus, or the comparison means little.
    const released = report.gems.filter((g) => !g[3]).length;
    assert.equal(report.a['specs.4.8.gz']?.rows.length, released);
  });

  for (const f of ['specs.4.8', 'prerelease_specs.4.8']) {
    for (const file of [`${f}.gz`, f]) {
      test(`${file} lists the same tuples`, () => {
        const theirs = report.a[file]!.rows;
        const ours = report.b[file]!.rows;
        assert.deepEqual(ours, theirs, `${file} differs:\n${setDiff(theirs, ours)}`);
      });
    }
  }

  test('each uncompressed .4.8 file is the gunzipped .4.8.gz', () => {
    for (const f of FILES) assert.equal(report.bGzMatchesRaw[f], true, `gunzip(${f}.gz) != ${f}`);
  });

  test('every quick spec of generate_index exists in ours with equal _dump fields', () => {
    const missing = report.quickA.filter((f) => !report.quickB.includes(f));
    assert.deepEqual(missing, [], 'quick specs missing from ours');
    const extra = report.quickB.filter((f) => !report.quickA.includes(f));
    if (extra.length > 0) process.stderr.write(`quick specs only in ours: ${extra.join(', ')}\n`);
    assert.equal(report.quickA.length, report.gems.length, 'generate_index wrote one quick spec per gem');
    const short = report.quickDiffs
      .slice(0, 5)
      .map((d) =>
        [
          `${d.file}: ${d.problem}`,
          ...(d.fields ?? []).map(
            (x) =>
              `  ${x.field}:\n    theirs ${JSON.stringify(x.theirs)}\n    ours   ${JSON.stringify(x.ours)}`,
          ),
        ].join('\n'),
      );
    assert.equal(
      report.quickDiffs.length,
      0,
      `${report.quickDiffs.length} quick specs differ:\n${short.join('\n')}`,
    );
  });

  test('latest_specs has the highest release per (name, platform)', () => {
    for (const file of ['latest_specs.4.8.gz', 'latest_specs.4.8']) {
      const ours = report.b[file]!.rows;
      const expected = report.latestPerPlatform;
      assert.deepEqual(
        ours,
        expected,
        `${file} differs from the per-platform rule:\n${setDiff(expected, ours, 'expected')}`,
      );
    }
    // The corpus is built so that the rule matters: one version on three platforms.
    const native = report.latestPerPlatform.filter((t) => t[0] === 'edge-native');
    assert.deepEqual(native, [
      ['edge-native', '2.0.0', 'java'],
      ['edge-native', '2.0.0', 'ruby'],
      ['edge-native', '2.0.0', 'x86_64-linux'],
    ]);
    assert.ok(
      !report.latestPerPlatform.some((t) => t[0] === 'edge-pre'),
      'prerelease-only gems are not latest',
    );
    assert.ok(report.latestPerPlatform.some((t) => key(t) === 'edge-mixed 1.0.0 ruby'));
    assert.ok(report.latestPerPlatform.some((t) => key(t) === 'edge-base 3.0.0 ruby'));
  });

  test('latest_specs differs from generate_index only by the per-platform rule', () => {
    const theirs = report.a['latest_specs.4.8.gz']!.rows;
    const ours = report.b['latest_specs.4.8.gz']!.rows;
    // generate_index keeps one entry per name: its highest release version, on some platform.
    assert.deepEqual(
      theirs.map((t) => [t[0], t[1]]),
      report.latestPerName,
      'generate_index is expected to list one highest release per name',
    );
    const oursKeys = new Set(ours.map(key));
    const missing = theirs.filter((t) => !oursKeys.has(key(t)));
    assert.deepEqual(missing, [], 'every generate_index latest entry is in ours');
    const theirsByName = new Map(theirs.map((t) => [t[0], t]));
    const theirsKeys = new Set(theirs.map(key));
    const unexplained = ours
      .filter((t) => !theirsKeys.has(key(t)))
      .filter((t) => {
        const top = theirsByName.get(t[0]);
        // Explained: the same name is listed by generate_index on another platform, and this
        // (name, platform) has no higher release version than the one generate_index chose.
        const perPlatform = report.latestPerPlatform.find((x) => x[0] === t[0] && x[2] === t[2]);
        return !(top && top[2] !== t[2] && perPlatform && key(perPlatform) === key(t));
      });
    assert.deepEqual(
      unexplained,
      [],
      `entries of ours not explained by the per-platform rule:\n${setDiff(theirs, ours)}`,
    );
    const extra = ours.filter((t) => !theirsKeys.has(key(t)));
    assert.ok(extra.length >= 2, `the corpus should make ours list extra platforms, got ${extra.length}`);
  });
});
