/**
 * The real RubyGems `s3://` source against a bucket written by `quarry publish`.
 *
 * RubyGems always presigns `https://BUCKET.s3.REGION.amazonaws.com/...` (PROTOCOL.md section 8), so
 * this test plays that host: a throwaway CA and certificate (openssl), an HTTPS server on
 * 127.0.0.1:443 that verifies SigV4 query signatures and serves the objects from s3rver, and an
 * /etc/hosts line for the host name. Binding port 443 and editing /etc/hosts need root; without it
 * the test fails and says so (CI runs as root).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { S3BlobStore } from '../../src/blobs/s3.ts';
import { ensureBuilt, REPO_ROOT } from '../support/quarry.ts';
import type { RubySandbox, RunResult } from '../support/ruby.ts';
import {
  cleanEnv,
  describeRun,
  expectSuccess,
  requireRuby,
  rubySandbox,
  run,
  runSync,
} from '../support/ruby.ts';
import type { S3TestServer } from '../support/s3-server.ts';
import { S3_TEST_CREDENTIALS, startS3Server } from '../support/s3-server.ts';
import type { SigV4TlsServer } from '../support/sigv4-tls-proxy.ts';
import {
  addHostsEntry,
  makeTestCertificate,
  startSigV4TlsServer,
  verifyPresigned,
} from '../support/sigv4-tls-proxy.ts';

const REGION = 'us-east-1';
const CLIENT = { accessKeyId: 'AKIAQUARRYTEST000001', secretAccessKey: 'quarry/test+secret=key' };
const TIMEOUT = { timeout: 240_000 };

/** Builds gems with real RubyGems into dir: [name, version, [dep, requirement]...]. */
function buildGems(dir: string, gems: [string, string, [string, string][]][]): void {
  const script = `
require 'rubygems/package'
require 'tmpdir'
require 'fileutils'
require 'json'
out = ARGV[0]
JSON.parse(ARGV[1]).each do |name, version, deps|
  Dir.mktmpdir do |d|
    Dir.chdir(d) do
      FileUtils.mkdir_p('lib')
      File.write("lib/#{name}.rb", "module #{name.capitalize}; VERSION = '#{version}'; end\\n")
      spec = Gem::Specification.new do |s|
        s.name = name
        s.version = version
        s.summary = "#{name} for the s3:// test"
        s.authors = ['Quarry']
        s.license = 'MIT'
        s.files = ["lib/#{name}.rb"]
        deps.each { |n, r| s.add_runtime_dependency n, r }
      end
      file = Gem::Package.build(spec)
      FileUtils.mv(file, File.join(out, file))
    end
  end
end
`;
  expectSuccess(
    'ruby (build gems)',
    runSync('ruby', ['-e', script, dir, JSON.stringify(gems)], { env: cleanEnv() }),
  );
}

/** `quarry ARGS` from the built CLI, asynchronously (s3rver answers from this process meanwhile). */
function quarry(args: string[], env: Record<string, string>): Promise<RunResult> {
  ensureBuilt();
  return run(process.execPath, [join(REPO_ROOT, 'bin', 'quarry'), ...args], {
    cwd: REPO_ROOT,
    env: { ...cleanEnv(), ...env },
    timeoutMs: 120_000,
  });
}

describe('the SigV4 verifier agrees with RubyGems’ own signer', () => {
  // Credentials go through the s3_source configuration, as in a .gemrc. (In the URL's userinfo, RubyGems
  // 3.3 on Ruby 3.1 signs with the password still percent-encoded, so a secret with '/' cannot go there.)
  const sign = (path: string, secret: string): { url: string; host: string; version: string } => {
    requireRuby();
    const script = `
      Gem.configuration['s3_source'] = { 'signer-test' => { 'id' => ARGV[1], 'secret' => ARGV[2], 'region' => ARGV[3] } }
      u = Gem::S3URISigner.new(URI(ARGV[0])).sign
      puts u.host, u.request_uri, Gem::VERSION`;
    const r = runSync(
      'ruby',
      [
        '-rrubygems/s3_uri_signer',
        '-ruri',
        '-e',
        script,
        `s3://signer-test${path}`,
        CLIENT.accessKeyId,
        secret,
        REGION,
      ],
      { env: { ...cleanEnv(), HOME: tmpdir(), GEMRC: '/dev/null' } },
    );
    expectSuccess('ruby (sign)', r);
    const [host, url, version] = r.stdout.trim().split('\n') as [string, string, string];
    return { host, url, version };
  };
  const secretFor = (id: string) => (id === CLIENT.accessKeyId ? CLIENT.secretAccessKey : null);

  test('a URL presigned by Gem::S3URISigner verifies; a wrong secret, method, path or time does not', () => {
    const good = sign('/repo/specs.4.8.gz', CLIENT.secretAccessKey);
    assert.equal(good.host, `signer-test.s3.${REGION}.amazonaws.com`);
    const req = (method: string, url: string) => ({ method, url, headers: { host: good.host } });
    assert.deepEqual(verifyPresigned(req('GET', good.url), REGION, secretFor, new Date()), {
      ok: true,
      accessKeyId: CLIENT.accessKeyId,
    });

    const wrong = sign('/repo/specs.4.8.gz', 'not-the-secret');
    const bad = verifyPresigned(req('GET', wrong.url), REGION, secretFor, new Date());
    assert.equal(bad.ok ? 'ok' : bad.code, 'SignatureDoesNotMatch');
    const head = verifyPresigned(req('HEAD', good.url), REGION, secretFor, new Date());
    assert.equal(
      head.ok ? 'ok' : head.code,
      'SignatureDoesNotMatch',
      'RubyGems signs HEAD as GET; S3 refuses it',
    );
    const moved = verifyPresigned(
      req('GET', good.url.replace('/repo/specs.4.8.gz', '/repo/latest_specs.4.8.gz')),
      REGION,
      secretFor,
      new Date(),
    );
    assert.equal(moved.ok ? 'ok' : moved.code, 'SignatureDoesNotMatch');
    const late = verifyPresigned(
      req('GET', good.url),
      REGION,
      secretFor,
      new Date(Date.now() + 2 * 86_400_000),
    );
    assert.equal(late.ok ? 'ok' : late.message, 'Request has expired');
    // Two hours back: RubyGems 3.3 puts the month in the minutes, so its X-Amz-Date may be up to 59 min off.
    const early = verifyPresigned(
      req('GET', good.url),
      REGION,
      secretFor,
      new Date(Date.now() - 2 * 3_600_000),
    );
    assert.equal(early.ok ? 'ok' : early.message, 'Request is not valid yet');

    // RubyGems before 3.7 writes the month where X-Amz-Date's minutes belong (and signs that).
    const amzDate = /X-Amz-Date=(\d{8}T\d{6}Z)/.exec(good.url)?.[1] ?? '';
    const [major, minor] = good.version.split('.').map(Number) as [number, number];
    if (major < 3 || (major === 3 && minor < 7)) {
      const month = String(new Date().getUTCMonth() + 1).padStart(2, '0');
      assert.equal(amzDate.slice(11, 13), month, `X-Amz-Date ${amzDate} from RubyGems ${good.version}`);
    }
  });
});

describe('gem install --source s3://BUCKET/ from a bucket written by quarry publish', () => {
  const bucket = `quarry-e2e-${randomBytes(4).toString('hex')}`;
  const host = `${bucket}.s3.${REGION}.amazonaws.com`;
  const prefix = 'repo';
  let root: string;
  let repo: string;
  let s3: S3TestServer;
  let bucketStore: S3BlobStore;
  let proxy: SigV4TlsServer | undefined;
  let removeHosts: (() => void) | undefined;
  let hostsBefore = '';
  let caFile = '';
  const sandboxes: RubySandbox[] = [];

  // A failed set-up is rethrown by the test, so it counts as a failure (a failing hook only cancels).
  let setupError: unknown = null;
  before(async () => {
    try {
      await setUp();
    } catch (e) {
      setupError = e;
    }
  });
  const setUp = async (): Promise<void> => {
    if (process.getuid?.() !== 0) {
      throw new Error(
        'this test must run as root: it binds 127.0.0.1:443 and adds a line to /etc/hosts, because RubyGems only ever talks to https://BUCKET.s3.REGION.amazonaws.com (CI runs it as root)',
      );
    }
    requireRuby();
    root = mkdtempSync(join(tmpdir(), 'quarry-s3-e2e-'));
    repo = join(root, 'repo');
    mkdirSync(join(repo, 'gems'), { recursive: true });
    buildGems(join(repo, 'gems'), [
      ['s3demo', '1.0.0', []],
      ['s3demo', '1.1.0', [['s3dep', '~> 0.1']]],
      ['s3dep', '0.1.0', []],
    ]);
    s3 = await startS3Server([bucket]);
    bucketStore = new S3BlobStore(s3.storeOptions(bucket));
    const certificate = makeTestCertificate(root, host);
    try {
      proxy = await startSigV4TlsServer({
        certificate,
        region: REGION,
        credentials: CLIENT,
        getObject: (key) => bucketStore.get(key),
      });
    } catch (e) {
      throw new Error(`cannot serve https://${host}/ on 127.0.0.1:443: ${(e as Error).message}`);
    }
    hostsBefore = readFileSync('/etc/hosts', 'utf8');
    removeHosts = addHostsEntry(host);
    caFile = certificate.caFile;
  };

  after(async () => {
    removeHosts?.();
    await proxy?.close();
    bucketStore?.destroy();
    await s3?.close();
    for (const s of sandboxes) s.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
    if (removeHosts)
      assert.equal(readFileSync('/etc/hosts', 'utf8'), hostsBefore, '/etc/hosts was not restored');
  });

  /** `quarry publish s3://BUCKET/repo --from repo`, with the credentials in the AWS environment. */
  const publishRepo = async (): Promise<Record<string, unknown>> => {
    const r = await quarry(
      [
        'publish',
        `s3://${bucket}/${prefix}`,
        '--from',
        repo,
        '--endpoint',
        s3.endpoint,
        '--force-path-style',
        '--json',
      ],
      {
        AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
        AWS_REGION: REGION,
      },
    );
    expectSuccess('quarry publish', r);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  /** A sandbox whose .gemrc holds s3_source credentials for the bucket, trusting the test CA. */
  const sandbox = (secret: string): RubySandbox => {
    const s = rubySandbox('quarry-s3-gem-');
    sandboxes.push(s);
    // RubyGems 3.3 reads `s3_source:` (a plain key); `:s3_source:` is not found.
    writeFileSync(
      join(s.home, '.gemrc'),
      `gem: --no-document\ns3_source:\n  ${bucket}:\n    id: ${CLIENT.accessKeyId}\n    secret: ${JSON.stringify(secret)}\n    region: ${REGION}\n`,
    );
    return s;
  };
  const install = (s: RubySandbox, args: string[]): Promise<RunResult> =>
    s.gem(['install', ...args, '--clear-sources', '--source', `s3://${bucket}/${prefix}/`], {
      env: { SSL_CERT_FILE: caFile },
    });
  const cached = (s: RubySandbox): string[] => {
    const dir = join(s.gemHome, 'cache');
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  };

  test(
    'installs the exact published bytes; a yank is honoured; a wrong secret is refused',
    TIMEOUT,
    async () => {
      if (setupError !== null) throw setupError;
      const first = await publishRepo();
      assert.equal(first['mode'], 'full');
      assert.equal(first['gems'], 3);

      const a = sandbox(CLIENT.secretAccessKey);
      proxy!.requests.length = 0;
      const r1 = await install(a, ['s3demo']);
      assert.equal(
        r1.status,
        0,
        `${describeRun('gem install s3demo', r1)}\nrequests: ${JSON.stringify(proxy!.requests)}`,
      );
      assert.deepEqual(cached(a), ['s3demo-1.1.0.gem', 's3dep-0.1.0.gem']);
      for (const f of cached(a)) {
        const installed = readFileSync(join(a.gemHome, 'cache', f));
        const published = await bucketStore.get(`${prefix}/gems/${f}`);
        assert.ok(published?.equals(installed), `${f}: installed bytes differ from the published object`);
        assert.ok(
          installed.equals(readFileSync(join(repo, 'gems', f))),
          `${f}: differs from the source file`,
        );
      }
      const got = proxy!.requests.filter((q) => q.method === 'GET').map((q) => `${q.path} ${q.status}`);
      assert.ok(got.includes(`/${prefix}/specs.4.8.gz 200`), got.join('\n'));
      assert.ok(got.includes(`/${prefix}/gems/s3demo-1.1.0.gem 200`), got.join('\n'));
      assert.ok(got.includes(`/${prefix}/quick/Marshal.4.8/s3dep-0.1.0.gemspec.rz 200`), got.join('\n'));
      for (const q of proxy!.requests.filter((x) => x.method === 'HEAD')) {
        assert.equal(q.code, 'SignatureDoesNotMatch', 'RubyGems 3.3 signs its HEAD probe as a GET');
      }

      // Remove 1.1.0 from the source and publish again: a yank, and the client no longer sees it.
      unlinkSync(join(repo, 'gems', 's3demo-1.1.0.gem'));
      const second = await publishRepo();
      assert.equal(second['mode'], 'update');
      assert.equal(second['removed'], 1);
      assert.deepEqual(second['deletes'], [
        'quick/Marshal.4.8/s3demo-1.1.0.gemspec.rz',
        'gems/s3demo-1.1.0.gem',
      ]);
      const versions = (await bucketStore.get(`${prefix}/versions`))!.toString();
      assert.match(versions, /\ns3demo -1\.1\.0 [0-9a-f]{32}\n$/);
      const b = sandbox(CLIENT.secretAccessKey);
      expectSuccess('gem install s3demo (after the yank)', await install(b, ['s3demo']));
      assert.deepEqual(cached(b), ['s3demo-1.0.0.gem']);
      const pinned = await install(sandbox(CLIENT.secretAccessKey), ['s3demo', '-v', '1.1.0']);
      assert.notEqual(pinned.status, 0, describeRun('gem install s3demo -v 1.1.0', pinned));
      assert.match(pinned.stderr, /Could not find a valid gem 's3demo' \(= 1\.1\.0\)/);

      // A wrong secret: every signed request is refused, and so is the install.
      proxy!.requests.length = 0;
      const c = sandbox('wrong-secret');
      const refused = await install(c, ['s3demo']);
      assert.notEqual(refused.status, 0, describeRun('gem install with a wrong secret', refused));
      assert.match(refused.stderr, /403/);
      assert.deepEqual(cached(c), []);
      assert.ok(proxy!.requests.length > 0, 'the client never reached the server');
      for (const q of proxy!.requests)
        assert.equal(q.status, 403, `${q.method} ${q.path} was answered ${q.status}`);
      assert.ok(
        proxy!.requests.some((q) => q.method === 'GET' && q.code === 'SignatureDoesNotMatch'),
        JSON.stringify(proxy!.requests),
      );
    },
  );
});
