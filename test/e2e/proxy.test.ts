/**
 * The caching proxy end to end (issue 11, "Done means" 1 and the client side of 4): two real
 * `quarry serve` processes on loopback, an upstream holding real gems built by Ruby (a dependency
 * tree with a prerelease, pushed with `gem push`) and a proxy in front of it (`--upstream`) that hosts
 * gems of its own. Debian's RubyGems 3.3 and Bundler 2.3 install through the proxy:
 * - `bundle install` with `source` at the proxy, and with `bundle config mirror.UPSTREAM PROXY`;
 * - `gem install`, with the compact index and, turned off, with the legacy indexes;
 * - a private gem under an upstream name hides every upstream version of it;
 * - with the upstream stopped and fresh clients, the same Gemfile installs from the proxy's cache;
 * - restarted with `--offline`, the proxy opens no connection to the upstream (counted at a TCP
 *   relay between the two, which the proxy's --upstream points at) and the Gemfile still installs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RubySandbox, RunResult } from '../support/ruby.ts';
import { cleanEnv, describeRun, expectSuccess, requireRuby, rubySandbox, runSync } from '../support/ruby.ts';
import type { LoggedRequest, QuarryServer } from '../support/server.ts';
import { createKey, startQuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 150_000 };

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const show = (reqs: LoggedRequest[]) => reqs.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('\n');

interface GemDef {
  name: string;
  version: string;
  deps?: [string, ...string[]][];
}

/** On the upstream: a tree (tree-app -> tree-mid -> tree-leaf) with a prerelease, and a name clash. */
const UPSTREAM_GEMS: GemDef[] = [
  { name: 'tree-leaf', version: '1.0.0' },
  { name: 'tree-leaf', version: '1.1.0' },
  { name: 'tree-leaf', version: '2.0.0.pre1' },
  { name: 'tree-mid', version: '1.0.0', deps: [['tree-leaf', '~> 1.0']] },
  { name: 'tree-mid', version: '2.0.0', deps: [['tree-leaf', '>= 1.1']] },
  { name: 'tree-app', version: '0.9.0', deps: [['tree-mid', '~> 1.0']] },
  { name: 'tree-app', version: '1.0.0', deps: [['tree-mid', '>= 1.0', '< 3']] },
  { name: 'tree-clash', version: '1.0.0' },
  { name: 'tree-clash', version: '2.0.0' },
];
/** Pushed to the proxy: a private gem that needs upstream ones, and a private tree-clash. */
const PRIVATE_GEMS: GemDef[] = [
  { name: 'acme-private', version: '0.1.0', deps: [['tree-app', '>= 1.0']] },
  { name: 'tree-clash', version: '0.5.0' },
];

/** Builds each gem with real RubyGems (Gem::Package.build), deterministically, into ARGV[0]. */
const BUILD_GEMS = `
ENV['SOURCE_DATE_EPOCH'] = '1704067200'
require 'rubygems'
require 'rubygems/package'
require 'json'
require 'stringio'
require 'tmpdir'
out = File.expand_path(ARGV[0])
JSON.parse(ARGV[1]).each do |g|
  Dir.mktmpdir do |dir|
    Dir.chdir(dir) do
      lib = "lib/#{g['name'].tr('-', '_')}.rb"
      Dir.mkdir('lib')
      File.write(lib, "module #{g['name'].split('-').map(&:capitalize).join}\\n  VERSION = #{g['version'].dump}\\nend\\n")
      spec = Gem::Specification.new do |s|
        s.name = g['name']
        s.version = g['version']
        s.summary = "#{g['name']} for the proxy end-to-end test"
        s.authors = ['Quarry e2e']
        s.license = 'MIT'
        s.homepage = 'https://example.invalid/quarry'
        s.files = [lib]
        (g['deps'] || []).each { |d| s.add_runtime_dependency(d[0], *d[1..]) }
      end
      ui = Gem::StreamUI.new(StringIO.new, StringIO.new, StringIO.new, false)
      file = Gem::DefaultUserInteraction.use_ui(ui) { Gem::Package.build(spec) }
      File.rename(file, File.join(out, File.basename(file)))
    end
  end
end
`;

function buildGems(dir: string, gems: GemDef[]): Map<string, Buffer> {
  mkdirSync(dir, { recursive: true });
  const r = runSync('ruby', ['-e', BUILD_GEMS, dir, JSON.stringify(gems)], { env: cleanEnv() });
  if (r.status !== 0) throw new Error(describeRun('ruby (build gems)', r));
  const out = new Map<string, Buffer>();
  for (const g of gems) {
    const file = `${g.name}-${g.version}.gem`;
    out.set(file, readFileSync(join(dir, file)));
  }
  return out;
}

/** A TCP relay (node:net) that counts the connections made through it. */
interface Relay {
  url: string;
  connections: number;
  close(): Promise<void>;
}

async function startRelay(target: () => number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const relay = { url: '', connections: 0, close: async () => {} };
  const server = createTcpServer((client) => {
    relay.connections++;
    const upstream = connect(target(), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  relay.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return relay;
}

/**
 * An HTTP front that turns the compact index off for RubyGems: it answers 404 to `/`, `/versions`,
 * `/names` and `/info/*` and passes every other request to the proxy. RubyGems 3.3 decides per
 * source in Gem::Source#dependency_resolver_set: a `HEAD` of the source URL that fails (a
 * Gem::RemoteFetcher::FetchError) means no compact index, and it resolves from specs.4.8.gz and
 * quick specs instead (Gem::Resolver::IndexSet). The client has no switch of its own for this.
 */
async function startLegacyFront(target: () => number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/' || path === '/versions' || path === '/names' || path.startsWith('/info/')) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no compact index here\n');
      return;
    }
    const fwd = request(
      { host: '127.0.0.1', port: target(), method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Names of the specs installed in a gem directory, e.g. `tree-app-1.0.0`. */
function installedSpecs(gemDir: string): string[] {
  const dir = join(gemDir, 'specifications');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.gemspec'))
    .map((f) => f.slice(0, -'.gemspec'.length))
    .sort();
}

describe('caching proxy with the real gem and bundle clients', () => {
  let root: string;
  let upstream: QuarryServer;
  let upstreamData: string;
  let proxy: QuarryServer;
  let proxyData: string;
  let relay: Relay;
  /** Every .gem built, by file name: what the clients must end up with, byte for byte. */
  const built = new Map<string, Buffer>();
  const sandboxes: RubySandbox[] = [];
  const sandbox = (): RubySandbox => {
    const s = rubySandbox('quarry-proxy-e2e-');
    sandboxes.push(s);
    return s;
  };
  const proxySource = () => `${proxy.url}/`;

  /** Asserts that every .gem in dir is one that was built, byte for byte; returns their names. */
  const sameAsBuilt = (dir: string): string[] => {
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.gem')) : [];
    for (const f of files) {
      const want = built.get(f);
      assert.ok(want, `${f} was never built`);
      assert.equal(
        sha256(readFileSync(join(dir, f))),
        sha256(want),
        `${f}: bytes differ from the built file`,
      );
    }
    return files.sort();
  };

  /** `gem ARGS --clear-sources --source URL`; fails with the output and the proxy's requests. */
  const gemFrom = async (s: RubySandbox, args: string[], source = proxySource()): Promise<RunResult> => {
    const mark = await proxy.mark();
    const r = await s.gem([...args, '--clear-sources', '--source', source]);
    if (r.status !== 0) {
      const log = show(await proxy.requestsSince(mark));
      throw new Error(`${describeRun(`gem ${args.join(' ')}`, r)}\n--- proxy requests\n${log}`);
    }
    return r;
  };

  const GEMFILE_GEMS = 'gem "acme-private"\ngem "tree-leaf", "2.0.0.pre1"\ngem "tree-clash"\n';
  const BUNDLED = [
    'acme-private-0.1.0.gem',
    'tree-app-1.0.0.gem',
    'tree-clash-0.5.0.gem',
    'tree-leaf-2.0.0.pre1.gem',
    'tree-mid-2.0.0.gem',
  ];

  /** A Gemfile with the tree in a fresh app dir; bundle install; checks the lockfile and the gems. */
  const bundleInstall = async (s: RubySandbox, source: string, label: string) => {
    const app = join(s.root, 'app');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'Gemfile'), `source "${source}"\n\n${GEMFILE_GEMS}`);
    const bundlePath = join(s.root, 'bundle');
    const mark = await proxy.mark();
    const r = await s.bundle(['install'], { cwd: app, env: { BUNDLE_PATH: bundlePath } });
    const reqs = await proxy.requestsSince(mark);
    const log = show(reqs);
    assert.equal(r.status, 0, `${describeRun(`bundle install (${label})`, r)}\n--- proxy requests\n${log}`);
    const lock = readFileSync(join(app, 'Gemfile.lock'), 'utf8');
    assert.ok(lock.includes(`  remote: ${source}\n`), `Gemfile.lock names ${source}:\n${lock}`);
    for (const f of BUNDLED) {
      const spec = f.slice(0, -'.gem'.length).replace(/-(\d[^-]*)$/, ' ($1)');
      assert.ok(lock.includes(`    ${spec}\n`), `Gemfile.lock lacks ${spec}:\n${lock}`);
    }
    const [abi] = readdirSync(join(bundlePath, 'ruby'));
    assert.ok(abi, 'bundle installed into BUNDLE_PATH/ruby/<abi>');
    assert.deepEqual(sameAsBuilt(join(bundlePath, 'ruby', abi, 'cache')), BUNDLED);
    // The app runs with the bundle: the prerelease leaf, and the private tree-clash.
    const check = await s.bundle(
      [
        'exec',
        'ruby',
        '-e',
        'require "tree_leaf"; require "tree_clash"; print TreeLeaf::VERSION, " ", TreeClash::VERSION',
      ],
      { cwd: app, env: { BUNDLE_PATH: bundlePath } },
    );
    assert.equal(expectSuccess('bundle exec ruby', check).stdout, '2.0.0.pre1 0.5.0');
    return { reqs, log };
  };

  before(async () => {
    requireRuby();
    root = mkdtempSync(join(tmpdir(), 'quarry-proxy-e2e-'));
    for (const [f, b] of buildGems(join(root, 'upstream-gems'), UPSTREAM_GEMS)) built.set(f, b);
    const privateGems = buildGems(join(root, 'private-gems'), PRIVATE_GEMS);
    for (const [f, b] of privateGems) built.set(f, b);

    upstreamData = join(root, 'upstream-data');
    upstream = await startQuarryServer({ data: upstreamData });
    relay = await startRelay(() => upstream.port);
    proxyData = join(root, 'proxy-data');
    proxy = await startQuarryServer({ data: proxyData, args: ['--upstream', relay.url] });

    const s = sandbox();
    const push = async (server: QuarryServer, key: string, dir: string, file: string) => {
      const r = await s.gem(['push', join(dir, file), '--host', server.url], {
        env: { GEM_HOST_API_KEY: key },
      });
      assert.equal(r.status, 0, describeRun(`gem push ${file} to ${server.url}`, r));
      assert.match(r.stdout, /Successfully registered gem/);
    };
    const upKey = createKey(upstreamData, ['push']);
    for (const g of UPSTREAM_GEMS)
      await push(upstream, upKey, join(root, 'upstream-gems'), `${g.name}-${g.version}.gem`);
    const proxyKey = createKey(proxyData, ['push']);
    for (const g of PRIVATE_GEMS)
      await push(proxy, proxyKey, join(root, 'private-gems'), `${g.name}-${g.version}.gem`);
  });

  after(async () => {
    proxy?.kill();
    upstream?.kill();
    await relay?.close();
    for (const s of sandboxes) s.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test(
    'bundle install through the proxy: upstream tree, prerelease and private gems in one source',
    TIMEOUT,
    async () => {
      const s = sandbox();
      const upMark = await upstream.mark();
      const { reqs, log } = await bundleInstall(s, proxySource(), 'source at the proxy');
      const ok = (path: string) =>
        reqs.some((x) => x.method === 'GET' && x.path === path && x.status === 200);
      for (const p of [
        '/versions',
        '/info/acme-private',
        '/info/tree-app',
        '/info/tree-mid',
        '/info/tree-leaf',
      ]) {
        assert.ok(ok(p), `bundle did not GET ${p} from the proxy:\n${log}`);
      }
      assert.deepEqual(show(reqs.filter((x) => x.status >= 400)), '', 'no request to the proxy failed');
      // The proxy filled its cache from the upstream (the proxy's own user agent), never the private names.
      const upReqs = await upstream.requestsSince(upMark);
      assert.ok(
        upReqs.some((x) => x.path === '/versions') &&
          upReqs.some((x) => x.path === '/gems/tree-app-1.0.0.gem'),
        show(upReqs),
      );
      assert.ok(
        upReqs.every((x) => x.ua.startsWith('Quarry')),
        `only the proxy talks to the upstream:\n${show(upReqs)}`,
      );
      assert.deepEqual(
        show(upReqs.filter((x) => /acme-private|tree-clash/.test(x.path))),
        '',
        'private names are never asked of the upstream',
      );
    },
  );

  test('gem install through the proxy resolves the tree with the compact index', TIMEOUT, async () => {
    const s = sandbox();
    const mark = await proxy.mark();
    await gemFrom(s, ['install', 'tree-app']);
    assert.deepEqual(installedSpecs(s.gemHome), ['tree-app-1.0.0', 'tree-leaf-1.1.0', 'tree-mid-2.0.0']);
    await gemFrom(s, ['install', 'tree-leaf', '--pre']);
    await gemFrom(s, ['install', 'acme-private']);
    assert.deepEqual(installedSpecs(s.gemHome), [
      'acme-private-0.1.0',
      'tree-app-1.0.0',
      'tree-leaf-1.1.0',
      'tree-leaf-2.0.0.pre1',
      'tree-mid-2.0.0',
    ]);
    assert.deepEqual(sameAsBuilt(join(s.gemHome, 'cache')), [
      'acme-private-0.1.0.gem',
      'tree-app-1.0.0.gem',
      'tree-leaf-1.1.0.gem',
      'tree-leaf-2.0.0.pre1.gem',
      'tree-mid-2.0.0.gem',
    ]);
    const reqs = await proxy.requestsSince(mark);
    assert.ok(
      reqs.some((x) => x.path === '/info/tree-mid' && x.status === 200),
      show(reqs),
    );
    // RubyGems reads each chosen gem's quick spec even with the compact index, but no specs list.
    assert.deepEqual(show(reqs.filter((x) => /specs\.4\.8/.test(x.path))), '', 'no legacy index');
  });

  test(
    'bundle config mirror.UPSTREAM PROXY: a Gemfile naming the upstream installs through the proxy',
    TIMEOUT,
    async () => {
      const s = sandbox();
      const upstreamSource = `${upstream.url}/`;
      expectSuccess(
        'bundle config mirror',
        await s.bundle(['config', 'set', '--global', `mirror.${upstreamSource}`, proxySource()]),
      );
      const upMark = await upstream.mark();
      const { reqs, log } = await bundleInstall(s, upstreamSource, 'mirror');
      assert.ok(
        reqs.some((x) => x.path === '/versions' && x.status === 200),
        `Bundler used the mirror:\n${log}`,
      );
      const upReqs = await upstream.requestsSince(upMark);
      assert.deepEqual(
        show(upReqs.filter((x) => !x.ua.startsWith('Quarry'))),
        '',
        'Bundler never asked the upstream itself',
      );
    },
  );

  test(
    "RubyGems with the compact index off installs from the proxy's specs.4.8.gz and quick specs",
    TIMEOUT,
    async () => {
      const front = await startLegacyFront(() => proxy.port);
      try {
        const s = sandbox();
        const mark = await proxy.mark();
        const r = await gemFrom(s, ['install', 'tree-app'], `${front.url}/`);
        const reqs = await proxy.requestsSince(mark);
        const log = show(reqs);
        assert.deepEqual(
          installedSpecs(s.gemHome),
          ['tree-app-1.0.0', 'tree-leaf-1.1.0', 'tree-mid-2.0.0'],
          r.stdout,
        );
        assert.deepEqual(sameAsBuilt(join(s.gemHome, 'cache')), [
          'tree-app-1.0.0.gem',
          'tree-leaf-1.1.0.gem',
          'tree-mid-2.0.0.gem',
        ]);
        const fetched = (re: RegExp) =>
          [...new Set(reqs.filter((x) => re.test(x.path) && x.status === 200).map((x) => x.path))].sort();
        assert.ok(fetched(/^\/specs\.4\.8\.gz$/).length === 1, `specs.4.8.gz was fetched:\n${log}`);
        for (const full of ['tree-app-1.0.0', 'tree-mid-2.0.0', 'tree-leaf-1.1.0']) {
          assert.ok(
            fetched(/^\/quick\//).includes(`/quick/Marshal.4.8/${full}.gemspec.rz`),
            `quick spec of ${full}:\n${log}`,
          );
        }
        assert.deepEqual(fetched(/^\/gems\//), [
          '/gems/tree-app-1.0.0.gem',
          '/gems/tree-leaf-1.1.0.gem',
          '/gems/tree-mid-2.0.0.gem',
        ]);
        assert.deepEqual(
          show(
            reqs.filter(
              (x) => x.path === '/versions' || x.path.startsWith('/info/') || x.path.startsWith('/api/'),
            ),
          ),
          '',
          'no compact index or dependency API reached the proxy',
        );
        assert.deepEqual(show(reqs.filter((x) => x.status >= 400)), '', 'no request to the proxy failed');
      } finally {
        await front.close();
      }
    },
  );

  test('a private gem under an upstream name hides every upstream version of it', TIMEOUT, async () => {
    const s = sandbox();
    await gemFrom(s, ['install', 'tree-clash']);
    assert.deepEqual(installedSpecs(s.gemHome), ['tree-clash-0.5.0']);
    assert.deepEqual(sameAsBuilt(join(s.gemHome, 'cache')), ['tree-clash-0.5.0.gem']);

    const denied = await s.gem([
      'install',
      'tree-clash',
      '-v',
      '2.0.0',
      '--clear-sources',
      '--source',
      proxySource(),
    ]);
    assert.notEqual(denied.status, 0, describeRun('gem install tree-clash -v 2.0.0', denied));
    assert.match(denied.stdout + denied.stderr, /Could not find a valid gem 'tree-clash' \(= 2\.0\.0\)/);

    const search = await gemFrom(s, ['search', '-r', '--all', '^tree-clash$']);
    assert.deepEqual(
      search.stdout.split('\n').filter((l) => l.startsWith('tree-clash')),
      ['tree-clash (0.5.0)'],
      search.stdout,
    );
    const list = await gemFrom(s, ['list', '-r', '--all', 'tree-']);
    assert.ok(list.stdout.split('\n').includes('tree-clash (0.5.0)'), list.stdout);
    assert.ok(list.stdout.split('\n').includes('tree-leaf (1.1.0, 1.0.0)'), list.stdout);

    // And below the clients: the indexes and downloads.
    const info = await (await proxy.fetch('/info/tree-clash')).text();
    assert.deepEqual(
      info
        .split('\n')
        .filter((l) => /^\d/.test(l))
        .map((l) => l.split(' ')[0]),
      ['0.5.0'],
    );
    for (const v of ['1.0.0', '2.0.0']) {
      assert.equal((await proxy.fetch(`/gems/tree-clash-${v}.gem`)).status, 404);
      assert.equal((await proxy.fetch(`/quick/Marshal.4.8/tree-clash-${v}.gemspec.rz`)).status, 404);
    }
    const deps = (await (await proxy.fetch('/api/v1/dependencies.json?gems=tree-clash')).json()) as {
      number: string;
    }[];
    assert.deepEqual(
      deps.map((d) => d.number),
      ['0.5.0'],
    );
    assert.equal(
      (await (await proxy.fetch('/versions')).text()).split('\n').filter((l) => l.startsWith('tree-clash '))
        .length,
      1,
      'one /versions line for tree-clash: the hosted one',
    );
  });

  test(
    "with the upstream stopped and fresh clients, the same Gemfile installs from the proxy's cache",
    TIMEOUT,
    async () => {
      const stopped = await upstream.stop();
      assert.equal(stopped.code, 0);
      // Restarted on the same data with max_age_ms 0: every index read asks the (dead) upstream first,
      // so what the clients get is the stale-on-error answer from the cache in the blob store.
      await proxy.stop();
      // The name is the one --upstream gives 127.0.0.1, so this is the same cache. (QUARRY_UPSTREAMS,
      // not a config file: the test servers' environment sets it, and it overrides the file.)
      const upstreams = [
        { name: '127-0-0-1', url: relay.url, max_age_ms: 0, timeout_ms: 3000, fail_timeout_ms: 30_000 },
      ];
      proxy = await startQuarryServer({
        data: proxyData,
        port: proxy.port,
        env: { QUARRY_UPSTREAMS: JSON.stringify(upstreams) },
      });
      const tried = relay.connections;
      const { reqs, log } = await bundleInstall(sandbox(), proxySource(), 'upstream down');
      assert.deepEqual(
        show(reqs.filter((x) => x.status >= 400)),
        '',
        `no request to the proxy failed:\n${log}`,
      );
      assert.ok(relay.connections > tried, 'the proxy tried the upstream');
      assert.ok(
        proxy.logs.some((l) => l['msg'] === 'upstream failed; serving the cached copy'),
        'the proxy logged its stale answers',
      );
      const s = sandbox();
      await gemFrom(s, ['install', 'tree-app']);
      assert.deepEqual(installedSpecs(s.gemHome), ['tree-app-1.0.0', 'tree-leaf-1.1.0', 'tree-mid-2.0.0']);
    },
  );

  test('--offline: no connection to the upstream, and the Gemfile still installs', TIMEOUT, async () => {
    // The upstream is back (same port, same data), so any request the proxy made would reach it.
    await proxy.stop();
    upstream = await startQuarryServer({ data: upstreamData, port: upstream.port });
    // Counted from before the offline proxy starts: start-up included.
    const upMark = await upstream.mark();
    const before = relay.connections;
    proxy = await startQuarryServer({
      data: proxyData,
      port: proxy.port,
      args: ['--upstream', relay.url, '--offline'],
    });

    await bundleInstall(sandbox(), proxySource(), 'offline');
    const s = sandbox();
    await gemFrom(s, ['install', 'tree-app']);
    assert.deepEqual(installedSpecs(s.gemHome), ['tree-app-1.0.0', 'tree-leaf-1.1.0', 'tree-mid-2.0.0']);
    // Something never fetched is a 503 with Retry-After, not a 404.
    const miss = await proxy.fetch('/gems/tree-leaf-1.0.0.gem');
    assert.equal(miss.status, 503, await miss.text());
    assert.ok(miss.headers.get('retry-after'), 'Retry-After on the 503');

    assert.equal(relay.connections - before, 0, 'the offline proxy opened no connection to the upstream');
    assert.deepEqual(show(await upstream.requestsSince(upMark)), '', 'the upstream logged no request');
  });
});
