/**
 * Publish benchmark: `quarry publish` to an S3-compatible bucket, next to the usual static workflow,
 * `gem generate_index` followed by `aws s3 sync` of the whole folder.
 *
 *   npm run bench:publish                          sizes 1000 and 10000
 *   npm run bench:publish -- --sizes 1000          one size (comma-separated for several)
 *   npm run bench:publish -- --updates 3           one-gem rounds per size (default 3, median reported)
 *
 * For each size N it reuses (or generates) bench/.work/corpus-N (bench/gen-corpus.rb, as bench/run.ts
 * does), starts s3rver on 127.0.0.1 in this process (objects under os.tmpdir()), and times, each side
 * in its own folder and bucket:
 *   1. full: `quarry publish s3://quarry-N/repo --from DIR --endpoint URL --force-path-style`; and
 *      `gem generate_index -d DIR2` then `sync DIR2 s3://peer-N/repo` (below) on the empty bucket;
 *   2. UPDATES rounds of one new gem copied into gems/: `quarry publish` again; and
 *      `gem generate_index -d DIR2 --update` then the sync again.
 * The aws CLI is not installed, so the peer's upload is `node --import tsx bench/publish.ts sync DIR
 * s3://BUCKET/PREFIX --endpoint URL`: it lists the bucket and uploads every file that is missing, has
 * another size, or is newer than the object's Last-Modified (the rule of `aws s3 sync`), 8 requests in
 * flight like quarry publish (aws s3 sync defaults to 10). Objects and bytes uploaded are counted from
 * s3rver's own files and checked against what each tool reports. Every process started is stopped by
 * its process group id, also on failure or interrupt. Results: stdout, bench/.work/publish-results.md
 * and publish-results.json; command output: bench/.work/publish-N/logs/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, platform, release, totalmem } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { _Object } from '@aws-sdk/client-s3';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ensureGnuTime, GNU_TIME, median } from './measure.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const self = fileURLToPath(import.meta.url);
/** The uploader compiled to plain JavaScript, so it runs without tsx as `quarry` runs from dist/. */
const uploaderDir = join(work, 'publish-js');
const uploader = join(uploaderDir, 'publish.js');
const quarryBin = join(root, 'bin', 'quarry');
const PREFIX = 'repo';
const CONCURRENCY = 8;
/** s3rver accepts only this key; the SDK signs with it. */
const AWS_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
const SLOW_MS = 5 * 60_000;

/** Every file below dir: relative POSIX path -> size and mtime. */
function tree(dir: string): Map<string, { size: number; mtimeMs: number }> {
  const out = new Map<string, { size: number; mtimeMs: number }>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const s = statSync(p);
        out.set(relative(dir, p).split(sep).join('/'), { size: s.size, mtimeMs: s.mtimeMs });
      }
    }
  };
  walk(dir);
  return out;
}

// ---- The peer's uploader (child mode): what `aws s3 sync DIR s3://BUCKET/PREFIX` uploads. ----

async function syncMain(argv: string[]): Promise<void> {
  const [dir, url, flag, endpoint] = argv;
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url ?? '');
  if (!dir || !m || flag !== '--endpoint' || !endpoint)
    throw new Error('usage: sync DIR s3://BUCKET/PREFIX --endpoint URL');
  const [, bucket, prefix] = m as unknown as [string, string, string];
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const remote = new Map<string, _Object>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) remote.set(o.Key.slice(prefix.length + 1), o);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const local = tree(dir);
  const todo = [...local].filter(([rel, f]) => {
    const o = remote.get(rel);
    return !o || o.Size !== f.size || !o.LastModified || f.mtimeMs > o.LastModified.getTime();
  });
  let next = 0;
  let bytes = 0;
  const worker = async () => {
    while (next < todo.length) {
      const [rel] = todo[next++]!;
      const Body = await readFile(join(dir, rel));
      const ContentMD5 = createHash('md5').update(Body).digest('base64');
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${rel}`, Body, ContentMD5 }));
      bytes += Body.length;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  client.destroy();
  process.stdout.write(
    `${JSON.stringify({ files: local.size, listed: remote.size, uploaded: todo.map(([k]) => k), bytes })}\n`,
  );
}

// ---- Running and measuring children. ----

interface Run {
  wallMs: number;
  peakRssKiB: number;
  stdout: string;
  /** The command's stderr, without GNU time's line. */
  stderr: string;
}

/** Process groups of the children still running, killed by id on failure or interrupt. */
const live = new Set<number>();
const killLive = () => {
  for (const pgid of live) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
};
process.once('exit', killLive);

/** `/usr/bin/time -f '%e %M' CMD ARGS` in its own process group; output appended to log. */
function timed(cmd: string, args: string[], log: string): Promise<Run> {
  const env: Record<string, string> = { ...AWS_ENV };
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('QUARRY_') && !(k in env)) env[k] = v;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(GNU_TIME, ['-f', '%e %M', cmd, ...args], { cwd: root, env, detached: true });
    if (child.pid !== undefined) live.add(child.pid);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (child.pid !== undefined) live.delete(child.pid);
      const stdout = Buffer.concat(out).toString('utf8');
      const lines = Buffer.concat(err).toString('utf8').trimEnd().split('\n');
      // GNU time writes "%e %M" as the last line of its stderr, after the command has exited.
      const kib = Number(lines.pop()?.split(' ')[1]);
      const stderr = lines.join('\n');
      writeFileSync(log, `$ ${cmd} ${args.join(' ')}\n${stdout}${stderr}\n`, { flag: 'a' });
      if (code !== 0 || !Number.isFinite(kib)) {
        const tail = `${stdout}${stderr}`.slice(-3000);
        reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`));
      } else resolve({ wallMs, peakRssKiB: kib, stdout, stderr });
    });
  });
}

/** The last JSON object line a command printed. */
function jsonOf<T>(r: Run): T {
  const line = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (!line) throw new Error(`no JSON in the output:\n${(r.stdout + r.stderr).slice(-2000)}`);
  return JSON.parse(line) as T;
}

/** Objects s3rver wrote to bucket since a moment: its `KEY._S3rver_object` files, by mtime. */
function written(s3dir: string, bucket: string, sinceMs: number): { keys: string[]; bytes: number } {
  const keys: string[] = [];
  let bytes = 0;
  for (const [rel, f] of tree(join(s3dir, bucket))) {
    if (!rel.endsWith('._S3rver_object') || f.mtimeMs < sinceMs) continue;
    keys.push(rel.slice(0, -'._S3rver_object'.length));
    bytes += f.size;
  }
  return { keys: keys.sort(), bytes };
}

// ---- One corpus size. ----

export interface Side {
  wallMs: number;
  peakRssKiB: number;
  objects: number;
  bytes: number;
}
export interface PeerSide extends Side {
  index: { wallMs: number; peakRssKiB: number };
  upload: { wallMs: number; peakRssKiB: number };
}
export interface PublishSizeResult {
  gems: number;
  names: number;
  corpusMiB: number;
  full: { peer: PeerSide; quarry: Side };
  /** Medians over the rounds. */
  update: { peer: PeerSide; quarry: Side };
  updates: number;
  rounds: { peer: PeerSide[]; quarry: Side[] };
  /** Files the peer's sync re-sent in the update rounds though unchanged (Last-Modified has 1 s resolution). */
  resent: number;
  uploaderStartMs: number;
}

interface QuarryJson {
  mode: string;
  names: number;
  gems: number;
  added: number;
  uploads: unknown[];
  uploadedBytes: number;
  stateWritten: boolean;
}
interface SyncJson {
  files: number;
  uploaded: string[];
  bytes: number;
}

const gemFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.gem'))
    .sort();

function corpus(n: number): string {
  const dir = join(work, `corpus-${n}`);
  // --extra 10 as bench/run.ts asks by default, so both benchmarks share one cached corpus.
  const r = spawnSync('ruby', [join(root, 'bench', 'gen-corpus.rb'), String(n), dir, '--extra', '10'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`ruby bench/gen-corpus.rb ${n} failed`);
  if (gemFiles(join(dir, 'gems')).length !== n) throw new Error(`corpus ${dir} does not have ${n} gems`);
  return dir;
}

const medianSide = <T extends Side>(xs: T[]): Side => ({
  wallMs: median(xs.map((x) => x.wallMs)),
  peakRssKiB: median(xs.map((x) => x.peakRssKiB)),
  objects: median(xs.map((x) => x.objects)),
  bytes: median(xs.map((x) => x.bytes)),
});
const medianPeer = (xs: PeerSide[]): PeerSide => ({
  ...medianSide(xs),
  index: {
    wallMs: median(xs.map((x) => x.index.wallMs)),
    peakRssKiB: median(xs.map((x) => x.index.peakRssKiB)),
  },
  upload: {
    wallMs: median(xs.map((x) => x.upload.wallMs)),
    peakRssKiB: median(xs.map((x) => x.upload.peakRssKiB)),
  },
});

async function benchSize(n: number, updates: number, s3: S3): Promise<PublishSizeResult> {
  const say = (msg: string) => process.stderr.write(`bench:publish ${n}: ${msg}\n`);
  const source = corpus(n);
  const extra = gemFiles(join(source, 'extra')).slice(0, updates);
  if (extra.length < updates) throw new Error(`corpus ${source} has only ${extra.length} extra gems`);
  const run = join(work, `publish-${n}`);
  rmSync(run, { recursive: true, force: true });
  const peerDir = join(run, 'rubygems');
  const quarryDir = join(run, 'quarry');
  const logs = join(run, 'logs');
  for (const d of [join(peerDir, 'gems'), join(quarryDir, 'gems'), logs]) mkdirSync(d, { recursive: true });
  for (const f of gemFiles(join(source, 'gems'))) {
    copyFileSync(join(source, 'gems', f), join(peerDir, 'gems', f));
    copyFileSync(join(source, 'gems', f), join(quarryDir, 'gems', f));
  }
  const qBucket = `quarry-${n}`;
  const pBucket = `peer-${n}`;
  await s3.createBucket(qBucket);
  await s3.createBucket(pBucket);

  const quarry = async (step: string): Promise<[Side, QuarryJson]> => {
    const since = Date.now();
    const args = [quarryBin, 'publish', `s3://${qBucket}/${PREFIX}`, '--from', quarryDir];
    const r = await timed(
      process.execPath,
      [...args, '--endpoint', s3.endpoint, '--force-path-style', '--json'],
      join(logs, `${step}.log`),
    );
    const j = jsonOf<QuarryJson>(r);
    const w = written(s3.directory, qBucket, since);
    const reported = j.uploads.length + (j.stateWritten ? 1 : 0);
    if (w.keys.length !== reported)
      throw new Error(`quarry publish reported ${reported} uploads, s3rver wrote ${w.keys.length}`);
    return [{ wallMs: r.wallMs, peakRssKiB: r.peakRssKiB, objects: w.keys.length, bytes: w.bytes }, j];
  };
  const sync = (step: string) =>
    timed(
      process.execPath,
      [uploader, 'sync', peerDir, `s3://${pBucket}/${PREFIX}`, '--endpoint', s3.endpoint],
      join(logs, `${step}.log`),
    );
  const peer = async (step: string, indexArgs: string[]): Promise<[PeerSide, SyncJson]> => {
    const index = await timed(
      'gem',
      ['generate_index', '-d', peerDir, ...indexArgs],
      join(logs, `${step}.log`),
    );
    const since = Date.now();
    const upload = await sync(step);
    const j = jsonOf<SyncJson>(upload);
    const w = written(s3.directory, pBucket, since);
    if (w.keys.length !== j.uploaded.length || w.bytes !== j.bytes)
      throw new Error(`the sync reported ${j.uploaded.length} uploads, s3rver wrote ${w.keys.length}`);
    const side: PeerSide = {
      wallMs: index.wallMs + upload.wallMs,
      peakRssKiB: Math.max(index.peakRssKiB, upload.peakRssKiB),
      objects: w.keys.length,
      bytes: w.bytes,
      index: { wallMs: index.wallMs, peakRssKiB: index.peakRssKiB },
      upload: { wallMs: upload.wallMs, peakRssKiB: upload.peakRssKiB },
    };
    return [side, j];
  };

  // The uploader's fixed cost: tsx, the SDK and one empty listing.
  const emptyDir = join(run, 'empty');
  mkdirSync(emptyDir);
  const start = await timed(
    process.execPath,
    [uploader, 'sync', emptyDir, `s3://${pBucket}/nothing`, '--endpoint', s3.endpoint],
    join(logs, 'uploader-start.log'),
  );

  say('gem generate_index + sync (full)');
  const [peerFull, pj] = await peer('peer-full', []);
  if (pj.uploaded.length !== pj.files) throw new Error('the first sync did not upload every file');
  if (peerFull.wallMs > SLOW_MS)
    say(`the peer's full publish took ${(peerFull.wallMs / 60_000).toFixed(1)} min`);
  say('quarry publish (full)');
  const [quarryFull, qj] = await quarry('quarry-full');
  if (qj.mode !== 'full' || qj.gems !== n)
    throw new Error(`quarry publish: ${qj.mode} build of ${qj.gems} gems`);
  if (quarryFull.wallMs > SLOW_MS)
    say(`quarry's full publish took ${(quarryFull.wallMs / 60_000).toFixed(1)} min`);
  for (const b of [qBucket, pBucket]) {
    const gems = [...tree(join(s3.directory, b, PREFIX, 'gems')).keys()].filter((k) =>
      k.endsWith('._S3rver_object'),
    );
    if (gems.length !== n) throw new Error(`bucket ${b} holds ${gems.length} gems, not ${n}`);
  }

  const peerUpdates: PeerSide[] = [];
  const quarryUpdates: Side[] = [];
  let resent = 0;
  for (const [k, f] of extra.entries()) {
    say(`update ${k + 1}/${updates}: + ${f}`);
    const before = tree(peerDir);
    copyFileSync(join(source, 'extra', f), join(peerDir, 'gems', f));
    const [p, sj] = await peer(`peer-update-${k + 1}`, ['--update']);
    // What changed on disk (size or mtime) since the previous sync: the sync must upload all of it.
    const changed = [...tree(peerDir)].filter(([rel, s]) => {
      const old = before.get(rel);
      return !old || old.size !== s.size || old.mtimeMs !== s.mtimeMs;
    });
    const uploaded = new Set(sj.uploaded);
    const missed = changed.filter(([rel]) => !uploaded.has(rel)).map(([rel]) => rel);
    if (missed.length > 0) throw new Error(`the sync did not upload changed files: ${missed.join(', ')}`);
    resent += uploaded.size - changed.length;
    peerUpdates.push(p);
    copyFileSync(join(source, 'extra', f), join(quarryDir, 'gems', f));
    const [q, uj] = await quarry(`quarry-update-${k + 1}`);
    if (uj.mode !== 'update' || uj.added !== 1)
      throw new Error(`quarry publish after adding ${f}: ${uj.mode}, ${uj.added} added`);
    quarryUpdates.push(q);
  }
  const corpusBytes = gemFiles(join(source, 'gems')).reduce(
    (s, f) => s + statSync(join(source, 'gems', f)).size,
    0,
  );
  return {
    gems: n,
    names: qj.names,
    corpusMiB: corpusBytes / 2 ** 20,
    full: { peer: peerFull, quarry: quarryFull },
    update: { peer: medianPeer(peerUpdates), quarry: medianSide(quarryUpdates) },
    updates,
    rounds: { peer: peerUpdates, quarry: quarryUpdates },
    resent,
    uploaderStartMs: start.wallMs,
  };
}

// ---- Report. ----

const sec = (ms: number) => `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`;
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const size = (b: number) => (b >= 2 ** 20 ? mib(b / 1024) : `${(b / 1024).toFixed(1)} KiB`);
const count = (x: number) => Math.round(x).toLocaleString('en-US');
const ratio = (a: number, b: number) => {
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toPrecision(2)}×`;
};

/** One figure of every round: the value, or `min–max` when the rounds differ. */
function range(xs: readonly number[], fmt: (x: number) => string): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`;
}

function rows(r: PublishSizeResult): string[] {
  const head = `${count(r.gems)} (${count(r.names)} names, ${r.corpusMiB.toFixed(0)} MiB)`;
  const steps = [
    ['full publish', r.full, [r.full.peer], [r.full.quarry]],
    [`add 1 gem (median of ${r.updates})`, r.update, r.rounds.peer, r.rounds.quarry],
  ] as const;
  return steps.flatMap(([label, { peer: p, quarry: q }, ps, qs], i) => [
    `|${i === 0 ? ` ${head} ` : ' '}| ${label}: wall | ${sec(p.index.wallMs)} + ${sec(p.upload.wallMs)} = ${sec(p.wallMs)} | ${sec(q.wallMs)} | ${ratio(p.wallMs, q.wallMs)} |`,
    `| | ${label}: peak RSS | ${mib(p.index.peakRssKiB)} / ${mib(p.upload.peakRssKiB)} | ${mib(q.peakRssKiB)} | ${ratio(p.peakRssKiB, q.peakRssKiB)} |`,
    `| | ${label}: objects uploaded | ${range(
      ps.map((x) => x.objects),
      count,
    )} | ${range(
      qs.map((x) => x.objects),
      count,
    )} | |`,
    `| | ${label}: bytes uploaded | ${range(
      ps.map((x) => x.bytes),
      size,
    )} | ${range(
      qs.map((x) => x.bytes),
      size,
    )} | |`,
  ]);
}

function markdown(env: Record<string, string>, results: PublishSizeResult[]): string {
  const lines = [
    `Publish benchmark run ${env['date']}`,
    '',
    `- Machine: ${env['cpus']}, ${env['memory']}, ${env['os']}`,
    `- Node ${env['node']}; ${env['ruby']}; RubyGems ${env['rubygems']}; s3rver ${env['s3rver']} on 127.0.0.1 (objects in os.tmpdir()); @aws-sdk/client-s3 ${env['sdk']}`,
    `- Wall time with a monotonic clock around each process; peak RSS from GNU time (${GNU_TIME} -f '%e %M').`,
    `- quarry: \`quarry publish s3://quarry-N/${PREFIX} --from DIR --endpoint URL --force-path-style\` (${CONCURRENCY} requests in flight, its default).`,
    `- peer: \`gem generate_index -d DIR\` (\`--update\` for the added gem), then a sync emulating \`aws s3 sync DIR s3://peer-N/${PREFIX}\` with the AWS SDK, ${CONCURRENCY} requests in flight (the aws CLI defaults to 10). Peer wall = index + upload; peer peak RSS = index / upload.`,
    '',
    '| Gems | Step | `gem generate_index` + sync | `quarry publish` | peer ÷ quarry |',
    '|---|---|---:|---:|---:|',
    ...results.flatMap(rows),
    '',
  ];
  for (const r of results) {
    const slow = (['peer', 'quarry'] as const).filter((s) => r.full[s].wallMs > SLOW_MS);
    if (slow.length > 0)
      lines.push(
        `- ${count(r.gems)} gems: the full publish took more than 5 minutes on s3rver (${slow.join(', ')}).`,
      );
    lines.push(
      `- ${count(r.gems)} gems: the sync uploader's fixed cost (Node, the SDK, one empty listing) is ${sec(r.uploaderStartMs)}; it re-sent ${r.resent} unchanged file(s) over the update rounds (S3 Last-Modified has one-second resolution, as with the real aws CLI).`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function environment(): Record<string, string> {
  const cpu = cpus();
  const version = (pkg: string) =>
    (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string })
      .version;
  const out = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout.trim();
  return {
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    cpus: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    os: `${platform()} ${release()}`,
    node: process.version,
    ruby: out('ruby', ['-v']),
    rubygems: out('gem', ['--version']),
    s3rver: version('s3rver'),
    sdk: version('@aws-sdk/client-s3'),
  };
}

/** Transpiles this file and its local import to uploaderDir (ESM by the root package.json). */
async function compileUploader(): Promise<void> {
  // Loaded here, so that the uploader itself does not load the compiler.
  const { default: ts } = await import('typescript');
  mkdirSync(uploaderDir, { recursive: true });
  for (const file of ['publish.ts', 'measure.ts']) {
    const out = ts.transpileModule(readFileSync(join(dirname(self), file), 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        rewriteRelativeImportExtensions: true,
      },
    });
    writeFileSync(join(uploaderDir, file.replace(/\.ts$/, '.js')), out.outputText);
  }
}

type S3 = Awaited<ReturnType<typeof import('../test/support/s3-server.ts').startS3Server>>;

async function main(argv: string[]): Promise<void> {
  let sizes = [1000, 10000];
  let updates = 3;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i] ?? '';
    if (a === '--sizes') sizes = v.split(',').map(Number);
    else if (a === '--updates') updates = Number(v);
    else throw new Error(`unknown argument ${JSON.stringify(a)} (known: --sizes N[,N...], --updates K)`);
  }
  if (
    sizes.some((n) => !Number.isInteger(n) || n < 1) ||
    !Number.isInteger(updates) ||
    updates < 1 ||
    updates > 10
  )
    throw new Error('--sizes needs positive integers and --updates 1..10');
  if (!existsSync(join(root, 'dist', 'cli', 'main.js')))
    throw new Error('quarry is not built: run `npm run build`');
  if (!ensureGnuTime()) throw new Error(`${GNU_TIME} (GNU time) is required`);
  const env = environment();
  mkdirSync(work, { recursive: true });
  await compileUploader();
  // Loaded here: it patches s3rver (key-ordered listings, DES tokens) as the tests use it.
  const { startS3Server } = await import('../test/support/s3-server.ts');
  const results: PublishSizeResult[] = [];
  let s3: S3 | null = null;
  const stop = async () => {
    killLive();
    await s3?.close();
    s3 = null;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench:publish: ${signal}, stopping\n`);
      void stop().finally(() => process.exit(130));
    });
  }
  try {
    for (const n of sizes) {
      s3 = await startS3Server();
      results.push(await benchSize(n, updates, s3));
      await stop();
    }
  } finally {
    await stop();
  }
  const report = markdown(env, results);
  writeFileSync(join(work, 'publish-results.md'), report);
  writeFileSync(join(work, 'publish-results.json'), `${JSON.stringify({ env, results }, null, 2)}\n`);
  process.stdout.write(`\n${report}`);
  process.stderr.write('bench:publish: wrote bench/.work/publish-results.md\n');
}

const [mode, ...rest] = process.argv.slice(2);
(mode === 'sync' ? syncMain(rest) : main(process.argv.slice(2))).catch((e: unknown) => {
  killLive();
  process.stderr.write(`bench:publish: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
