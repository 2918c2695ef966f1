# Test helper for test/gem: builds .gem files with the real RubyGems and reports, as JSON, what
# RubyGems itself reads back from them. Every mode prints one JSON document on stdout.
#
#   ruby gems.rb build OUT       build the edge-case gems into OUT; print [{file, spec}]
#   ruby gems.rb real OUT        rebuild the gems whose specifications Debian's Ruby installs
#                                (with the files still present), or copy any cached *.gem
#   ruby gems.rb read FILE...    Gem::Package.new(FILE).spec for each file: [{file, spec | error}]
#   ruby gems.rb from-yaml       Gem::Specification.from_yaml(STDIN): {spec} or {error}
#   ruby gems.rb tokenize        STDIN: JSON list of strings; Psych's typing of each as plain scalar
#   ruby gems.rb dump-yaml       STDIN: JSON list of strings; for each, a gemspec using it in every
#                                text field: [{yaml (as gem build writes it), spec (from_yaml of it)}]
#   ruby gems.rb tar OUT         write OUT with Gem::Package::TarWriter (long names); print the
#                                names TarReader reads back

require 'rubygems'
require 'rubygems/package'
require 'rubygems/security'
require 'fileutils'
require 'json'
require 'psych'
require 'date'
require 'stringio'
require 'tmpdir'

ENV['SOURCE_DATE_EPOCH'] ||= '1700000000'
Gem::DefaultUserInteraction.ui = Gem::SilentUI.new

def req_json(req)
  req.requirements.map { |op, v| [op, v.to_s] }
end

# What RubyGems reports for the fields of Quarry's GemSpec model.
def spec_json(s)
  platform = s.original_platform
  platform = platform.to_s unless platform.is_a?(String)
  {
    'name' => s.name,
    'version' => s.version.to_s,
    'platform' => platform.nil? || platform.empty? ? 'ruby' : platform,
    'summary' => s.summary,
    'description' => s.description,
    'authors' => s.authors,
    'email' => s.email,
    'homepage' => s.homepage,
    'licenses' => s.licenses,
    'metadata' => s.metadata,
    'date' => s.date.utc.strftime('%Y-%m-%dT%H:%M:%S.000Z'),
    'dependencies' => s.dependencies.map do |d|
      { 'name' => d.name, 'requirement' => req_json(d.requirement), 'type' => d.type.to_s,
        'prerelease' => d.instance_variable_get(:@prerelease) ? true : false }
    end,
    'requiredRubyVersion' => req_json(s.required_ruby_version),
    'requiredRubygemsVersion' => req_json(s.required_rubygems_version),
    'rubygemsVersion' => s.rubygems_version,
    'specificationVersion' => s.specification_version,
    'bindir' => s.bindir,
    'executables' => s.executables,
    'extensions' => s.extensions,
    'requirePaths' => s.require_paths,
    'postInstallMessage' => s.post_install_message,
    'certChain' => s.cert_chain,
  }
end

def read_gem(file)
  pkg = Gem::Package.new(file)
  pkg.verify
  { 'file' => file, 'spec' => spec_json(pkg.spec), 'checksums' => pkg.checksums, 'entries' => pkg.files }
rescue StandardError => e
  { 'file' => file, 'error' => "#{e.class}: #{e.message}" }
end

def write_file(path, content)
  FileUtils.mkdir_p(File.dirname(path))
  File.binwrite(path, content)
end

def base_spec(name, version)
  Gem::Specification.new do |s|
    s.name = name
    s.version = version
    s.summary = "The #{name} gem"
    s.authors = ['Ann Author']
    s.email = 'ann@example.com'
    s.homepage = 'https://example.com'
    s.licenses = ['MIT']
    s.files = ['lib/x.rb']
  end
end

def build_all(out)
  work = Dir.mktmpdir('quarry-gems-src-')
  write_file(File.join(work, 'lib/x.rb'), "# x\n")
  long = "data/#{'a' * 60}/#{'b' * 60}/long-file-name.txt"
  write_file(File.join(work, long), "long path\n")
  write_file(File.join(work, 'bin/demo'), "#!/usr/bin/env ruby\n")
  specs = []

  s = base_spec('demo', '1.0.0')
  s.summary = 'Démo gem: ünïcödé ✓ 日本語'
  s.description = "A demo gem.\n\nWith two paragraphs: \"quoted\", 'single', and a tab\tend."
  s.files = ['lib/x.rb', long, 'bin/demo']
  s.executables = ['demo']
  s.email = ['ann@example.com', 'bob@example.com']
  s.metadata = { 'source_code_uri' => 'https://example.com/src', 'changelog_uri' => 'https://example.com/c' }
  s.required_ruby_version = ['>= 2.5', '< 4']
  s.post_install_message = 'Thanks!'
  s.add_dependency 'rack', '>= 1.0', '< 3'
  s.add_dependency 'json', '~> 2.1', '!= 2.3.0'
  s.add_dependency 'rake'
  s.add_development_dependency 'minitest', '= 5.15.0'
  s.add_development_dependency 'rspec', '> 3', '<= 4.0.a'
  specs << s

  specs << base_spec('demo', '2.0.0.rc1').tap { |x| x.add_dependency 'rack', '~> 3.0.beta' }
  specs << base_spec('dashed', '1.0-beta2')
  specs << base_spec('demo', '1.0.0').tap { |x| x.platform = 'java' }
  specs << base_spec('demo', '1.0.0').tap { |x| x.platform = 'x86_64-linux' }
  specs << base_spec('demo', '1.0.0').tap { |x| x.platform = 'i686-linux' }
  specs << base_spec('demo', '1.0.0').tap { |x| x.platform = 'universal-darwin-21' }
  specs << base_spec('demo', '1.0.0').tap { |x| x.platform = 'x64-mingw-ucrt' }
  specs << base_spec('minimal', '0.1').tap do |x|
    x.email = nil
    x.homepage = nil
    x.licenses = []
    x.require_paths = ['lib', 'ext']
    x.bindir = 'exe'
  end

  signed = base_spec('signed', '1.0.0')
  key = OpenSSL::PKey::RSA.new(2048)
  cert = Gem::Security.create_cert_email('ann@example.com', key, 3600)
  signed.signing_key = key
  signed.cert_chain = [cert.to_pem]
  specs << signed

  FileUtils.mkdir_p(out)
  Dir.chdir(work) do
    specs.each_with_index do |spec, i|
      file = File.join(out, "#{i}-#{spec.full_name}.gem")
      Gem::Package.build(spec, false, false, file)
    end
  end
  FileUtils.rm_rf(work)
  Dir[File.join(out, '*.gem')].sort.map { |f| read_gem(f) }
end

def build_real(out)
  FileUtils.mkdir_p(out)
  # Debian's Ruby puts gems on Gem.path (e.g. rubygems-integration/all, /var/lib/gems): use any
  # cached .gem files there, then rebuild the rest from their installed specifications.
  cached = Gem.path.flat_map { |p| Dir[File.join(p, 'cache', '*.gem')] }
  cached.each { |f| FileUtils.cp(f, out) }
  dirs = Gem::Specification.dirs
  dirs += dirs.map { |d| File.join(d, 'default') }
  files = dirs.flat_map { |d| Dir[File.join(d, '*.gemspec')] }.uniq
  files.each do |f|
    spec = Gem::Specification.load(f) or next
    next if File.exist?(File.join(out, spec.file_name))
    gem_dir = spec.full_gem_path
    present = ->(p) { File.file?(File.join(gem_dir, p)) }
    spec.files = spec.files.select(&present)
    spec.test_files = []
    spec.extra_rdoc_files = spec.extra_rdoc_files.select(&present)
    spec.extensions = spec.extensions.select(&present)
    spec.executables = spec.executables.select { |e| present.call(File.join(spec.bindir, e)) }
    file = File.join(out, spec.file_name)
    begin
      Dir.chdir(File.directory?(gem_dir) ? gem_dir : out) { Gem::Package.build(spec, true, false, file) }
    rescue StandardError => e
      FileUtils.rm_f(file)
      warn "skipped #{spec.full_name}: #{e.class}: #{e.message}"
    end
  end
  Dir[File.join(out, '*.gem')].sort.map { |f| read_gem(f) }
end

def tar_names(out)
  names = ['short.txt', "#{'d' * 99}/x.txt", "#{'p' * 120}/#{'n' * 90}.rb", "a/#{'b' * 98}"]
  File.open(out, 'wb') do |io|
    Gem::Package::TarWriter.new(io) do |tar|
      names.each { |n| tar.add_file_simple(n, 0o644, n.bytesize) { |w| w.write(n) } }
      tar.mkdir('some/dir', 0o755)
      tar.add_symlink('link', 'short.txt', 0o777) if tar.respond_to?(:add_symlink)
    end
  end
  read = []
  File.open(out, 'rb') do |io|
    Gem::Package::TarReader.new(io).each do |e|
      read << { 'name' => e.full_name, 'type' => e.header.typeflag, 'data' => e.file? ? e.read.to_s : nil }
    end
  end
  read
end

def tokenize(strings)
  ss = Psych::ScalarScanner.new(Psych::ClassLoader.new)
  strings.map do |s|
    v = ss.tokenize(s)
    kind = case v
           when nil then 'nil'
           when true, false then 'bool'
           when Integer then 'int'
           when Float then 'float'
           when Symbol then 'symbol'
           when Time then 'time'
           when Date then 'date'
           else v.class.name.downcase
           end
    out = case v
          when Time, Date then v.strftime('%Y-%m-%d')
          when Float then v.nan? || v.infinite? ? v.to_s : v
          when Symbol then v.to_s
          else v
          end
    { 'input' => s, 'kind' => kind, 'value' => out }
  end
end

def dump_yaml(strings)
  strings.map do |s|
    spec = Gem::Specification.new do |x|
      x.name = 'fuzz'
      x.version = '1.0'
      x.summary = s
      x.description = s
      x.authors = [s, 'b']
      x.email = s
      x.homepage = s
      x.metadata = { 'k' => s, 'k2' => 'v' }
      x.post_install_message = s
      x.licenses = [s]
      x.files = [s]
      x.date = Time.utc(2020, 1, 2)
    end
    yaml = spec.to_yaml
    { 'yaml' => yaml, 'spec' => spec_json(Gem::Specification.from_yaml(yaml)) }
  end
end

mode = ARGV.shift
result =
  case mode
  when 'build' then build_all(File.expand_path(ARGV.fetch(0)))
  when 'real' then build_real(File.expand_path(ARGV.fetch(0)))
  when 'read' then ARGV.map { |f| read_gem(f) }
  when 'from-yaml'
    begin
      { 'spec' => spec_json(Gem::Specification.from_yaml($stdin.read)) }
    rescue StandardError, Psych::Exception => e
      { 'error' => "#{e.class}: #{e.message}" }
    end
  when 'tokenize' then tokenize(JSON.parse($stdin.read))
  when 'dump-yaml' then dump_yaml(JSON.parse($stdin.read))
  when 'tar' then tar_names(File.expand_path(ARGV.fetch(0)))
  else abort "usage: ruby gems.rb build|real|read|from-yaml|tokenize|tar ..."
  end
print JSON.generate(result)
