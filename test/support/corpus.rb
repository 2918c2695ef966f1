# Builds the test corpus of .gem files.
#
#   ruby corpus.rb OUT
#
# writes OUT/gems/*.gem (the corpus) and OUT/extra/*.gem (gems a test adds later), prints a JSON
# manifest on stdout and a short log on stderr. Builds are deterministic: SOURCE_DATE_EPOCH is fixed,
# so the same Ruby produces the same bytes every time.
#
# Two kinds of gems:
# - real gems rebuilt from the specifications Debian's Ruby installs, packed from their installed
#   trees (files missing from the tree are dropped from the file list);
# - small generated gems that cover the edge cases of indexing (prereleases, platforms, dependency
#   requirements, non-ASCII text, long tar paths and long file names).

ENV['SOURCE_DATE_EPOCH'] = '1704067200' # 2024-01-01T00:00:00Z

require 'rubygems'
require 'rubygems/package'
require 'fileutils'
require 'json'
require 'stringio'
require 'tmpdir'

OUT = File.expand_path(ARGV.fetch(0) { abort 'usage: ruby corpus.rb OUT' })
GEMS = File.join(OUT, 'gems')
EXTRA = File.join(OUT, 'extra')
FileUtils.mkdir_p([GEMS, EXTRA])

REAL_NAMES = %w[
  rake minitest test-unit power_assert rexml rss net-ftp net-imap net-pop net-smtp net-telnet
  rbs typeprof debug webrick matrix prime
].freeze

MANIFEST = []

def log(msg)
  warn "corpus: #{msg}"
end

# RubyGems prints validation warnings and "Successfully built" through its UI; keep them quiet.
def quietly
  ui = Gem::StreamUI.new(StringIO.new, StringIO.new, StringIO.new, false)
  Gem::DefaultUserInteraction.use_ui(ui) { yield }
end

def record(spec, path, origin, dest)
  MANIFEST << {
    file: File.basename(path),
    name: spec.name,
    version: spec.version.to_s,
    platform: spec.original_platform.to_s,
    prerelease: spec.version.prerelease?,
    origin: origin,
    extra: dest == EXTRA,
    size: File.size(path),
  }
  log format('%-9s %-12s %s (%d bytes)', origin, dest == EXTRA ? 'extra' : 'gems', File.basename(path), File.size(path))
end

# ---------------------------------------------------------------------------------------------
# Real gems from the installed specifications

def installed_real_specs
  # Gem.default_path, not GEM_PATH: the system's own gem directories, whatever the caller set.
  # On Debian that includes /usr/lib/ruby/gems/3.1.0 and /usr/share/rubygems-integration/all.
  dirs = (Gem.default_path + Gem.path).map { |d| File.join(d, 'specifications') }
  found = {}
  dirs.uniq.each do |dir|
    Dir.glob(File.join(dir, '*.gemspec')).sort.each do |file|
      spec = Gem::Specification.load(file)
      next unless spec && REAL_NAMES.include?(spec.name)
      next unless File.directory?(spec.full_gem_path)
      found[spec.full_name] ||= spec
    end
  end
  found.values.sort_by { |s| [s.name, s.version] }
end

def build_real(spec)
  spec = spec.dup
  present, missing = spec.files.partition { |f| File.file?(File.join(spec.full_gem_path, f)) }
  spec.files = present
  notes = []
  notes << "dropped #{missing.size} missing file(s)" unless missing.empty?
  target = File.join(GEMS, spec.file_name)
  Dir.chdir(spec.full_gem_path) do
    begin
      quietly { Gem::Package.build(spec, false, false, target) }
    rescue Gem::InvalidSpecificationException => e
      raise if spec.extensions.empty?
      # The extension sources are not installed, so the spec cannot be valid with them.
      notes << "extensions removed (#{e.message})"
      spec.extensions = []
      spec.files = present # Specification#files had folded the extensions back into the list
      quietly { Gem::Package.build(spec, false, false, target) }
    end
  end
  log "#{spec.full_name}: #{notes.join('; ')}" unless notes.empty?
  record(spec, target, 'debian', GEMS)
end

# ---------------------------------------------------------------------------------------------
# Generated edge cases

def generated(name, version, dest: GEMS, platform: nil, files: {})
  spec = Gem::Specification.new do |s|
    s.name = name
    s.version = version
    s.platform = platform if platform
    s.summary = "#{name} #{version}: a generated test gem"
    s.authors = ['Quarry Tests']
    s.license = 'MIT'
    s.files = []
  end
  files = { "lib/#{name.tr('-', '_')}.rb" => "# #{name} #{version} #{platform || 'ruby'}\n" }.merge(files)
  yield spec if block_given?
  Dir.mktmpdir('quarry-corpus-') do |tmp|
    files.each do |path, body|
      full = File.join(tmp, path)
      FileUtils.mkdir_p(File.dirname(full))
      File.binwrite(full, body)
    end
    spec.files = files.keys.sort
    target = File.join(dest, spec.file_name)
    Dir.chdir(tmp) { quietly { Gem::Package.build(spec, false, false, target) } }
    record(spec, target, 'generated', dest)
  end
end

def build_generated
  # A gem with no dependencies, in three versions so a `< 3` requirement has something to exclude.
  %w[1.0.0 2.0.0 3.0.0].each do |v|
    generated('edge-base', v) { |s| s.description = nil }
  end
  # Added to the repository later by the --update test.
  generated('edge-base', '2.5.0', dest: EXTRA)

  # Runtime dependencies: several constraints, a pessimistic one; plus a development dependency.
  generated('edge-deps', '1.0.0') do |s|
    s.add_runtime_dependency 'edge-base', '>= 1.0', '< 3'
    s.add_runtime_dependency 'power_assert', '~> 2.0'
    s.add_development_dependency 'minitest', '~> 5.0'
    s.required_ruby_version = '>= 2.7'
    s.email = ['tests@example.invalid', 'more@example.invalid']
    s.homepage = 'https://example.invalid/edge-deps'
  end

  # Only prerelease versions.
  generated('edge-pre', '1.0.0.pre1')
  generated('edge-pre', '2.0.0.rc.1') { |s| s.add_runtime_dependency 'edge-base', '~> 1.0' }

  # A release plus a newer prerelease.
  generated('edge-mixed', '1.0.0')
  generated('edge-mixed', '1.1.0.beta1')

  # One version on three platforms, plus an older pure-Ruby version.
  generated('edge-native', '1.0.0')
  [nil, 'java', 'x86_64-linux'].each do |platform|
    generated('edge-native', '2.0.0', platform: platform,
              files: { 'lib/edge_native/platform.rb' => "EDGE_NATIVE_PLATFORM = #{(platform || 'ruby').inspect}\n" })
  end

  # Non-ASCII text, metadata and a compound required_ruby_version.
  generated('edge-unicode', '0.1.0') do |s|
    s.summary = 'Résumé — ünïcödé ✓'
    s.description = "Ünïcödé description: naïve café, 日本語, emoji 🎉.\nSecond line."
    s.authors = ['Zoë Ünïcode', 'Ångström']
    s.email = 'zoe@example.invalid'
    s.metadata = { 'source_code_uri' => 'https://example.invalid/edge-unicode', 'note' => 'ünï' }
    s.required_ruby_version = ['>= 2.6.0', '< 4']
    s.post_install_message = 'Merci ✓'
  end

  # A file path over 100 bytes inside data.tar.gz, so the ustar prefix field is needed.
  deep = 'lib/edge_longpath/' + %w[first_level_directory second_level_directory third_level_directory].join('/') +
         '/a_file_with_a_rather_long_name.rb'
  raise "long path is only #{deep.bytesize} bytes" unless deep.bytesize > 100
  generated('edge-longpath', '1.0.0', files: { deep => "# deep\n" })

  # A gem whose own file name (name-version-platform.gem) is longer than 100 characters.
  long_name = 'edge-long-file-name-gem-with-a-name-of-about-sixty-characters'
  long_version = '1.0.0.pre.20240101.build.abcdef123456'
  generated(long_name, long_version, platform: 'x86_64-linux')

  # An upper-case name, which sorts before every lower-case one in byte order.
  generated('EdgeCaps', '0.1.0')
end

# ---------------------------------------------------------------------------------------------

started = Time.now
real = installed_real_specs
log "installed specifications found: #{real.map(&:full_name).join(', ')}"
real.each { |spec| build_real(spec) }
build_generated
long = MANIFEST.find { |g| g[:file].length > 100 }
raise 'no gem file name is longer than 100 characters' unless long

log format('%d gems (%d real, %d generated, %d extra) in %.1f s', MANIFEST.size,
           MANIFEST.count { |g| g[:origin] == 'debian' }, MANIFEST.count { |g| g[:origin] == 'generated' && !g[:extra] },
           MANIFEST.count { |g| g[:extra] }, Time.now - started)
puts JSON.generate(MANIFEST)
