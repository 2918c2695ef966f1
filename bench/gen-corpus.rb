#!/usr/bin/env ruby
# frozen_string_literal: true

# Generates a synthetic but realistic corpus of .gem files for the benchmarks.
#
#   ruby bench/gen-corpus.rb N OUT_DIR [--extra K]
#
# Writes exactly N gems to OUT_DIR/gems and K (default 10) more to OUT_DIR/extra: new, higher versions
# of existing corpus gems, which the benchmark adds one at a time to time incremental updates.
# Deterministic (seeded by N, SOURCE_DATE_EPOCH fixed) and cached: when OUT_DIR/corpus.json matches
# the request and the files are all there, it does nothing.
#
# Shape: names gem-00001, gem-00002, ...; 1-5 versions per name, about 8% of them prereleases
# (x.y.z.beta1, x.y.z.rc1); about 4% of versions also published for java and/or x86_64-linux;
# 0-4 runtime dependencies on earlier corpus gems (`~> X.Y` or `>= X.Y.Z`), plus some development
# dependencies; summary, description and four small files per gem.
#
# Packages are real RubyGems packages (Gem::Package#build with its metadata.gz, data.tar.gz and
# checksums.yaml.gz), built in this one process with the file contents kept in memory.

require 'rubygems'
require 'rubygems/package'
require 'fileutils'
require 'json'

ENV['SOURCE_DATE_EPOCH'] = '1704067200' # 2024-01-01T00:00:00Z
GENERATOR = 2 # bump when the corpus shape changes, so cached corpora are rebuilt

# A Gem::Package whose data files come from memory instead of the working directory.
class MemoryPackage < Gem::Package
  attr_writer :contents

  def add_files(tar)
    @contents.each do |path, body|
      tar.add_file_simple(path, 0o644, body.bytesize) { |io| io.write(body) }
    end
  end
end

WORDS = %w[
  fast small simple robust parser client server cache queue stream async json yaml http rack
  logger config model record schema query token auth crypto image pdf csv xml template render
  worker job retry pool thread socket signal event hook plugin adapter driver bridge wrapper
  toolkit helper utility library framework engine runtime native binding extension metrics trace
].freeze

def sentence(rng, min, max)
  Array.new(rng.rand(min..max)) { WORDS[rng.rand(WORDS.size)] }.join(' ').capitalize
end

# Version numbers of one gem, ascending, with an occasional prerelease.
def version_list(rng, count)
  major = rng.rand(0..3)
  minor = rng.rand(0..9)
  patch = 0
  Array.new(count) do
    case rng.rand(10)
    when 0 then major += 1; minor = 0; patch = 0
    when 1..4 then minor += 1; patch = 0
    else patch += 1
    end
    base = "#{major}.#{minor}.#{patch}"
    rng.rand(100) < 8 ? "#{base}.#{rng.rand(2).zero? ? 'beta' : 'rc'}#{rng.rand(1..3)}" : base
  end
end

def requirement_for(rng, version)
  segments = Gem::Version.new(version).release.segments
  if rng.rand(3).zero?
    ">= #{segments.first(3).join('.')}"
  else
    "~> #{segments.first(2).join('.')}"
  end
end

def contents_for(rng, name, version)
  mod = name.split('-').map(&:capitalize).join
  {
    "lib/#{name}.rb" => "# frozen_string_literal: true\n\nrequire_relative '#{name}/version'\n\n" \
                        "module #{mod}\n  # #{sentence(rng, 6, 14)}.\n  def self.call(input)\n    " \
                        "input.to_s.reverse\n  end\nend\n",
    "lib/#{name}/version.rb" => "# frozen_string_literal: true\n\nmodule #{mod}\n  VERSION = '#{version}'\nend\n",
    'README.md' => "# #{name}\n\n#{Array.new(3) { sentence(rng, 10, 30) }.join(".\n\n")}.\n",
    'LICENSE.txt' => "MIT License\n\nCopyright (c) 2024 Bench Corp\n\nPermission is hereby granted, free of " \
                     "charge, to any person obtaining a copy of this software.\n",
  }
end

def spec_for(rng, name, version, platform, deps)
  Gem::Specification.new do |s|
    s.name = name
    s.version = version
    s.platform = platform unless platform == 'ruby'
    s.date = Gem.source_date_epoch # explicit: a build without validation would leave it empty
    s.authors = ["Author #{rng.rand(1000)}"]
    s.email = "dev#{rng.rand(1000)}@example.invalid"
    s.homepage = "https://example.invalid/#{name}"
    s.license = 'MIT'
    s.summary = sentence(rng, 4, 10)
    s.description = Array.new(rng.rand(1..4)) { sentence(rng, 8, 24) }.join('. ')
    s.required_ruby_version = '>= 2.7' if rng.rand(2).zero?
    s.metadata = { 'source_code_uri' => "https://example.invalid/#{name}/src" }
    deps.each { |dep, req| s.add_runtime_dependency dep, req }
    s.add_development_dependency 'rake', '~> 13.0' if rng.rand(2).zero?
    s.add_development_dependency 'minitest', '~> 5.0' if rng.rand(3).zero?
  end
end

def build(spec, contents, dir)
  spec.files = contents.keys
  path = File.join(dir, spec.file_name)
  pkg = MemoryPackage.new(path)
  pkg.spec = spec
  pkg.contents = contents
  pkg.build(true)
  path
end

# Picks up to 4 runtime dependencies among earlier names.
def deps_for(rng, known)
  return [] if known.empty?

  Array.new(rng.rand(0..4)) { known[rng.rand(known.size)] }.uniq(&:first).map do |dep_name, versions|
    [dep_name, requirement_for(rng, versions[rng.rand(versions.size)])]
  end
end

def generate(n, extra, out)
  rng = Random.new(n)
  gems_dir = File.join(out, 'gems')
  extra_dir = File.join(out, 'extra')
  [gems_dir, extra_dir].each { |d| FileUtils.rm_rf(d) }
  FileUtils.mkdir_p([gems_dir, extra_dir])

  known = [] # [name, [versions]] of finished names, for dependencies
  count = 0
  index = 0
  while count < n
    index += 1
    name = format('gem-%05d', index)
    versions = version_list(rng, rng.rand(1..5))
    versions.each do |version|
      deps = deps_for(rng, known)
      platforms = ['ruby']
      if rng.rand(100) < 4
        platforms << 'java' if rng.rand(2).zero?
        platforms << 'x86_64-linux' if platforms.size == 1 || rng.rand(2).zero?
      end
      platforms.each do |platform|
        break if count >= n

        build(spec_for(rng, name, version, platform, deps), contents_for(rng, name, version), gems_dir)
        count += 1
      end
    end
    known << [name, versions]
  end

  # Extra gems: a new, higher version of existing names, one per update.
  extra.times do |k|
    name, versions = known[rng.rand(known.size)]
    top = versions.map { |v| Gem::Version.new(v) }.max.release.segments
    version = "#{top[0] + 1}.#{k}.0"
    build(spec_for(rng, name, version, 'ruby', deps_for(rng, known)), contents_for(rng, name, version), extra_dir)
  end
end

def gem_count(dir)
  Dir.exist?(dir) ? Dir.children(dir).count { |f| f.end_with?('.gem') } : 0
end

n = Integer(ARGV.fetch(0) { abort 'usage: ruby bench/gen-corpus.rb N OUT_DIR [--extra K]' })
out = File.expand_path(ARGV.fetch(1) { abort 'usage: ruby bench/gen-corpus.rb N OUT_DIR [--extra K]' })
extra_at = ARGV.index('--extra')
extra = extra_at ? Integer(ARGV.fetch(extra_at + 1)) : 10

marker = File.join(out, 'corpus.json')
want = { 'generator' => GENERATOR, 'n' => n, 'extra' => extra }
have = File.exist?(marker) ? JSON.parse(File.read(marker)) : nil
if have == want && gem_count(File.join(out, 'gems')) == n && gem_count(File.join(out, 'extra')) == extra
  warn "corpus: #{out} already has #{n} gems (+#{extra} extra)"
  exit 0
end

started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
FileUtils.rm_f(marker)
Gem::DefaultUserInteraction.use_ui(Gem::SilentUI.new) { generate(n, extra, out) }
raise "expected #{n} gems, wrote #{gem_count(File.join(out, 'gems'))}" unless gem_count(File.join(out, 'gems')) == n

File.write(marker, "#{JSON.generate(want)}\n")
took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
warn format('corpus: wrote %<n>d gems (+%<extra>d extra) to %<out>s in %<took>.1f s', n: n, extra: extra, out: out, took: took)
