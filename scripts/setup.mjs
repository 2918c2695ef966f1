#!/usr/bin/env node
// Installs what Quarry needs on a fresh machine, then builds it. Plain Node, no dependencies, so it
// runs before `npm ci`. Idempotent and quick when everything is already there.
//   node scripts/setup.mjs            everything the tests need (Debian packages when root)
//   node scripts/setup.mjs --runtime  only what the server needs (npm packages and the build)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runtimeOnly = process.argv.includes('--runtime');
const log = (msg) => process.stderr.write(`setup: ${msg}\n`);

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });

// Debian keeps initdb and postgres off PATH, in /usr/lib/postgresql/VERSION/bin.
const hasInitdb = () => {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return false;
  return readdirSync(base).some((version) => existsSync(join(base, version, 'bin', 'initdb')));
};

// Debian packages the test suite drives: real RubyGems and Bundler, GNU time for benchmarks,
// chromium for the web UI's browser tests, openssl for the throwaway CA of the s3:// install test, PostgreSQL for the catalog's postgres
// driver (test/support/postgres.ts starts a throwaway server). A check is a command on PATH, an
// absolute path, or a function.
const debian = runtimeOnly
  ? []
  : [
      ['ruby', 'ruby'],
      ['bundle', 'ruby-bundler'],
      ['/usr/bin/time', 'time'],
      [hasInitdb, 'postgresql'],
      // The web UI's browser tests (test/web/browser.test.ts) drive Debian's chromium.
      ['/usr/bin/chromium', 'chromium'],
    ];
const present = (check) =>
  typeof check === 'function' ? check() : check.startsWith('/') ? existsSync(check) : has(check);
const missing = debian.filter(([check]) => !present(check)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    log(`installing Debian packages: ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  } else {
    log(`missing Debian packages (${missing.join(' ')}); not root, so not installing them`);
  }
}

// npm packages: install when node_modules is missing or older than the lock file.
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs)) {
  log('installing npm packages');
  // `npm install` rather than `npm ci`: the lock records only this platform's optional binaries
  // (biome, esbuild), which `npm ci` refuses as out of sync; install still follows the lock.
  run('npm', ['install', '--no-audit', '--no-fund']);
}

// Build dist/ when any source file is newer than the last build (or it has no stamp).
const newest = (dir) =>
  Math.max(0, ...readdirSync(dir, { recursive: true }).map((f) => statSync(join(dir, String(f))).mtimeMs));
// The stamp scripts/build.mjs writes: the tests trust it (test/support/quarry.ts), so they never
// rebuild dist/ while other test files run it.
const built = join(root, 'dist', '.quarry-build-ok');
if (!existsSync(built) || newest(join(root, 'src')) > statSync(built).mtimeMs) {
  log('building');
  run('node', [join(root, 'scripts', 'build.mjs')]);
}
