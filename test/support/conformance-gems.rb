# Builds the .gem files that the public gem_server_conformance suite pushes, byte for byte.
#
#   ruby conformance-gems.rb OUT
#
# writes OUT/<id>.gem for every gem below and prints a JSON manifest on stdout:
#   [{ "id": ..., "file": ..., "name": ..., "version": ..., "platform": ..., "sha256": ..., "size": ... }]
#
#   ruby conformance-gems.rb --check-quick-specs LIST.json
#
# reads [[id, gem_path, served_rz_path], ...] and prints [[id, same_bytes, same_yaml], ...]: whether
# the served quick spec, inflated, is exactly Marshal.dump of the gem's own spec after RubyGems'
# abbreviate and sanitize (what a quick spec holds), and whether it at least loads as that spec.
#
# The suite builds tiny gems with no files, fixed dates and a fixed build time, and normalizes the
# metadata so the bytes do not depend on the RubyGems that built them:
# - every gem has authors ["Conformance"], summary "Conformance test", no files and the date
#   2024-07-09;
# - the tar entries carry mtime 0 (SOURCE_DATE_EPOCH=0), and each gzip header says OS 3 (Unix);
# - the metadata YAML leaves out every attribute whose value is nil and records rubygems_version
#   as 3.5.11.
# With Debian's Ruby 3.1 / RubyGems 3.3.15 this reproduces the SHA-256 sums the suite expects;
# the caller checks them.

ENV['SOURCE_DATE_EPOCH'] = '0'

require 'rubygems'
require 'rubygems/package'
require 'digest'
require 'fileutils'
require 'json'
require 'stringio'
require 'zlib'

if ARGV[0] == '--check-quick-specs'
  list = JSON.parse(File.read(ARGV.fetch(1) { abort 'usage: ruby conformance-gems.rb --check-quick-specs LIST' }))
  results = list.map do |id, gem_path, rz_path|
    expected = Gem::Package.new(gem_path).spec
    expected.abbreviate
    expected.sanitize
    served = Zlib::Inflate.inflate(File.binread(rz_path))
    [id, served == Marshal.dump(expected), Marshal.load(served).to_yaml == expected.to_yaml]
  end
  puts JSON.generate(results)
  exit
end

OUT = File.expand_path(ARGV.fetch(0) { abort 'usage: ruby conformance-gems.rb OUT' })
FileUtils.mkdir_p(OUT)

# The suite's gzip members say "Unix" in their header; Zlib writes its own OS code, so a Ruby
# built elsewhere would produce other bytes.
unless Zlib::OS_CODE == Zlib::OS_UNIX
  abort "conformance-gems.rb: Zlib writes OS code #{Zlib::OS_CODE}, not #{Zlib::OS_UNIX} (Unix)"
end

REPORTED_RUBYGEMS_VERSION = '3.5.11'

# Applied to one specification: after RubyGems has filled the YAML coder, drop the nil-valued
# attributes and pin the recorded RubyGems version. The coder's map keeps insertion order, so the
# remaining keys stay where RubyGems put them.
module StableMetadata
  def encode_with(coder)
    super
    fields = coder.map
    fields.reject! { |_key, value| value.nil? }
    fields['rubygems_version'] = REPORTED_RUBYGEMS_VERSION if fields.key?('rubygems_version')
  end
end

def conformance_spec(name, version, platform)
  Gem::Specification.new do |s|
    s.name = name
    s.version = version
    s.platform = platform if platform
    s.authors = ['Conformance']
    s.summary = 'Conformance test'
    s.date = '2024-07-09'
    s.files = []
  end
end

MANIFEST = []

def build(id, name, version, platform: nil)
  spec = conformance_spec(name, version, platform)
  yield spec if block_given?
  spec.extend(StableMetadata)
  path = File.join(OUT, "#{id}.gem")
  FileUtils.rm_f(path)
  package = Gem::Package.new(path)
  package.build_time = Time.at(0).utc
  package.spec = spec
  silent = Gem::StreamUI.new(StringIO.new, StringIO.new, StringIO.new, false)
  Gem::DefaultUserInteraction.use_ui(silent) { package.build }
  MANIFEST << {
    id: id,
    file: File.basename(path),
    name: spec.name,
    version: spec.version.to_s,
    platform: spec.original_platform.to_s,
    sha256: Digest::SHA256.file(path).hexdigest,
    size: File.size(path),
  }
end

# In the order the suite pushes them.
build('a-1.0.0', 'a', '1.0.0')
build('a-0.0.1', 'a', '0.0.1')
build('b-1.0.0.pre', 'b', '1.0.0.pre') do |s|
  s.add_runtime_dependency 'a', '< 1.0.0', '>= 0.1.0'
  s.required_ruby_version = '>= 2.0'
  s.required_rubygems_version = '>= 2.0'
end
# Same name, version and platform as a-0.0.1 but other metadata: the server must refuse it.
build('a-0.0.1-duplicate', 'a', '0.0.1') do |s|
  s.add_runtime_dependency 'b', '>= 1.0.0'
end
build('a-0.2.0', 'a', '0.2.0')
build('a-0.2.0-x86-mingw32', 'a', '0.2.0', platform: 'x86-mingw32')
build('a-0.2.0-java', 'a', '0.2.0', platform: 'java')
build('a-0.3.0', 'a', '0.3.0')

puts JSON.generate(MANIFEST)
