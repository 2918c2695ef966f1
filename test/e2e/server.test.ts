/**
 * `quarry serve` end to end: the real CLI server as a child process on 127.0.0.1, keys made with the
 * CLI, and Debian's Ruby (RubyGems 3.3, Bundler 2.3) pushing, yanking, signing in, installing,
 * fetching, searching and bundling against it, each client in its own sandbox. Ends with a graceful
 * restart on the same data directory.
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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Corpus } from '../support/corpus.ts';
import { buildCorpus } from '../support/corpus.ts';
import { makeGem } from '../support/make-gem.ts';
import type { RubySandbox, RunResult } from '../support/ruby.ts';
import { describeRun, expectSuccess, requireRuby, rubySandbox } from '../support/ruby.ts';
import type { LoggedRequest, QuarryServer } from '../support/server.ts';
import { createKey, gemSignin, hashPassword, quarryAdmin, startQuarryServer } from '../support/server.ts';

const TIMEOUT = { timeout: 120_000 };
const USER = 'alice@example.invalid';
const PASSWORD = 'correct horse battery staple';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');
const show = (reqs: LoggedRequest[]) => reqs.map((r) => `${r.method} ${r.url} -> ${r.status}`).join('\n');

/** Names of the specs installed in a gem directory, e.g. `edge-native-2.0.0-x86_64-linux`. */
function installedSpecs(gemDir: string): string[] {
  const dir = join(gemDir, 'specifications');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.gemspec'))
    .map((f) => f.slice(0, -'.gemspec'.length))
    .sort();
}

/** The files gem push sent, by file name. */
const pushed = new Map<string, Buffer>();

/** Asserts every .gem in dir equals the bytes that were pushed, byte for byte; returns their names. */
function assertSameAsPushed(dir: string): string[] {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.gem')) : [];
  for (const f of files) {
    const original = pushed.get(f);
    assert.ok(original, `${f} came from the server but was never pushed`);
    assert.ok(readFileSync(join(dir, f)).equals(original), `${f}: the bytes differ from the pushed file`);
  }
  return files.sort();
}

/** The success line RubyGems prints for a push of this gem, as rubygems.org words it. */
const registered = (name: string, version: string, platform: string) =>
  `Successfully registered gem: ${name} (${version}${platform === 'ruby' ? '' : `-${platform}`})`;

describe('quarry serve with the real gem and bundle clients', () => {
  let root: string;
  let data: string;
  let config: string;
  let corpus: Corpus;
  let server: QuarryServer;
  let key: string;
  const sandboxes: RubySandbox[] = [];
  const sandbox = (): RubySandbox => {
    const s = rubySandbox('quarry-serve-e2e-');
    sandboxes.push(s);
    return s;
  };
  const source = () => `${server.url}/`;
  /** The requests since mark; E2E_TRACE=1 prints them. */
  const requestsSince = async (mark: number): Promise<LoggedRequest[]> => {
    const reqs = await server.requestsSince(mark);
    if (process.env['E2E_TRACE']) process.stderr.write(`trace:\n${show(reqs)}\n`);
    return reqs;
  };

  /** `gem ARGS --clear-sources --source URL/`; fails with the output and the requests made unless it exits 0. */
  const gemFrom = async (s: RubySandbox, args: string[], cwd?: string): Promise<RunResult> => {
    const mark = await server.mark();
    const r = await s.gem([...args, '--clear-sources', '--source', source()], cwd ? { cwd } : {});
    if (r.status !== 0) {
      const log = show(await requestsSince(mark));
      throw new Error(`${describeRun(`gem ${args.join(' ')}`, r)}\n--- requests\n${log}`);
    }
    return r;
  };
  const push = (s: RubySandbox, file: string, apiKey: string | undefined) =>
    s.gem(['push', file, '--host', server.url], { env: { GEM_HOST_API_KEY: apiKey } });
  const text = async (path: string): Promise<{ status: number; body: string }> => {
    const r = await server.fetch(path);
    return { status: r.status, body: await r.text() };
  };
  const bytes = async (path: string): Promise<{ status: number; body: Buffer }> => {
    const r = await server.fetch(path);
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
  };

  before(async () => {
    requireRuby();
    root = mkdtempSync(join(tmpdir(), 'quarry-serve-e2e-'));
    data = join(root, 'data');
    corpus = buildCorpus(join(root, 'corpus'));
    config = join(root, 'quarry.yaml');
    writeFileSync(
      config,
      `auth:\n  users:\n    - name: "${USER}"\n      password_hash: "${hashPassword(PASSWORD)}"\n      scopes: [push, yank]\n`,
    );
    server = await startQuarryServer({ data, config });
    key = createKey(data, ['push', 'yank'], { name: 'e2e', config });
  });

  after(() => {
    // By PID, whatever happened; a no-op when the restart test already stopped it.
    server?.kill();
    for (const s of sandboxes) s.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('gem push publishes gems with dependencies, prereleases and platform variants', TIMEOUT, async () => {
    const powerAssert = corpus.gems.find((g) => g.name === 'power_assert');
    assert.ok(powerAssert, 'the corpus has power_assert (edge-deps needs it)');
    const files = [
      'edge-base-1.0.0.gem',
      'edge-base-2.0.0.gem',
      'edge-base-3.0.0.gem',
      powerAssert.file,
      'edge-deps-1.0.0.gem',
      'edge-pre-1.0.0.pre1.gem',
      'edge-pre-2.0.0.rc.1.gem',
      'edge-native-1.0.0.gem',
      'edge-native-2.0.0.gem',
      'edge-native-2.0.0-java.gem',
      'edge-native-2.0.0-x86_64-linux.gem',
    ];
    const s = sandbox();
    for (const file of files) {
      const g = corpus.gem(file);
      const r = await push(s, g.path, key);
      assert.equal(r.status, 0, describeRun(`gem push ${file}`, r));
      assert.ok(r.stdout.includes(registered(g.name, g.version, g.platform)), describeRun('gem push', r));
      pushed.set(file, readFileSync(g.path));
    }

    // Every file is served back unchanged, and /info lists each with its checksum.
    for (const [file, body] of pushed) {
      const got = await bytes(`/gems/${file}`);
      assert.equal(got.status, 200, file);
      assert.ok(got.body.equals(body), `/gems/${file} differs from the pushed file`);
    }
    const info = (await text('/info/edge-native')).body;
    for (const [token, file] of [
      ['1.0.0', 'edge-native-1.0.0.gem'],
      ['2.0.0', 'edge-native-2.0.0.gem'],
      ['2.0.0-java', 'edge-native-2.0.0-java.gem'],
      ['2.0.0-x86_64-linux', 'edge-native-2.0.0-x86_64-linux.gem'],
    ] as const) {
      assert.match(
        info,
        new RegExp(`^${token.replaceAll('.', '\\.')} .*checksum:${sha256(pushed.get(file)!)}`, 'm'),
      );
    }
    const versions = (await text('/versions')).body;
    for (const name of ['edge-base', 'edge-deps', 'edge-pre', 'edge-native', 'power_assert']) {
      assert.match(versions, new RegExp(`^${name} \\S+ [0-9a-f]{32}$`, 'm'), `/versions lists ${name}`);
    }
  });

  test(
    'a second push of a version with different bytes is refused; the same bytes change nothing',
    TIMEOUT,
    async () => {
      const s = sandbox();
      const versionsBefore = (await text('/versions')).body;
      const impostor = join(s.root, 'edge-base-1.0.0.gem');
      writeFileSync(impostor, makeGem({ name: 'edge-base', version: '1.0.0', summary: 'not the original' }));
      assert.ok(!readFileSync(impostor).equals(pushed.get('edge-base-1.0.0.gem')!));
      const r = await push(s, impostor, key);
      assert.notEqual(r.status, 0, describeRun('gem push (different bytes)', r));
      assert.match(r.stdout + r.stderr, /Repushing of gem versions is not allowed/);
      assert.ok((await bytes('/gems/edge-base-1.0.0.gem')).body.equals(pushed.get('edge-base-1.0.0.gem')!));

      const again = await push(s, corpus.gem('edge-base-1.0.0.gem').path, key);
      assert.equal(again.status, 0, describeRun('gem push (same bytes)', again));
      assert.match(again.stdout, /already pushed: edge-base \(1\.0\.0\)/);
      assert.equal(
        (await text('/versions')).body,
        versionsBefore,
        'refused and repeated pushes leave /versions alone',
      );
    },
  );

  test('a push with a wrong or revoked key is refused and publishes nothing', TIMEOUT, async () => {
    const s = sandbox();
    const file = corpus.gem('edge-mixed-1.0.0.gem').path;
    const wrong = await push(s, file, `${key}-but-not-quite`);
    assert.notEqual(wrong.status, 0, describeRun('gem push (wrong key)', wrong));
    assert.match(wrong.stdout + wrong.stderr, /Access Denied/);

    const revokedKey = createKey(data, ['push'], { name: 'to-revoke', config });
    const listed = JSON.parse(quarryAdmin(['keys', 'list', '--json'], { data, config }).stdout) as {
      id: number;
      name: string;
    }[];
    const id = listed.find((k) => k.name === 'to-revoke')?.id;
    assert.ok(id !== undefined, `keys list --json shows the new key:\n${JSON.stringify(listed)}`);
    quarryAdmin(['keys', 'revoke', String(id)], { data, config });
    const revoked = await push(s, file, revokedKey);
    assert.notEqual(revoked.status, 0, describeRun('gem push (revoked key)', revoked));
    assert.match(revoked.stdout + revoked.stderr, /revoked/);

    assert.equal((await text('/info/edge-mixed')).status, 404);
    assert.equal((await text('/gems/edge-mixed-1.0.0.gem')).status, 404);
  });

  test('/metrics counts the pushes by result', TIMEOUT, async () => {
    const metrics = (await text('/metrics')).body;
    const count = (result: string) =>
      Number(new RegExp(`^quarry_pushes_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    assert.deepEqual(
      {
        ok: count('ok'),
        unchanged: count('unchanged'),
        conflict: count('conflict'),
        unauthorized: count('unauthorized'),
      },
      { ok: pushed.size, unchanged: 1, conflict: 1, unauthorized: 2 },
      metrics
        .split('\n')
        .filter((l) => l.startsWith('quarry_pushes'))
        .join('\n'),
    );
  });

  test('gem yank --platform java removes only the java variant', TIMEOUT, async () => {
    const s = sandbox();
    const r = await s.gem(
      ['yank', 'edge-native', '-v', '2.0.0', '--platform', 'java', '--host', server.url],
      {
        env: { GEM_HOST_API_KEY: key },
      },
    );
    assert.equal(r.status, 0, describeRun('gem yank', r));
    assert.match(r.stdout, /Successfully deleted gem: edge-native \(2\.0\.0-java\)/);

    const info = (await text('/info/edge-native')).body;
    const tokens = info
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => l.split(' ')[0]);
    assert.deepEqual(tokens, ['1.0.0', '2.0.0', '2.0.0-x86_64-linux']);
    const last = (await text('/versions')).body
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('edge-native '))
      .at(-1);
    assert.equal(
      last,
      `edge-native -2.0.0-java ${md5(info)}`,
      '/versions ends with the yank and the new info MD5',
    );
    assert.equal((await text('/gems/edge-native-2.0.0-java.gem')).status, 404);
    assert.equal((await text('/quick/Marshal.4.8/edge-native-2.0.0-java.gemspec.rz')).status, 404);
    assert.equal(
      (await text('/gems/edge-native-2.0.0-x86_64-linux.gem')).status,
      200,
      'other platforms stay',
    );
  });

  test('gem install resolves dependencies through the compact index', TIMEOUT, async () => {
    const s = sandbox();
    const mark = await server.mark();
    await gemFrom(s, ['install', 'edge-deps']);
    // edge-deps needs edge-base (>= 1.0, < 3), so 2.0.0 and not 3.0.0; and power_assert (~> 2.0).
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-base-2.0.0', 'edge-deps-1.0.0', 'power_assert-2.0.1']);
    assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), [
      'edge-base-2.0.0.gem',
      'edge-deps-1.0.0.gem',
      'power_assert-2.0.1.gem',
    ]);
    const reqs = await requestsSince(mark);
    assert.deepEqual(
      [...new Set(reqs.filter((r) => r.path.startsWith('/info/')).map((r) => r.path))].sort(),
      ['/info/edge-base', '/info/edge-deps', '/info/power_assert'],
      show(reqs),
    );
    assert.deepEqual(show(reqs.filter((r) => r.status >= 400)), '', 'no request failed');
  });

  test('gem install --pre picks the newest prerelease', TIMEOUT, async () => {
    const s = sandbox();
    await gemFrom(s, ['install', 'edge-pre', '--pre']);
    // 2.0.0.rc.1 depends on edge-base ~> 1.0.
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-base-1.0.0', 'edge-pre-2.0.0.rc.1']);
    assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), [
      'edge-base-1.0.0.gem',
      'edge-pre-2.0.0.rc.1.gem',
    ]);
  });

  test('gem install chooses the x86_64-linux variant', TIMEOUT, async () => {
    const s = sandbox();
    await gemFrom(s, ['install', 'edge-native']);
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-native-2.0.0-x86_64-linux']);
    const r = expectSuccess(
      'ruby -e (platform of edge-native)',
      await s.ruby(['-e', 'gem "edge-native"; require "edge_native/platform"; print EDGE_NATIVE_PLATFORM']),
    );
    assert.equal(r.stdout, 'x86_64-linux');
    assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), ['edge-native-2.0.0-x86_64-linux.gem']);
  });

  test('gem fetch NAME and gem fetch NAME -v V download the pushed bytes', TIMEOUT, async () => {
    const s = sandbox();
    const out = join(s.root, 'fetched');
    mkdirSync(out);
    await gemFrom(s, ['fetch', 'edge-base'], out);
    await gemFrom(s, ['fetch', 'edge-base', '-v', '1.0.0'], out);
    await gemFrom(s, ['fetch', 'edge-native', '-v', '2.0.0'], out);
    assert.deepEqual(assertSameAsPushed(out), [
      'edge-base-1.0.0.gem',
      'edge-base-3.0.0.gem',
      'edge-native-2.0.0-x86_64-linux.gem',
    ]);
  });

  test('gem search -r lists the gems', TIMEOUT, async () => {
    const s = sandbox();
    const r = await gemFrom(s, ['search', '-r', 'edge-']);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('edge-'));
    assert.ok(lines.includes('edge-base (3.0.0)'), r.stdout);
    assert.ok(lines.includes('edge-deps (1.0.0)'), r.stdout);
    assert.ok(
      lines.some((l) => /^edge-native \(2\.0\.0 /.test(l) && !l.includes('java')),
      `edge-native without the yanked java variant:\n${r.stdout}`,
    );
    assert.ok(!lines.some((l) => l.startsWith('edge-pre ')), 'prereleases need --pre');
    const pre = await gemFrom(s, ['search', '-r', 'edge-pre', '--pre']);
    assert.match(pre.stdout, /^edge-pre \(2\.0\.0\.rc\.1, 1\.0\.0\.pre1\)$/m);
  });

  test('gem sources --add accepts the server', TIMEOUT, async () => {
    const s = sandbox();
    const mark = await server.mark();
    expectSuccess('gem sources --add', await s.gem(['sources', '--add', source()]));
    const reqs = await requestsSince(mark);
    assert.ok(
      reqs.some((r) => r.path === '/specs.4.8.gz' && r.status === 200),
      show(reqs),
    );
    const list = expectSuccess('gem sources --list', await s.gem(['sources', '--list']));
    assert.ok(list.stdout.split('\n').includes(source()), list.stdout);
  });

  const gemfile = (s: RubySandbox): string => {
    const app = join(s.root, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'Gemfile'), `source "${source()}"\n\ngem "edge-deps"\ngem "edge-native"\n`);
    return app;
  };
  const checkBundle = (s: RubySandbox, app: string, log: string) => {
    const lock = readFileSync(join(app, 'Gemfile.lock'), 'utf8');
    for (const line of ['edge-base (2.0.0)', 'edge-deps (1.0.0)', 'power_assert (2.0.1)']) {
      assert.ok(lock.includes(`    ${line}\n`), `Gemfile.lock lacks ${line}:\n${lock}\n${log}`);
    }
    assert.match(lock, /^ {4}edge-native \(2\.0\.0-x86_64-linux\)$/m, lock);
    const bundlePath = join(s.root, 'bundle');
    const [abi] = readdirSync(join(bundlePath, 'ruby'));
    assert.ok(abi, 'bundle installed into BUNDLE_PATH/ruby/<abi>');
    assert.deepEqual(assertSameAsPushed(join(bundlePath, 'ruby', abi, 'cache')), [
      'edge-base-2.0.0.gem',
      'edge-deps-1.0.0.gem',
      'edge-native-2.0.0-x86_64-linux.gem',
      'power_assert-2.0.1.gem',
    ]);
  };

  test('bundle install uses the compact index', TIMEOUT, async () => {
    const s = sandbox();
    const app = gemfile(s);
    const mark = await server.mark();
    const r = await s.bundle(['install'], { cwd: app, env: { BUNDLE_PATH: join(s.root, 'bundle') } });
    const reqs = await requestsSince(mark);
    const log = show(reqs);
    assert.equal(r.status, 0, `${describeRun('bundle install', r)}\n--- requests\n${log}`);
    const ok = (path: string) => reqs.some((x) => x.method === 'GET' && x.path === path && x.status === 200);
    for (const p of [
      '/versions',
      '/info/edge-deps',
      '/info/edge-base',
      '/info/power_assert',
      '/info/edge-native',
    ]) {
      assert.ok(ok(p), `bundle did not GET ${p}:\n${log}`);
    }
    assert.deepEqual(
      show(reqs.filter((x) => /specs\.4\.8|^\/api\/|^\/quick\//.test(x.path))),
      '',
      'no legacy index or dependency API',
    );
    checkBundle(s, app, log);
  });

  test('bundle install --full-index uses specs.4.8.gz and quick specs', TIMEOUT, async () => {
    const s = sandbox();
    const app = gemfile(s);
    const mark = await server.mark();
    const r = await s.bundle(['install', '--full-index'], {
      cwd: app,
      env: { BUNDLE_PATH: join(s.root, 'bundle') },
    });
    const reqs = await requestsSince(mark);
    const log = show(reqs);
    assert.equal(r.status, 0, `${describeRun('bundle install --full-index', r)}\n--- requests\n${log}`);
    assert.ok(
      reqs.some((x) => x.path === '/specs.4.8.gz' && x.status === 200),
      log,
    );
    assert.ok(
      reqs.some((x) => x.path.startsWith('/quick/Marshal.4.8/') && x.status === 200),
      log,
    );
    // Bundler 2.3 still probes the compact index once (CompactIndex#available? reads /versions), but
    // with --full-index it resolves from the legacy index and never reads /info.
    assert.deepEqual(show(reqs.filter((x) => x.path.startsWith('/info/'))), '', 'no /info with --full-index');
    assert.ok(reqs.filter((x) => x.path === '/versions').length <= 1, log);
    checkBundle(s, app, log);
  });

  test('gem signin gets a key for a configured user; gem push uses it', TIMEOUT, async () => {
    const s = sandbox();
    const denied = await gemSignin(s, server.url, { user: USER, password: 'wrong password', keyName: 'x' });
    assert.equal(denied.status, 1, describeRun('gem signin (wrong password)', denied));
    assert.match(denied.stdout, /Access Denied/);

    const r = await gemSignin(s, server.url, { user: USER, password: PASSWORD, keyName: 'e2e-signin' });
    assert.equal(r.status, 0, describeRun('gem signin', r));
    assert.match(r.stdout, /Signed in with API key: e2e-signin/);
    const credentials = [
      join(s.home, '.gem', 'credentials'),
      join(s.home, '.local', 'share', 'gem', 'credentials'),
    ].find(existsSync);
    assert.ok(credentials, 'gem signin wrote a credentials file');
    const stored = readFileSync(credentials, 'utf8');
    const m = new RegExp(`^${server.url.replaceAll('.', '\\.')}: (\\S+)$`, 'm').exec(stored);
    assert.ok(m?.[1], `the credentials file holds a key for ${server.url}:\n${stored}`);
    const list = quarryAdmin(['keys', 'list'], { data, config }).stdout;
    assert.match(list, /\te2e-signin\tpush,yank\t/, list);

    const g = corpus.gem('edge-unicode-0.1.0.gem');
    const p = await push(s, g.path, undefined);
    assert.equal(p.status, 0, describeRun('gem push with the stored key', p));
    assert.ok(p.stdout.includes(registered(g.name, g.version, g.platform)), p.stdout);
    pushed.set(g.file, readFileSync(g.path));
    assert.ok((await bytes(`/gems/${g.file}`)).body.equals(pushed.get(g.file)!));
  });

  test('POST /upload (gem inabox) publishes a multipart upload', TIMEOUT, async () => {
    const g = corpus.gem('edge-mixed-1.1.0.beta1.gem');
    const body = readFileSync(g.path);
    const upload = (headers: Record<string, string>) => {
      const form = new FormData();
      form.append('file', new Blob([body], { type: 'application/octet-stream' }), g.file);
      form.append('overwrite', 'false');
      return server.fetch('/upload', {
        method: 'POST',
        body: form,
        headers: { accept: 'text/plain', ...headers },
      });
    };
    const anonymous = await upload({});
    assert.equal(anonymous.status, 401, await anonymous.text());
    const r = await upload({ authorization: key });
    assert.equal(r.status, 200);
    assert.equal((await r.text()).trim(), `Gem ${g.file} received and indexed.`);
    pushed.set(g.file, body);

    const s = sandbox();
    await gemFrom(s, ['install', 'edge-mixed', '--pre']);
    assert.deepEqual(installedSpecs(s.gemHome), ['edge-mixed-1.1.0.beta1']);
    assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), [g.file]);
  });

  // Runs last: it restarts the server.
  test(
    'SIGTERM shuts down gracefully; a restart on the same data serves the same bytes',
    TIMEOUT,
    async () => {
      const names = (await text('/names')).body.split('\n').slice(1).filter(Boolean);
      assert.ok(names.length >= 6, `/names lists the pushed gems:\n${names.join('\n')}`);
      const paths = [
        '/versions',
        '/names',
        '/specs.4.8.gz',
        '/latest_specs.4.8.gz',
        '/prerelease_specs.4.8.gz',
        ...names.map((n) => `/info/${n}`),
        ...[...pushed.keys()].map((f) => `/gems/${f}`),
      ];
      const snapshot = async () => {
        const out: Record<string, string> = {};
        for (const p of paths) {
          const r = await bytes(p);
          out[p] = `${r.status} ${sha256(r.body)}`;
        }
        return out;
      };
      const before = await snapshot();
      for (const [f, body] of pushed) {
        const want = f === 'edge-native-2.0.0-java.gem' ? '404' : `200 ${sha256(body)}`;
        assert.ok(before[`/gems/${f}`]?.startsWith(want), `${f}: ${before[`/gems/${f}`]}`);
      }

      // Nothing so far made the server fail: no 5xx, nothing logged at error level or above.
      await server.flushLog();
      const errors = server.logs.filter((l) => Number(l['level']) >= 50 || Number(l['status']) >= 500);
      assert.deepEqual(errors, [], 'the server logged errors');

      const port = server.port;
      const exit = await server.stop('SIGTERM');
      assert.deepEqual(exit, { code: 0, signal: null }, `graceful shutdown exits 0:\n${server.stderr()}`);
      assert.ok(server.logs.some((l) => l['msg'] === 'shutting down' && l['signal'] === 'SIGTERM'));

      server = await startQuarryServer({ data, config, port });
      assert.deepEqual(await snapshot(), before);

      // Keys survive too, and clients work as before.
      const s = sandbox();
      const g = corpus.gem('edge-longpath-1.0.0.gem');
      const p = await push(s, g.path, key);
      assert.equal(p.status, 0, describeRun('gem push after the restart', p));
      pushed.set(g.file, readFileSync(g.path));
      await gemFrom(s, ['install', 'edge-longpath']);
      assert.deepEqual(assertSameAsPushed(join(s.gemHome, 'cache')), [g.file]);
    },
  );
});
