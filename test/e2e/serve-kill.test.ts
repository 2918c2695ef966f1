/**
 * Fault injection: the real `quarry serve` (a child process, SQLite catalog and fs blob store in one
 * data directory) takes bursts of pushes and yanks, 16 requests in flight at a time, and is killed
 * with SIGKILL at a random moment 20–300 ms into each burst; then it is started again on the same
 * data directory and read as a client reads it. ROUNDS kills in a row.
 *
 * Every acknowledged operation (an answer 200 received) is recorded. After each restart:
 *   - every acknowledged push is served (GET /gems/FILE, 200, the pushed SHA-256) and listed in
 *     /versions and /info/NAME, unless an acknowledged yank followed it;
 *   - every acknowledged yank holds: the version is neither in /versions' live set (the tokens
 *     replayed, `-` undoing) nor in /info/NAME, and GET /gems/FILE answers 404;
 *   - for every name in /versions, its last line carries the MD5 of the /info/NAME body served, and
 *     /info/NAME lists exactly the live set replayed from /versions;
 *   - /names is exactly the set of names with a live version;
 *   - /versions is append-only: the body served after the previous restart is a prefix of this one;
 *   - every live version is one this test pushed, and it downloads with that push's SHA-256.
 * Requests in flight at the kill have an unknown outcome: neither required nor forbidden, but once a
 * restart has shown one committed (a version seen live, a yank seen holding), it must stay so.
 * Answers while the server runs are checked too: a 5xx, a 200 for a push of an acknowledged-yanked
 * version, a yank answered "does not exist" for an acknowledged push, or "already deleted" for a
 * version nobody had tried to yank, is a failure. At the end, `quarry verify` must find every
 * referenced blob intact, and every orphan blob must be the bytes of a push never seen committed.
 *
 * QUARRY_KILL_SEED replays a run's choices (the gems, the operations, the kill delays; what is in
 * flight at the kill depends on the machine); the seed is printed. QUARRY_KILL_ROUNDS changes the
 * number of kills (default 20).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeGem } from '../support/make-gem.ts';
import type { QuarryServer } from '../support/server.ts';
import { createKey, quarryAdmin, startQuarryServer } from '../support/server.ts';

const ROUNDS = Number(process.env['QUARRY_KILL_ROUNDS'] ?? 20);
const SEED = Number(process.env['QUARRY_KILL_SEED'] ?? 0x5e7e_c11);
const CONCURRENCY = 16;
/** Operations queued per burst: more than a burst can send before the latest kill. */
const OPS_PER_ROUND = 160;
/** Operations sent one at a time before each burst, on the restarted server. */
const WARMUP = 4;
const NAMES = Array.from({ length: 10 }, (_, i) => `kill-${String.fromCharCode(97 + i)}`);
const PLATFORM = 'x86_64-linux';
/** Gems not touched in the last two rounds whose download is checked after a restart (all at the end). */
const SAMPLE = 64;

/** mulberry32: small, seeded, enough to pick gems, operations and moments. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** One (name, version, platform) this test made, and what is known of it. */
interface Gem {
  name: string;
  version: string;
  platform: string;
  /** `VERSION` or `VERSION-PLATFORM`, as /versions and /info list it. */
  token: string;
  /** `NAME-TOKEN.gem`. */
  file: string;
  bytes: Buffer;
  sha256: string;
  /** The round that made it. */
  round: number;
  /** A push answered 200, or a restart showed it live. */
  pushed: boolean;
  /** A yank answered 200, or a restart showed it gone after it was known pushed. */
  yanked: boolean;
  /** Yanks sent (whatever came of them). */
  yanksSent: number;
  /** A yank was sent and its answer lost (the kill): it may have committed. */
  yankUnknown: boolean;
  /** The last round in which a request about it was sent. */
  touched: number;
}

type Op = { kind: 'push' | 'repush' | 'yank'; gem: Gem };

const gems: Gem[] = [];
const byKey = new Map<string, Gem>();
const serial = new Map<string, number>();

function newGem(round: number): Gem {
  const name = pick(NAMES);
  const n = (serial.get(name) ?? 0) + 1;
  serial.set(name, n);
  const version = `${round + 1}.${n}.0`;
  const platform = random() < 0.2 ? PLATFORM : 'ruby';
  const token = platform === 'ruby' ? version : `${version}-${platform}`;
  const bytes = makeGem({
    name,
    version,
    ...(platform === 'ruby' ? {} : { platform }),
    summary: `${name} ${token}, seed ${SEED}`,
  });
  const g: Gem = {
    name,
    version,
    platform,
    token,
    file: `${name}-${token}.gem`,
    bytes,
    sha256: sha256(bytes),
    round,
    pushed: false,
    yanked: false,
    yanksSent: 0,
    yankUnknown: false,
    touched: -1,
  };
  gems.push(g);
  byKey.set(`${name} ${token}`, g);
  return g;
}

/**
 * A round's operations, drawn before the burst: new pushes, yanks (mostly of versions known pushed,
 * some of versions pushed earlier in the same burst) and pushes again of bytes already sent.
 */
function plan(round: number): Op[] {
  const ops: Op[] = [];
  const settled = gems.filter((g) => g.pushed && !g.yanked);
  const sent = gems.filter((g) => g.touched >= 0);
  const fresh: Gem[] = [];
  for (let i = 0; i < OPS_PER_ROUND; i++) {
    const r = random();
    if (r < 0.2 && settled.length > 0) ops.push({ kind: 'yank', gem: pick(settled) });
    else if (r < 0.3 && fresh.length > 0) ops.push({ kind: 'yank', gem: pick(fresh) });
    else if (r < 0.35 && sent.length > 0) ops.push({ kind: 'repush', gem: pick(sent) });
    else if (r < 0.4 && fresh.length > 0) ops.push({ kind: 'repush', gem: pick(fresh) });
    else {
      const g = newGem(round);
      fresh.push(g);
      ops.push({ kind: 'push', gem: g });
    }
  }
  return ops;
}

interface Answer {
  /** 0: no answer (the connection failed). */
  status: number;
  body: string;
}

async function send(server: QuarryServer, key: string, op: Op): Promise<Answer> {
  const init: RequestInit =
    op.kind === 'yank'
      ? {
          method: 'DELETE',
          headers: { authorization: key, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            gem_name: op.gem.name,
            version: op.gem.version,
            ...(op.gem.platform === 'ruby' ? {} : { platform: op.gem.platform }),
          }).toString(),
        }
      : {
          method: 'POST',
          headers: { authorization: key, 'content-type': 'application/octet-stream' },
          body: op.gem.bytes,
        };
  let status = 0;
  try {
    const r = await server.fetch(op.kind === 'yank' ? '/api/v1/gems/yank' : '/api/v1/gems', init);
    // The status line is the acknowledgement: the server answers after its commit.
    status = r.status;
    return { status, body: await r.text() };
  } catch (e) {
    return { status, body: `(${(e as Error).message})` };
  }
}

interface Burst {
  sent: number;
  acked: number;
  unknown: number;
  refused: number;
  killAfterMs: number;
  problems: string[];
}

/** Runs ops CONCURRENCY at a time and SIGKILLs the server killAfterMs in; resolves once all settled. */
/** Sends one operation and records what its answer settles; answers that contradict what was settled are problems. */
async function perform(server: QuarryServer, key: string, round: number, op: Op, b: Burst): Promise<void> {
  const g = op.gem;
  // What was settled when the request was sent: an answer may only contradict that.
  const wasPushed = g.pushed;
  const wasYanked = g.yanked;
  g.touched = round;
  if (op.kind === 'yank') g.yanksSent++;
  b.sent++;
  const a = await send(server, key, op);
  const what = `${op.kind} ${g.file}`;
  if (a.status === 0) {
    if (op.kind === 'yank') g.yankUnknown = true;
    b.unknown++;
    return;
  }
  if (a.status >= 500) b.problems.push(`${what}: ${a.status} ${a.body.trim()}`);
  if (a.status === 200) {
    b.acked++;
    if (wasYanked) b.problems.push(`${what}: 200 after an acknowledged yank: ${a.body.trim()}`);
    if (op.kind === 'yank') g.yanked = true;
    g.pushed = true;
    return;
  }
  b.refused++;
  // Yanks sent before this answer arrived (other than this one) may explain a refusal.
  const otherYanks = g.yanksSent - (op.kind === 'yank' ? 1 : 0);
  if (op.kind === 'yank') {
    if (a.status === 404 && wasPushed)
      b.problems.push(`${what}: 404 for an acknowledged push: ${a.body.trim()}`);
    else if (a.status === 400 && otherYanks === 0)
      b.problems.push(`${what}: 400 for a version nobody else tried to yank: ${a.body.trim()}`);
    else if (a.status !== 404 && a.status !== 400)
      b.problems.push(`${what}: unexpected ${a.status}: ${a.body.trim()}`);
  } else if (a.status !== 409) {
    b.problems.push(`${what}: unexpected ${a.status}: ${a.body.trim()}`);
  } else if (otherYanks === 0) {
    // A push of bytes already pushed answers 200; 409 only when the version is yanked.
    b.problems.push(`${what}: 409 for a version nobody tried to yank: ${a.body.trim()}`);
  }
}

/**
 * Sends the first WARMUP ops one at a time (the server's first push starts its parser threads), then
 * the rest CONCURRENCY at a time, and SIGKILLs the server killAfterMs after that burst starts.
 * Resolves once every request has settled and the server has exited.
 */
async function burst(
  server: QuarryServer,
  key: string,
  round: number,
  ops: Op[],
  killAfterMs: number,
): Promise<Burst> {
  const b: Burst = { sent: 0, acked: 0, unknown: 0, refused: 0, killAfterMs, problems: [] };
  for (const op of ops.slice(0, WARMUP)) {
    await perform(server, key, round, op, b);
    if (b.unknown > 0) b.problems.push(`${op.kind} ${op.gem.file}: no answer before the kill`);
  }
  let killed = false;
  let next = WARMUP;
  const killer = new Promise<void>((resolve) => {
    setTimeout(() => {
      killed = true;
      server.stop('SIGKILL').then(
        () => resolve(),
        () => resolve(),
      );
    }, killAfterMs);
  });
  const worker = async () => {
    while (!killed && next < ops.length) await perform(server, key, round, ops[next++]!, b);
  };
  await Promise.all([killer, ...Array.from({ length: CONCURRENCY }, worker)]);
  return b;
}

async function get(server: QuarryServer, path: string): Promise<{ status: number; body: Buffer }> {
  const r = await server.fetch(path);
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

async function inBatches<T>(limit: number, fns: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, fns.length) }, async () => {
      while (next < fns.length) {
        const i = next++;
        out[i] = await fns[i]!();
      }
    }),
  );
  return out;
}

/** The live tokens per name, replayed from /versions, and each name's last MD5. */
function parseVersions(body: string, problems: string[]): Map<string, { live: Set<string>; md5: string }> {
  const out = new Map<string, { live: Set<string>; md5: string }>();
  const lines = body.split('\n');
  const sep = lines.indexOf('---');
  if (!/^created_at: /.test(lines[0] ?? '') || sep < 0)
    problems.push(`/versions has no header: ${body.slice(0, 80)}`);
  if (!body.endsWith('\n')) problems.push('/versions does not end with a newline');
  for (const line of lines.slice(sep + 1)) {
    if (line === '') continue;
    const parts = line.split(' ');
    if (parts.length !== 3 || !/^[0-9a-f]{32}$/.test(parts[2]!)) {
      problems.push(`malformed /versions line: ${line}`);
      continue;
    }
    const [name, tokens, sum] = parts as [string, string, string];
    const e = out.get(name) ?? { live: new Set<string>(), md5: '' };
    out.set(name, e);
    for (const t of tokens.split(',')) {
      if (t.startsWith('-')) e.live.delete(t.slice(1));
      else e.live.add(t);
    }
    e.md5 = sum;
  }
  return out;
}

/** The /versions body served after the previous restart. */
let lastVersions = '';

/** Reads the restarted server as a client does; returns what breaks the invariants. */
async function check(
  server: QuarryServer,
  round: number,
  all: boolean,
): Promise<{ problems: string[]; live: number; downloads: number }> {
  const problems: string[] = [];
  const versions = await get(server, '/versions');
  if (versions.status !== 200) return { problems: [`/versions: ${versions.status}`], live: 0, downloads: 0 };
  const text = versions.body.toString('utf8');
  const index = parseVersions(text, problems);
  // Append-only between rebuilds (and nothing here rebuilds): what a client saw stays a prefix.
  if (!text.startsWith(lastVersions)) {
    const at = [...lastVersions].findIndex((c, i) => text[i] !== c);
    problems.push(
      `/versions is not an extension of the one served after the previous restart: from byte ${at}, ` +
        `was ${JSON.stringify(lastVersions.slice(at, at + 120))}, now ${JSON.stringify(text.slice(at, at + 120))}`,
    );
  }
  lastVersions = text;

  const names = await get(server, '/names');
  const listed = names.body
    .toString('utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l !== '');
  const withLive = [...index]
    .filter(([, e]) => e.live.size > 0)
    .map(([n]) => n)
    .sort();
  if (names.status !== 200) problems.push(`/names: ${names.status}`);
  else if (JSON.stringify([...listed].sort()) !== JSON.stringify(withLive))
    problems.push(
      `/names lists ${listed.join(',')}; names with live versions in /versions: ${withLive.join(',')}`,
    );

  const infoNames = [...new Set([...index.keys(), ...gems.filter((g) => g.pushed).map((g) => g.name)])];
  const infos = await inBatches(
    CONCURRENCY,
    infoNames.map((n) => () => get(server, `/info/${n}`)),
  );
  let live = 0;
  infoNames.forEach((name, i) => {
    const info = infos[i]!;
    const e = index.get(name);
    if (!e) {
      problems.push(`${name} has acknowledged pushes but no /versions line (/info/${name}: ${info.status})`);
      return;
    }
    live += e.live.size;
    if (info.status !== 200) {
      problems.push(`/info/${name}: ${info.status} though /versions lists it`);
      return;
    }
    if (md5(info.body) !== e.md5)
      problems.push(`${name}: last /versions MD5 ${e.md5}, /info/${name} body MD5 ${md5(info.body)}`);
    const body = info.body.toString('utf8');
    if (!body.startsWith('---\n')) problems.push(`/info/${name} has no header`);
    const tokens = body
      .split('\n')
      .slice(1)
      .filter((l) => l !== '')
      .map((l) => l.split(' ')[0]!);
    const inInfo = new Set(tokens);
    if (inInfo.size !== tokens.length)
      problems.push(`/info/${name} lists a version twice: ${tokens.join(',')}`);
    const a = [...inInfo].sort().join(',');
    const b = [...e.live].sort().join(',');
    if (a !== b) problems.push(`/info/${name} lists ${a}; /versions replays to ${b}`);
    for (const t of e.live)
      if (!byKey.has(`${name} ${t}`)) problems.push(`${name} ${t} is live but was never pushed`);
  });

  // Per gem: what was acknowledged holds; what a restart showed committed becomes settled.
  const downloads: Gem[] = [];
  for (const g of gems) {
    const isLive = index.get(g.name)?.live.has(g.token) ?? false;
    if (g.yanked) {
      if (isLive) problems.push(`${g.file}: yank acknowledged, but /versions lists it live`);
      downloads.push(g);
    } else if (g.pushed) {
      if (!isLive) {
        if (g.yankUnknown)
          g.yanked = true; // the yank in flight committed
        else problems.push(`${g.file}: push acknowledged, but /versions does not list it live`);
      }
      downloads.push(g);
    } else if (isLive) {
      g.pushed = true; // the push in flight committed
      downloads.push(g);
    }
    // The server that took it is gone: a yank in flight has committed or never will.
    g.yankUnknown = false;
  }
  const recent = downloads.filter((g) => all || g.touched >= round - 1 || g.round >= round - 1);
  const rest = downloads.filter((g) => !recent.includes(g));
  for (let i = 0; i < SAMPLE && rest.length > 0; i++)
    recent.push(rest.splice(Math.floor(random() * rest.length), 1)[0]!);
  const got = await inBatches(
    CONCURRENCY,
    recent.map((g) => () => get(server, `/gems/${g.file}`)),
  );
  recent.forEach((g, i) => {
    const r = got[i]!;
    if (g.yanked) {
      if (r.status !== 404) problems.push(`${g.file}: yanked, but GET /gems/${g.file} answers ${r.status}`);
    } else if (r.status !== 200)
      problems.push(`${g.file}: pushed, but GET /gems/${g.file} answers ${r.status}`);
    else if (sha256(r.body) !== g.sha256)
      problems.push(`${g.file}: served sha256 ${sha256(r.body)}, pushed ${g.sha256}`);
  });
  return { problems, live, downloads: recent.length };
}

describe('quarry serve killed with SIGKILL during bursts of pushes and yanks', () => {
  let root: string;
  let data: string;
  let config: string;
  let key: string;
  let server: QuarryServer | null = null;
  let failed = false;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'quarry-serve-kill-'));
    data = join(root, 'data');
    config = join(root, 'quarry.yaml');
    writeFileSync(config, 'index:\n  refresh_ms: 0\n');
    key = createKey(data, ['push', 'yank'], { name: 'serve-kill', config });
  });

  after(async () => {
    server?.kill();
    if (failed) process.stdout.write(`# serve-kill: data directory kept at ${data}\n`);
    else rmSync(root, { recursive: true, force: true });
  });

  it(`survives ${ROUNDS} kills in a row on one data directory (seed ${SEED})`, {
    timeout: 300_000,
  }, async (t) => {
    t.diagnostic(`seed ${SEED} (replay: QUARRY_KILL_SEED=${SEED})`);
    const started = Date.now();
    try {
      server = await startQuarryServer({ data, config });
      for (let round = 0; round < ROUNDS; round++) {
        const ops = plan(round);
        const killAfterMs = Math.round(20 + random() * 280);
        const b = await burst(server, key, round, ops, killAfterMs);
        assert.ok(!server.running(), 'the server outlived SIGKILL');
        server = await startQuarryServer({ data, config });
        const c = await check(server, round, round === ROUNDS - 1);
        t.diagnostic(
          `round ${round + 1}: killed after ${killAfterMs} ms; ${b.sent} sent, ${b.acked} acknowledged, ` +
            `${b.refused} refused, ${b.unknown} unknown; after restart ${c.live} live versions, ${c.downloads} downloads checked`,
        );
        const problems = [...b.problems, ...c.problems];
        assert.deepEqual(problems, [], `seed ${SEED}, round ${round + 1} (kill after ${killAfterMs} ms)`);
      }

      // Quiescent: a graceful stop, then the catalog against the blob store.
      await server.stop();
      server = null;
      const report = JSON.parse(
        quarryAdmin(['verify', '--json'], { data, config }).stdout.trim().split('\n').at(-1)!,
      ) as { ok: boolean; problems: unknown[]; orphans: { key: string }[] };
      assert.equal(report.ok, true, `quarry verify: ${JSON.stringify(report.problems)}`);
      const committed = new Set(gems.filter((g) => g.pushed).map((g) => g.sha256));
      const made = new Set(gems.map((g) => g.sha256));
      for (const o of report.orphans) {
        const sha = /([0-9a-f]{64})\.gem$/.exec(o.key)?.[1] ?? '';
        assert.ok(made.has(sha), `orphan blob ${o.key} is not the bytes of any push`);
        assert.ok(!committed.has(sha), `orphan blob ${o.key} belongs to a version seen committed`);
      }
      const acked = gems.filter((g) => g.pushed).length;
      const yanked = gems.filter((g) => g.yanked).length;
      t.diagnostic(
        `${ROUNDS} kills in ${((Date.now() - started) / 1000).toFixed(1)} s: ${gems.length} gems made, ` +
          `${acked} committed, ${yanked} yanked, ${report.orphans.length} orphan blobs`,
      );
    } catch (e) {
      failed = true;
      throw e;
    }
  });
});
