/**
 * The push / yank / re-push sequence of the public gem_server_conformance suite, as a reusable body
 * of tests: conformanceSequence(start) declares the steps inside the caller's describe(), against
 * whatever server start() gives (in process through inject(), or a real `quarry serve` over HTTP).
 * The server must have the test hooks on (POST /set_time, POST /rebuild_versions_list) and start on
 * an empty catalog.
 *
 * The gems are rebuilt by real RubyGems (test/support/conformance-gems.rb) and must be the suite's
 * gems byte for byte: their SHA-256 sums and the /versions MD5s below are the values the suite
 * expects, produced by its reference server. After every step the test compares the exact bytes of
 * /versions, /names and every /info file, their validators, the three legacy spec lists (as sets),
 * the statuses, and the bodies of the gems and quick specs that are (or are no longer) served.
 * The full external suite runs with scripts/conformance.sh (docs/conformance.md).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync, inflateSync } from 'node:zlib';
import { readGem } from '../../src/gem/package.ts';
import { liveVersions, parseVersionsFile } from '../../src/index/compact-parse.ts';
import type { SpecTuple } from '../../src/marshal/rubygems.ts';
import { dumpQuickSpec, loadSpecTuples } from '../../src/marshal/rubygems.ts';
import { cleanEnv, describeRun, runSync } from './ruby.ts';

/** A response as the sequence reads it (the shape of Fastify's inject() result). */
export interface ConformanceResponse {
  statusCode: number;
  /** Lower-case names. */
  headers: Record<string, string | string[] | number | undefined>;
  rawPayload: Buffer;
  body: string;
}

export interface ConformanceRequest {
  method?: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  payload?: string | Buffer;
}

/** The server under test. */
export interface ConformanceTarget {
  request(r: ConformanceRequest): Promise<ConformanceResponse>;
  /** An API key with the push and yank scopes. */
  key: string;
  close(): Promise<void>;
}

/** A server over HTTP at baseUrl (no trailing slash); close() does nothing. */
export function httpTarget(baseUrl: string, key: string): ConformanceTarget {
  return {
    key,
    async request(r) {
      const res = await fetch(`${baseUrl}${r.url}`, {
        method: r.method ?? 'GET',
        headers: r.headers ?? {},
        ...(r.payload === undefined ? {} : { body: r.payload }),
      });
      const rawPayload = Buffer.from(await res.arrayBuffer());
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        headers[k] = v;
      });
      return { statusCode: res.status, headers, rawPayload, body: rawPayload.toString('utf8') };
    },
    close: async () => {},
  };
}

const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');
const sha256hex = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const sha256b64 = (b: string | Buffer) => createHash('sha256').update(b).digest('base64');

// ---- the gems ------------------------------------------------------------------------------

type GemId =
  | 'a-1.0.0'
  | 'a-0.0.1'
  | 'b-1.0.0.pre'
  | 'a-0.0.1-duplicate'
  | 'a-0.2.0'
  | 'a-0.2.0-x86-mingw32'
  | 'a-0.2.0-java'
  | 'a-0.3.0';

interface BuiltGem {
  id: GemId;
  name: string;
  version: string;
  platform: string;
  sha256: string;
  path: string;
  bytes: Buffer;
}

/** The SHA-256 of each gem as the suite's /info lines state it (the duplicate is never served). */
const SUITE_SHA256: Record<Exclude<GemId, 'a-0.0.1-duplicate'>, string> = {
  'a-1.0.0': '9bc2cb93a200173fcd556c6c674bb4cdbce9b284e5dea0be9c21ee801f38b821',
  'a-0.0.1': 'a2bee9c1c6b2ab54a19c4d4644663eda25c2326bebe0eb9f9c097a2a11fd6203',
  'b-1.0.0.pre': '4096fbca288dcf4b4cea8bbebdea5d10d6b3f4fd2ff3c13124852854d5d7d24b',
  'a-0.2.0': '6f2d3eb31a402d2be7c7d51d52e22ba9c86ca7b0641a3debfb3deadedc19301f',
  'a-0.2.0-x86-mingw32': 'd2bb53926789434de893cf0a7a872bd887440f6e4edfec15626961d5431aad8a',
  'a-0.2.0-java': '63ed6f9d68ebfea869389a9227c8c041b9ed7a0ea68dbe37ee12aaa17406c524',
  'a-0.3.0': '896df5352ce069a200e283d04bf2cbadcc5f779de5a0bb31074a406b3642a8a3',
};

const SCRIPT = fileURLToPath(new URL('../support/conformance-gems.rb', import.meta.url));

/** Runs conformance-gems.rb; throws (the test fails, never skips) when ruby is missing or fails. */
function buildGems(dir: string): Map<GemId, BuiltGem> {
  const r = runSync('ruby', [SCRIPT, dir], { env: cleanEnv(), timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(describeRun('ruby conformance-gems.rb', r));
  const manifest = JSON.parse(r.stdout) as (Omit<BuiltGem, 'path' | 'bytes'> & { file: string })[];
  const gems = new Map<GemId, BuiltGem>();
  for (const g of manifest) {
    const path = join(dir, g.file);
    gems.set(g.id, { ...g, path, bytes: readFileSync(path) });
  }
  return gems;
}

// ---- the expected index lines --------------------------------------------------------------

const INFO_LINE = {
  'a-1.0.0': `1.0.0 |checksum:${SUITE_SHA256['a-1.0.0']}\n`,
  'a-0.0.1': `0.0.1 |checksum:${SUITE_SHA256['a-0.0.1']}\n`,
  'b-1.0.0.pre': `1.0.0.pre a:< 1.0.0&>= 0.1.0|checksum:${SUITE_SHA256['b-1.0.0.pre']},ruby:>= 2.0,rubygems:>= 2.0\n`,
  'a-0.2.0': `0.2.0 |checksum:${SUITE_SHA256['a-0.2.0']}\n`,
  'a-0.2.0-x86-mingw32': `0.2.0-x86-mingw32 |checksum:${SUITE_SHA256['a-0.2.0-x86-mingw32']}\n`,
  'a-0.2.0-java': `0.2.0-java |checksum:${SUITE_SHA256['a-0.2.0-java']}\n`,
  'a-0.3.0': `0.3.0 |checksum:${SUITE_SHA256['a-0.3.0']}\n`,
};
const info = (...ids: (keyof typeof INFO_LINE)[]) => `---\n${ids.map((id) => INFO_LINE[id]).join('')}`;

/** /versions lines, with the MD5s the suite's reference server computes. */
const V = {
  a100: 'a 1.0.0 443730449deef440bd299e19554793f0\n',
  a100yank: 'a -1.0.0 6105347ebb9825ac754615ca55ff3b0c\n',
  a001: 'a 0.0.1 8ffe0a0dda27362c6f916d3941a5726e\n',
  b100pre: 'b 1.0.0.pre f0d229a9323895e2e1c85f496b5f10b5\n',
  a020: 'a 0.2.0 66fab29417d3142772e0f2467b92d684\n',
  a020mingw: 'a 0.2.0-x86-mingw32 fd6d38ccbc3556b4426c65fceed9c717\n',
  a020java: 'a 0.2.0-java 704774b40118bdb16676deee38a99030\n',
  a030: 'a 0.3.0 6d832e39a3fcc2e49f17db8023b3db31\n',
  a020yank: 'a -0.2.0 474751e9d427e559781d7e222b368085\n',
};
const head = (time: string) => `created_at: ${time}\n---\n`;

const tuple = (name: string, version: string, platform = 'ruby'): SpecTuple => ({ name, version, platform });

interface Expected {
  versions: string;
  names: string;
  /** null: /info/NAME is 404. */
  info: { a: string | null; b: string | null };
  specs: SpecTuple[];
  latest: SpecTuple[];
  prerelease: SpecTuple[];
  /** Gems whose .gem and quick spec are served. */
  served: GemId[];
  /** Gems pushed once and yanked since: neither the .gem nor the quick spec is served. */
  yanked: GemId[];
}

// ---- HTTP helpers --------------------------------------------------------------------------

const TEXT = 'text/plain; charset=utf-8';
const OCTET = 'application/octet-stream';

async function setTime(h: ConformanceTarget, iso: string): Promise<void> {
  const r = await h.request({
    method: 'POST',
    url: '/set_time',
    headers: { 'content-type': 'text/plain' },
    payload: iso,
  });
  assert.equal(r.statusCode, 200, `POST /set_time ${iso}: ${r.body}`);
}

async function rebuildVersionsList(h: ConformanceTarget): Promise<void> {
  const r = await h.request({ method: 'POST', url: '/rebuild_versions_list' });
  assert.equal(r.statusCode, 200, `POST /rebuild_versions_list: ${r.body}`);
}

const get = (h: ConformanceTarget, url: string) => h.request({ url });

const push = (h: ConformanceTarget, body: Buffer) =>
  h.request({
    method: 'POST',
    url: '/api/v1/gems',
    headers: { authorization: h.key, 'content-type': 'application/octet-stream' },
    payload: body,
  });

const yank = (h: ConformanceTarget, form: string) =>
  h.request({
    method: 'DELETE',
    url: '/api/v1/gems/yank',
    headers: { authorization: h.key, 'content-type': 'application/x-www-form-urlencoded' },
    payload: form,
  });

/** GET a compact index file, check status and every validator; returns the body. */
async function compact(h: ConformanceTarget, url: string): Promise<string> {
  const r = await get(h, url);
  assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
  const body = r.rawPayload;
  assert.equal(r.headers['content-type'], TEXT, `${url} content-type`);
  assert.equal(r.headers['accept-ranges'], 'bytes', `${url} accept-ranges`);
  assert.equal(r.headers.etag, `"${md5(body)}"`, `${url} etag`);
  assert.equal(r.headers['repr-digest'], `sha-256=:${sha256b64(body)}:`, `${url} repr-digest`);
  assert.equal(r.headers.digest, `sha-256=${sha256b64(body)}`, `${url} digest`);
  return body.toString('utf8');
}

const sortTuples = (ts: SpecTuple[]) =>
  [...ts].sort((x, y) =>
    `${x.name} ${x.version} ${x.platform}`.localeCompare(`${y.name} ${y.version} ${y.platform}`),
  );

async function specTuples(h: ConformanceTarget, url: string): Promise<SpecTuple[]> {
  const r = await get(h, url);
  assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
  assert.equal(r.headers['content-length'], String(r.rawPayload.length), `${url} content-length`);
  return sortTuples(loadSpecTuples(gunzipSync(r.rawPayload)));
}

// ---- the sequence --------------------------------------------------------------------------

/**
 * Declares the sequence's steps (with its before and after hooks) in the current describe(): start()
 * gives the server, and the sequence closes it at the end.
 */
export function conformanceSequence(start: () => Promise<ConformanceTarget>): void {
  let h: ConformanceTarget;
  let gemsDir: string;
  let gems: Map<GemId, BuiltGem>;
  /** The time the suite's client believes the server has; each push, yank and rebuild moves it. */
  let clock: Date;
  /** Quick spec bodies served for each gem, checked against RubyGems at the end. */
  const quickSpecs = new Map<GemId, Buffer>();

  const gem = (id: GemId): BuiltGem => {
    const g = gems.get(id);
    assert.ok(g, `conformance-gems.rb built no ${id}`);
    return g;
  };
  const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
  const advance = async (minutes: number) => {
    clock = new Date(clock.getTime() + minutes * 60_000);
    await setTime(h, iso(clock));
  };
  /**
   * Sets the clock again just before a write: a server on a real clock has moved on since the last
   * set_time (by the checks in between), and the times it records must be the suite's.
   */
  const beforeWrite = () => setTime(h, iso(clock));

  /**
   * After an accepted push or yank, the newest /versions line is that gem's, and its MD5 is the
   * MD5 of the /info file now served.
   */
  const checkNewestLine = async (name: string) => {
    const versions = (await get(h, '/versions')).body;
    const last = versions.trimEnd().split('\n').at(-1) ?? '';
    const infoBody = (await get(h, `/info/${name}`)).rawPayload;
    assert.equal(last.split(' ')[0], name, `newest /versions line ${last}`);
    assert.equal(last.split(' ')[2], md5(infoBody), `MD5 on ${last} is not the MD5 of /info/${name}`);
  };
  /** After a write: accepted, the newest line is the gem's; refused, /versions is as it was. */
  const checkOutcome = async (before: string, name: string, accepted: boolean) => {
    if (accepted) await checkNewestLine(name);
    else assert.equal((await get(h, '/versions')).body, before, 'a refused write changes /versions');
  };
  const pushGem = async (id: GemId, status: number) => {
    await beforeWrite();
    const before = (await get(h, '/versions')).body;
    const r = await push(h, gem(id).bytes);
    assert.equal(r.statusCode, status, `push ${id}: ${r.body}`);
    await checkOutcome(before, gem(id).name, status === 200);
    await advance(1);
  };
  const yankGem = async (name: string, version: string, platform: string | null, status: number) => {
    const form =
      new URLSearchParams({ gem_name: name, version }).toString() +
      (platform ? `&platform=${platform}` : '&platform');
    await beforeWrite();
    const before = (await get(h, '/versions')).body;
    const r = await yank(h, form);
    assert.equal(r.statusCode, status, `yank ${name} ${version} ${platform}: ${r.body}`);
    await checkOutcome(before, name, status === 200);
    await advance(1);
  };
  const rebuild = async () => {
    await beforeWrite();
    await rebuildVersionsList(h);
    await advance(60);
  };

  async function check(e: Expected): Promise<void> {
    const versions = await compact(h, '/versions');
    assert.equal(versions, e.versions, '/versions body');
    assert.equal(await compact(h, '/names'), e.names, '/names body');

    const infoMd5 = new Map<string, string>();
    for (const name of ['a', 'b'] as const) {
      const want = e.info[name];
      if (want === null) {
        assert.equal((await get(h, `/info/${name}`)).statusCode, 404, `/info/${name}`);
        continue;
      }
      const body = await compact(h, `/info/${name}`);
      assert.equal(body, want, `/info/${name} body`);
      infoMd5.set(name, md5(body));
    }
    // The last /versions line of each gem carries the MD5 (= ETag) of its /info file; every line
    // parses (parseVersionsFile throws on any that does not).
    const lastMd5 = new Map(
      [...liveVersions(parseVersionsFile(versions))].map(([name, { infoMd5 }]) => [name, infoMd5]),
    );
    assert.deepEqual(lastMd5, infoMd5, 'the last MD5 per gem in /versions is its /info MD5');

    assert.deepEqual(await specTuples(h, '/specs.4.8.gz'), sortTuples(e.specs), 'specs.4.8.gz');
    assert.deepEqual(
      await specTuples(h, '/latest_specs.4.8.gz'),
      sortTuples(e.latest),
      'latest_specs.4.8.gz',
    );
    assert.deepEqual(
      await specTuples(h, '/prerelease_specs.4.8.gz'),
      sortTuples(e.prerelease),
      'prerelease_specs.4.8.gz',
    );

    for (const id of e.served) {
      const g = gem(id);
      const r = await get(h, `/gems/${id}.gem`);
      assert.equal(r.statusCode, 200, `/gems/${id}.gem`);
      assert.equal(r.headers['content-type'], OCTET, `/gems/${id}.gem content-type`);
      assert.equal(r.headers['content-length'], String(g.bytes.length), `/gems/${id}.gem content-length`);
      assert.ok(r.rawPayload.equals(g.bytes), `/gems/${id}.gem is not the pushed file`);

      const q = await get(h, `/quick/Marshal.4.8/${id}.gemspec.rz`);
      assert.equal(q.statusCode, 200, `quick spec ${id}`);
      assert.equal(q.headers['content-type'], OCTET, `quick spec ${id} content-type`);
      assert.equal(
        q.headers['content-length'],
        String(q.rawPayload.length),
        `quick spec ${id} content-length`,
      );
      // The pushed gem's own spec, as Marshal.dump writes it, and the same bytes at every step.
      assert.ok(
        inflateSync(q.rawPayload).equals(dumpQuickSpec(readGem(g.bytes).spec)),
        `quick spec ${id} is not the pushed gem's spec`,
      );
      const first = quickSpecs.get(id) ?? q.rawPayload;
      quickSpecs.set(id, first);
      assert.ok(first.equals(q.rawPayload), `quick spec ${id} changed between steps`);
    }
    for (const id of e.yanked) {
      const r = await get(h, `/gems/${id}.gem`);
      assert.equal(r.statusCode, 404, `yanked /gems/${id}.gem`);
      assert.ok(!r.rawPayload.includes(gem(id).bytes), `yanked /gems/${id}.gem leaks the gem`);
      const q = await get(h, `/quick/Marshal.4.8/${id}.gemspec.rz`);
      assert.equal(q.statusCode, 404, `yanked quick spec ${id}`);
    }
    for (const url of ['/info/missing', '/gems/missing.gem', '/quick/Marshal.4.8/missing.gemspec.rz']) {
      assert.equal((await get(h, url)).statusCode, 404, url);
    }
  }

  before(async () => {
    gemsDir = mkdtempSync(join(tmpdir(), 'quarry-conformance-gems-'));
    gems = buildGems(gemsDir);
    h = await start();
    clock = new Date('1990-01-01T00:00:00Z');
    await setTime(h, '1990-01-01T00:00:00Z');
  });
  after(async () => {
    await h?.close();
    if (gemsDir) rmSync(gemsDir, { recursive: true, force: true });
  });

  it('builds the suite’s gems byte for byte', () => {
    for (const [id, sum] of Object.entries(SUITE_SHA256)) {
      const g = gem(id as GemId);
      assert.equal(
        g.sha256,
        sum,
        `${id}.gem differs from the suite's gem (it is reproduced with RubyGems 3.3.15)`,
      );
      assert.equal(sha256hex(g.bytes), sum, `${id}.gem on disk`);
    }
    const dup = gem('a-0.0.1-duplicate');
    assert.deepEqual([dup.name, dup.version, dup.platform], ['a', '0.0.1', 'ruby']);
    assert.notEqual(dup.sha256, gem('a-0.0.1').sha256);
  });

  const base = {
    names: '---\n\n',
    info: { a: null, b: null },
    specs: [],
    latest: [],
    prerelease: [],
    served: [],
    yanked: [],
  } satisfies Omit<Expected, 'versions'>;

  const v1 = head('1990-01-01T00:00:00Z');
  it('1. after rebuilding the empty versions list', async () => {
    await rebuild();
    await check({ ...base, versions: v1 });
  });

  const v2 = v1 + V.a100;
  const s2 = {
    ...base,
    versions: v2,
    names: '---\na\n',
    info: { a: info('a-1.0.0'), b: null },
    specs: [tuple('a', '1.0.0')],
    latest: [tuple('a', '1.0.0')],
    served: ['a-1.0.0'],
  } satisfies Expected;
  it('2. after the first push', async () => {
    await pushGem('a-1.0.0', 200);
    await check(s2);
  });

  const v3 = v2 + V.a100yank;
  const s3 = { ...base, versions: v3, info: { a: info(), b: null }, yanked: ['a-1.0.0'] } satisfies Expected;
  it('3. after yanking the only gem', async () => {
    await yankGem('a', '1.0.0', 'ruby', 200);
    await check(s3);
  });

  const v4 = v3 + V.a001 + V.b100pre;
  const s4 = {
    ...s3,
    versions: v4,
    names: '---\na\nb\n',
    info: { a: info('a-0.0.1'), b: info('b-1.0.0.pre') },
    specs: [tuple('a', '0.0.1')],
    latest: [tuple('a', '0.0.1')],
    prerelease: [tuple('b', '1.0.0.pre')],
    served: ['a-0.0.1', 'b-1.0.0.pre'],
  } satisfies Expected;
  it('4. after the second push (a release and a prerelease with dependencies)', async () => {
    await pushGem('a-0.0.1', 200);
    await pushGem('b-1.0.0.pre', 200);
    await check(s4);
  });

  const v5 = v4 + V.a020 + V.a020mingw + V.a020java;
  const platforms020 = [tuple('a', '0.2.0'), tuple('a', '0.2.0', 'x86-mingw32'), tuple('a', '0.2.0', 'java')];
  const s5 = {
    ...s4,
    versions: v5,
    info: { a: info('a-0.0.1', 'a-0.2.0', 'a-0.2.0-x86-mingw32', 'a-0.2.0-java'), b: s4.info.b },
    specs: [...s4.specs, ...platforms020],
    latest: platforms020,
    served: [...s4.served, 'a-0.2.0', 'a-0.2.0-x86-mingw32', 'a-0.2.0-java'],
  } satisfies Expected;
  it('5. third push: a re-push is refused, three platforms of one version are accepted', async () => {
    await pushGem('a-0.0.1-duplicate', 409);
    await pushGem('a-0.2.0', 200);
    await pushGem('a-0.2.0-x86-mingw32', 200);
    await pushGem('a-0.2.0-java', 200);
    await check(s5);
  });

  const v6 = `${head('1990-01-01T01:08:00Z')}a 0.0.1,0.2.0,0.2.0-x86-mingw32,0.2.0-java 704774b40118bdb16676deee38a99030\n${V.b100pre}`;
  it('6. after rebuilding the versions list', async () => {
    await rebuild();
    await check({ ...s5, versions: v6 });
  });

  const v7 = v6 + V.a030;
  const s7 = {
    ...s5,
    versions: v7,
    info: { a: `${s5.info.a}${INFO_LINE['a-0.3.0']}`, b: s5.info.b },
    specs: [...s5.specs, tuple('a', '0.3.0')],
    latest: [tuple('a', '0.2.0', 'x86-mingw32'), tuple('a', '0.2.0', 'java'), tuple('a', '0.3.0')],
    served: [...s5.served, 'a-0.3.0'],
  } satisfies Expected;
  it('7. after the fourth push', async () => {
    await pushGem('a-0.3.0', 200);
    await check(s7);
  });

  const v8 = v7 + V.a020yank;
  const s8 = {
    ...s7,
    versions: v8,
    info: { a: info('a-0.0.1', 'a-0.2.0-x86-mingw32', 'a-0.2.0-java', 'a-0.3.0'), b: s7.info.b },
    specs: s7.specs.filter((t) => !(t.version === '0.2.0' && t.platform === 'ruby')),
    served: s7.served.filter((id) => id !== 'a-0.2.0'),
    yanked: [...s7.yanked, 'a-0.2.0'],
  } satisfies Expected;
  it('8. after yanking one platform of a version', async () => {
    await yankGem('a', '0.2.0', 'ruby', 200);
    await check(s8);
  });

  const v9 = `${head('1990-01-01T02:10:00Z')}a 0.0.1,0.2.0-x86-mingw32,0.2.0-java,0.3.0 474751e9d427e559781d7e222b368085\n${V.b100pre}`;
  const s9 = { ...s8, versions: v9 } satisfies Expected;
  it('9. after rebuilding the versions list again', async () => {
    await rebuild();
    await check(s9);
  });

  it('10. after yanking a gem that does not exist (404, nothing changes)', async () => {
    await yankGem('missing', '1.0.0', null, 404);
    await check(s9);
  });

  it('serves each quick spec as RubyGems would write it for the pushed gem', () => {
    assert.deepEqual([...quickSpecs.keys()].sort(), Object.keys(SUITE_SHA256).sort());
    const dir = mkdtempSync(join(tmpdir(), 'quarry-conformance-quick-'));
    try {
      const pairs = [...quickSpecs].map(([id, body]) => {
        const file = join(dir, `${id}.gemspec.rz`);
        writeFileSync(file, body);
        return [id, gem(id).path, file];
      });
      writeFileSync(join(dir, 'list.json'), JSON.stringify(pairs));
      const r = runSync('ruby', [SCRIPT, '--check-quick-specs', join(dir, 'list.json')], { env: cleanEnv() });
      if (r.status !== 0) throw new Error(describeRun('ruby conformance-gems.rb --check-quick-specs', r));
      const results = JSON.parse(r.stdout) as [string, boolean, boolean][];
      assert.equal(results.length, quickSpecs.size);
      for (const [id, sameBytes, sameYaml] of results) {
        assert.ok(sameYaml, `quick spec ${id} does not load as the gem's abbreviated, sanitized spec`);
        assert.ok(sameBytes, `quick spec ${id} is not Marshal.dump of that spec, byte for byte`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
