/**
 * Gem in a Box, where it can be run: from a source checkout (it is not a Debian package) on Debian's
 * Ruby, with Debian's sinatra, builder, httpclient, faraday and puma. Two of its dependencies are not
 * in Debian; minimal stand-ins for them are written to the temp dir (never to the repository):
 *   - nesty: only the `Nesty::NestedError` mixin name is used (for a `nested` reader);
 *   - reentrant_flock: `ReentrantFlock.synchronize(file, mode) { }` and `AlreadyLocked`: an flock
 *     that a thread may take again while it holds it.
 * It runs under Puma in single mode with Puma's default threads (0-5), as `rackup` would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, waitForHttp } from './procs.ts';

const NESTY = `# Stand-in written by bench/server.ts: Debian has no ruby-nesty.
module Nesty
  module NestedError
    attr_reader :nested
  end
end
`;

const REENTRANT_FLOCK = `# Stand-in written by bench/server.ts: Debian has no ruby-reentrant-flock.
module ReentrantFlock
  class AlreadyLocked < StandardError; end

  def self.synchronize(file, mode)
    depth = Thread.current[:bench_flock_depth] || 0
    raise AlreadyLocked, 'the lock is held' if depth.zero? && file.flock(mode) == false
    Thread.current[:bench_flock_depth] = depth + 1
    begin
      yield
    ensure
      Thread.current[:bench_flock_depth] = depth
      file.flock(File::LOCK_UN) if depth.zero?
    end
  end
end
`;

const CONFIG_RU = `# Written by bench/server.ts
require 'geminabox'
Geminabox.data = ENV.fetch('GEMINABOX_DATA')
Geminabox.lockfile = File.join(ENV.fetch('GEMINABOX_DATA'), '.lock')
run Geminabox::Server
`;

/** Why Gem in a Box cannot run here, or null when it can. */
export function geminaboxUnavailable(src: string | undefined): string | null {
  if (!src) return 'no Gem in a Box source given (--geminabox DIR, or a checkout in bench/.work/geminabox)';
  if (!existsSync(join(src, 'lib', 'geminabox.rb'))) return `${src} has no lib/geminabox.rb`;
  const libs = ['sinatra/base', 'builder', 'httpclient', 'faraday', 'puma', 'rubygems/indexer', 'tilt/erb'];
  const check = spawnSync(
    'ruby',
    ['-e', `${JSON.stringify(libs)}.each { |l| begin; require l; rescue LoadError; puts l; end }`],
    { encoding: 'utf8' },
  );
  if (check.error) return `ruby could not be run (${check.error.message})`;
  const missing = check.stdout.split('\n').filter(Boolean);
  if (missing.length > 0)
    return `Ruby libraries missing: ${missing.join(', ')} (Debian: ruby-sinatra ruby-builder ruby-httpclient ruby-faraday puma)`;
  return null;
}

export interface GeminaboxOptions {
  src: string;
  /** Working directory: stand-ins, config.ru, log. */
  dir: string;
  /** Its data directory (gems/, the indexes, its caches). */
  data: string;
  port: number;
}

export async function startGeminabox(o: GeminaboxOptions): Promise<number> {
  const stubs = join(o.dir, 'stubs');
  mkdirSync(stubs, { recursive: true });
  mkdirSync(o.data, { recursive: true });
  writeFileSync(join(stubs, 'nesty.rb'), NESTY);
  writeFileSync(join(stubs, 'reentrant_flock.rb'), REENTRANT_FLOCK);
  writeFileSync(join(o.dir, 'config.ru'), CONFIG_RU);
  const pid = start(
    'geminabox',
    'ruby',
    [
      '-I',
      stubs,
      '-I',
      join(o.src, 'lib'),
      '-S',
      'puma',
      '-b',
      `tcp://127.0.0.1:${o.port}`,
      '-e',
      'production',
      join(o.dir, 'config.ru'),
    ],
    {
      cwd: o.dir,
      env: { ...process.env, GEMINABOX_DATA: o.data, TMPDIR: o.dir },
      log: join(o.dir, 'geminabox.log'),
    },
  );
  await waitForHttp(pid, `http://127.0.0.1:${o.port}/specs.4.8.gz`);
  return pid;
}
