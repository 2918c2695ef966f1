/**
 * `quarry index DIR` end to end: index the corpus, serve DIR with a plain static file server, and
 * let the real `gem` and `bundle` install, fetch and update from it.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Corpus } from '../support/corpus.ts';
import { buildCorpus } from '../support/corpus.ts';
import { indexStaticDir, staticIndexer } from '../support/quarry.ts';
import type { RubySandbox, RunResult } from '../support/ruby.ts';
import { describeRun, expectSuccess, requireRuby, rubySandbox } from '../support/ruby.ts';
import type { RecordedRequest, StaticServer } from '../support/static-server.ts';
import { startStaticServer } from '../support/static-server.ts';

const TIMEOUT = { timeout: 180_000 };

/** Names of the specs installed in a gem directory, e.g. `edge-native-2.0.0-x86_64-linux`. */
function installedSpecs(gemDir: string): string[] {
  const dir = join(gemDir, 'specifications');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.gemspec'))
    .map((f) => f.slice(0, -'.gemspec'.length))
    .sort();
}

/** Asserts every .gem in gemDir/cache equals the repository's copy byte for byte; returns their names. */
function assertCachedGemsIdentical(gemDir: string, repoGems: string): string[] {
  const cache = join(gemDir, 'cache');
  const files = existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.gem')) : [];
  for (const f of files) {
    const source = join(repoGems, f);
    assert.ok(existsSync(source), `installed ${f} has no counterpart in the repository`);
    assert.ok(
      readFileSync(join(cache, f)).equals(readFileSync(source)),
      `${f}: cached bytes differ from the source`,
    );
  }
  return files.sort();
}

function traceRequest(r: RecordedRequest): void {
  const h = r.headers;
  const extra = [h.range && `Range: ${h.range}`, h['if-none-match'] && `If-None-Match: ${h['if-none-match']}`]
    .filter(Boolean)
    .join('; ');
  const agent = (h['user-agent'] ?? '').split(' ')[0];
  process.stderr.write(`trace: ${r.method} ${r.path} -> ${r.status} [${agent}]${extra ? ` ${extra}` : ''}\n`);
}

const paths = (reqs: RecordedRequest[]): string[] => reqs.map((r) => `${r.method} ${r.path} -> ${r.status}`);

describe(`static repository written by ${staticIndexer()}, served over plain HTTP`, () => {
  let root: string;
  let repo: string;
  let corpus: Corpus;
  let server: StaticServer;
  const sandboxes: RubySandbox[] = [];
  const sandbox = (): RubySandbox => {
    const s = rubySandbox('quarry-e2e-');
    sandboxes.push(s);
    return s;
  };
  /**
   * `gem ARGS --clear-sources --source URL` in the sandbox; unless it exits 0, fails the test with
   * its output and the requests it made.
   */
  const gemFrom = async (s: RubySandbox, args: string[], cwd?: string): Promise<RunResult> => {
    const before = server.requests.length;
    const r = await s.gem([...args, '--clear-sources', '--source', server.url], cwd ? { cwd } : {});
    if (r.status !== 0) {
      const log = paths(server.requests.slice(before)).join('\n');
      throw new Error(`${describeRun(`gem ${args.join(' ')}`, r)}\n--- requests\n${log}`);
    }
    return r;
  };

  before(async () => {
    requireRuby();
    root = mkdtempSync(join(tmpdir(), 'quarry-static-e2e-'));
    repo = join(root, 'repo');
    corpus = buildCorpus(repo);
    const r = indexStaticDir(repo);
    process.stderr.write(r.stdout + r.stderr);
    // E2E_TRACE=1 prints every request the clients make.
    const trace = process.env['E2E_TRACE'] ? { onRequest: traceRequest } : {};
    server = await startStaticServer(repo, trace);
  });

  after(async () => {
    await server?.close();
    for (const s of sandboxes) s.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('the repository holds the legacy and compact index files', () => {
    const required = [
      'specs.4.8',
      'specs.4.8.gz',
      'latest_specs.4.8',
      'latest_specs.4.8.gz',
      'prerelease_specs.4.8',
      'prerelease_specs.4.8.gz',
      'names',
      'versions',
    ];
    for (const g of corpus.gems) {
      required.push(`quick/Marshal.4.8/${g.file.slice(0, -'.gem'.length)}.gemspec.rz`, `info/${g.name}`);
    }
    const missing = [...new Set(required)].filter((f) => !existsSync(join(repo, f)));
    assert.deepEqual(missing, [], 'files missing from the index');
  });

  test('gem install resolves dependencies from the repository', TIMEOUT, async () => {
    const s = sandbox();
    server.clearRequests();
    await gemFrom(s, ['install', 'edge-deps']);
    // edge-deps needs edge-base (>= 1.0, < 3), so 2.0.0 and not 3.0.0; and power_assert (~> 2.0).
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-base-2.0.0', 'edge-deps-1.0.0', 'power_assert-2.0.1']);
    assert.deepEqual(assertCachedGemsIdentical(s.gemHome, corpus.gemsDir), [
      'edge-base-2.0.0.gem',
      'edge-deps-1.0.0.gem',
      'power_assert-2.0.1.gem',
    ]);
    // `HEAD /` answers 200, so RubyGems 3.3 uses the compact index; a missing /info file would
    // show as a 404 here (RubyGems then silently falls back to the legacy index).
    assert.deepEqual(
      [...new Set(server.requested(/^\/info\//).map((r) => r.path))].sort(),
      ['/info/edge-base', '/info/edge-deps', '/info/power_assert'],
      `gem install used the compact index:\n${paths(server.requests).join('\n')}`,
    );
    assert.deepEqual(
      server.requests.filter((r) => r.status !== 200).map((r) => `${r.method} ${r.path} -> ${r.status}`),
      [],
      `requests that failed:\n${paths(server.requests).join('\n')}`,
    );
  });

  test('gem install --pre picks the newest prerelease', TIMEOUT, async () => {
    const s = sandbox();
    await gemFrom(s, ['install', 'edge-pre', '--pre']);
    // 2.0.0.rc.1 depends on edge-base ~> 1.0.
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-base-1.0.0', 'edge-pre-2.0.0.rc.1']);
    await gemFrom(s, ['install', 'edge-mixed']);
    assert.ok(installedSpecs(s.gemHome).includes('edge-mixed-1.0.0'), 'without --pre the release is chosen');
    await gemFrom(s, ['install', 'edge-mixed', '--pre']);
    assert.ok(
      installedSpecs(s.gemHome).includes('edge-mixed-1.1.0.beta1'),
      'with --pre the prerelease is chosen',
    );
    const long = corpus.gems.find((g) => g.file.length > 100);
    assert.ok(long, 'the corpus has a gem whose file name is over 100 characters');
    await gemFrom(s, ['install', long.name, '--pre']);
    assert.ok(installedSpecs(s.gemHome).includes(long.file.slice(0, -'.gem'.length)));
    assertCachedGemsIdentical(s.gemHome, corpus.gemsDir);
  });

  test('gem install chooses the x86_64-linux variant of a platform gem', TIMEOUT, async () => {
    const s = sandbox();
    await gemFrom(s, ['install', 'edge-native']);
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-native-2.0.0-x86_64-linux']);
    const r = expectSuccess(
      'ruby -e (platform of edge-native)',
      await s.ruby([
        '-e',
        'gem "edge-native"; require "edge_native/platform"; s = Gem.loaded_specs["edge-native"]; ' +
          'print [s.version, s.platform, EDGE_NATIVE_PLATFORM].join(" ")',
      ]),
    );
    assert.equal(r.stdout, '2.0.0 x86_64-linux x86_64-linux');
    assert.deepEqual(assertCachedGemsIdentical(s.gemHome, corpus.gemsDir), [
      'edge-native-2.0.0-x86_64-linux.gem',
    ]);
  });

  test('gem fetch downloads byte-identical files', TIMEOUT, async () => {
    const s = sandbox();
    const out = join(s.root, 'fetched');
    mkdirSync(out);
    server.clearRequests();
    await gemFrom(s, ['fetch', 'edge-base'], out);
    assert.ok(
      server.requested('/latest_specs.4.8.gz', 'GET').length > 0,
      'gem fetch NAME reads latest_specs',
    );
    await gemFrom(s, ['fetch', 'edge-base', '-v', '1.0.0'], out);
    await gemFrom(s, ['fetch', 'edge-native', '-v', '2.0.0'], out);
    await gemFrom(s, ['fetch', 'edge-unicode'], out);
    assert.deepEqual(readdirSync(out).sort(), [
      'edge-base-1.0.0.gem',
      'edge-base-3.0.0.gem',
      'edge-native-2.0.0-x86_64-linux.gem',
      'edge-unicode-0.1.0.gem',
    ]);
    for (const f of readdirSync(out)) {
      assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(corpus.gemsDir, f))), `${f} differs`);
    }
  });

  test('bundle install uses the compact index', TIMEOUT, async () => {
    const s = sandbox();
    const app = join(s.root, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'Gemfile'),
      `source "${server.url}"\n\ngem "edge-deps"\ngem "edge-unicode"\ngem "edge-native"\n`,
    );
    const bundlePath = join(s.root, 'bundle');
    server.clearRequests();
    const r = await s.bundle(['install'], { cwd: app, env: { BUNDLE_PATH: bundlePath } });
    const log = paths(server.requests).join('\n');
    assert.equal(r.status, 0, `${describeRun('bundle install', r)}\n--- requests\n${log}`);

    const got = (p: string) => server.requested(p, 'GET').filter((x) => x.status === 200).length > 0;
    for (const p of [
      '/versions',
      '/info/edge-deps',
      '/info/edge-base',
      '/info/power_assert',
      '/info/edge-native',
    ]) {
      assert.ok(got(p), `bundle did not GET ${p}:\n${log}`);
    }
    const legacy = server.requests.filter((x) => /specs\.4\.8|^\/api\/|^\/quick\//.test(x.path));
    assert.deepEqual(
      paths(legacy),
      [],
      'the compact index made the legacy index and dependency API unnecessary',
    );

    const lock = readFileSync(join(app, 'Gemfile.lock'), 'utf8');
    for (const line of [
      'edge-base (2.0.0)',
      'edge-deps (1.0.0)',
      'edge-unicode (0.1.0)',
      'power_assert (2.0.1)',
    ]) {
      assert.ok(lock.includes(`    ${line}\n`), `Gemfile.lock lacks ${line}:\n${lock}`);
    }
    assert.match(lock, /^ {4}edge-native \(2\.0\.0-x86_64-linux\)$/m, lock);

    const [abi] = readdirSync(join(bundlePath, 'ruby'));
    assert.ok(abi, 'bundle installed into BUNDLE_PATH/ruby/<abi>');
    const gemDir = join(bundlePath, 'ruby', abi);
    assert.deepEqual(assertCachedGemsIdentical(gemDir, corpus.gemsDir), [
      'edge-base-2.0.0.gem',
      'edge-deps-1.0.0.gem',
      'edge-native-2.0.0-x86_64-linux.gem',
      'edge-unicode-0.1.0.gem',
      'power_assert-2.0.1.gem',
    ]);
  });

  test('gem sources --add accepts the repository', TIMEOUT, async () => {
    const s = sandbox();
    server.clearRequests();
    expectSuccess('gem sources --add', await s.gem(['sources', '--add', server.url]));
    assert.ok(
      server.requested('/specs.4.8.gz', 'GET').some((r) => r.status === 200),
      'it loaded specs.4.8.gz',
    );
    const list = expectSuccess('gem sources --list', await s.gem(['sources', '--list']));
    assert.ok(list.stdout.split('\n').includes(server.url), list.stdout);
  });

  // Runs last: it changes the repository.
  test('quarry index --update publishes an added gem', TIMEOUT, async () => {
    const s = sandbox();
    const app = join(s.root, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'Gemfile'), `source "${server.url}"\n\ngem "edge-base", "< 3"\n`);
    const env = { BUNDLE_PATH: join(s.root, 'bundle') };
    expectSuccess('bundle install', await s.bundle(['install'], { cwd: app, env }));
    assert.match(readFileSync(join(app, 'Gemfile.lock'), 'utf8'), /^ {4}edge-base \(2\.0\.0\)$/m);

    const added = corpus.addExtra('edge-base-2.5.0.gem');
    const r = indexStaticDir(repo, { update: true });
    process.stderr.write(r.stdout + r.stderr);

    server.clearRequests();
    const up = await s.bundle(['update', 'edge-base'], { cwd: app, env });
    const log = paths(server.requests).join('\n');
    assert.equal(up.status, 0, `${describeRun('bundle update', up)}\n--- requests\n${log}`);
    assert.match(readFileSync(join(app, 'Gemfile.lock'), 'utf8'), /^ {4}edge-base \(2\.5\.0\)$/m, log);
    assert.ok(server.requested('/versions', 'GET').length > 0, `bundle update re-read /versions:\n${log}`);
    assert.deepEqual(
      paths(server.requests.filter((x) => /specs\.4\.8/.test(x.path))),
      [],
      'bundle update needed no legacy index',
    );

    const g = sandbox();
    await gemFrom(g, ['install', 'edge-base', '-v', added.version]);
    assert.deepEqual(installedSpecs(g.gemHome), ['edge-base-2.5.0']);
    assert.deepEqual(assertCachedGemsIdentical(g.gemHome, corpus.gemsDir), ['edge-base-2.5.0.gem']);
  });
});
