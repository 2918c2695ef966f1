/**
 * `quarry mirror --all` from a source the size of the public RubyGems index: issue 12's "peak
 * memory under 200 MiB, whatever the source size", measured where it matters (bench:mirror's
 * upstreams stop at 20,003 gems).
 *
 * The upstream is synthetic, served by this process on 127.0.0.1 (node:http, keep-alive): N names
 * (default 190,000) listing K versions each (default 7: about the public index's 1.3 million), so
 * that /versions and /info are as large as the public ones; the newest version of each is a real
 * package built by test/support/make-gem.ts on request (deterministic bytes; their SHA-256s are
 * computed once and cached in bench/.work/mirror/), and the mirror takes it (--all --latest 1).
 * It answers /versions (with ETag, If-None-Match and Range, as the mirror's re-run asks), /info/NAME
 * and /gems/FILE.gem. Then:
 *   1. `quarry mirror --all --latest 1` into a new data folder: wall time, gems/s, peak RSS (VmHWM, polled);
 *   2. the same command again, with nothing new (the re-run reads the catalog's names).
 *
 *   npm run bench:mirror-scale [-- --names 190000 --concurrency 8 --keep]
 *
 * Prints a Markdown report and writes it to bench/.work/mirror-scale-results.md.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeGem } from '../test/support/make-gem.ts';
import { ensureBuilt } from '../test/support/quarry.ts';
import { quarryEnv } from './server/env.ts';
import { runWithPeak } from './server/peak.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', '.work');
const quarryBin = join(root, 'bin', 'quarry');
const say = (msg: string): boolean => process.stderr.write(`bench:mirror-scale: ${msg}\n`);

interface Options {
  names: number;
  /** Versions listed per name; the newest is a real package, the others only lines of the index. */
  versions: number;
  concurrency: number;
  keep: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { names: 190_000, versions: 7, concurrency: 8, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const int = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a whole number above 0, not ${argv[i]}`);
      return v;
    };
    if (a === '--names') o.names = int();
    else if (a === '--versions') o.versions = int();
    else if (a === '--concurrency') o.concurrency = int();
    else if (a === '--keep') o.keep = true;
    else if (a === '--help') {
      process.stdout.write(
        'npm run bench:mirror-scale [-- OPTIONS]\n\n' +
          '  --names N        names in the synthetic upstream (default 190000)\n' +
          '  --versions K     versions listed per name, the newest a real package (default 7, as the public index has)\n' +
          '  --concurrency C  quarry mirror --concurrency (default 8)\n' +
          '  --keep           keep the temporary folder\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  return o;
}

/** The newest version of every name: each name's one real package. */
const MIRROR_ARGS = ['--all', '--latest', '1'];

const nameOf = (i: number): string => `sg-${String(i).padStart(6, '0')}`;
const gemOf = (i: number): Buffer =>
  makeGem({ name: nameOf(i), version: '1.0.0', summary: `Synthetic gem ${i}` });
/** The older versions a name lists (0.1.0, 0.2.0…), before its newest, 1.0.0. */
const olderOf = (k: number): string[] => Array.from({ length: k - 1 }, (_, v) => `0.${v + 1}.0`);
/**
 * A name's /info: its older versions (their checksums stand for packages the mirror, taking the
 * newest only, never asks for), then 1.0.0, the real package.
 */
function infoOf(name: string, k: number, sha: string): Buffer {
  let text = '---\n';
  for (const v of olderOf(k))
    text += `${v} |checksum:${createHash('sha256').update(`${name}-${v}`).digest('hex')}\n`;
  return Buffer.from(`${text}1.0.0 |checksum:${sha}\n`);
}
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

/** The SHA-256 of every synthetic gem, built once and cached (32 bytes each). */
export function checksums(n: number): Buffer {
  const file = join(work, 'mirror', `synthetic-${n}.sha256`);
  if (existsSync(file)) {
    const cached = readFileSync(file);
    if (cached.length === n * 32) return cached;
  }
  say(`building ${n.toLocaleString('en')} gems once for their checksums`);
  const out = Buffer.alloc(n * 32);
  for (let i = 0; i < n; i++)
    createHash('sha256')
      .update(gemOf(i))
      .digest()
      .copy(out, i * 32);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, out);
  return out;
}

export interface Upstream {
  url: string;
  versionsBytes: number;
  requests: { versions: number; info: number; gems: number };
  close(): Promise<void>;
}

export async function startUpstream(n: number, k: number, shas: Buffer): Promise<Upstream> {
  const sha = (i: number): string => shas.toString('hex', i * 32, i * 32 + 32);
  let text = `created_at: 2026-01-01T00:00:00Z\n---\n`;
  const list = [...olderOf(k), '1.0.0'].join(',');
  for (let i = 0; i < n; i++) text += `${nameOf(i)} ${list} ${md5(infoOf(nameOf(i), k, sha(i)))}\n`;
  const versions = Buffer.from(text);
  const etag = `"${md5(versions)}"`;
  const requests = { versions: 0, info: 0, gems: 0 };
  const indexOf = (name: string): number => {
    const m = /^sg-(\d{6})$/.exec(name);
    const i = m ? Number(m[1]) : -1;
    return i >= 0 && i < n ? i : -1;
  };
  const send = (res: ServerResponse, status: number, body: Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-length': String(body.length), ...headers });
    res.end(body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/versions') {
      requests.versions++;
      if (req.headers['if-none-match'] === etag) return send(res, 304, Buffer.alloc(0), { etag });
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range && Number(range[1]) < versions.length) {
        const from = Number(range[1]);
        return send(res, 206, versions.subarray(from), {
          etag,
          'content-range': `bytes ${from}-${versions.length - 1}/${versions.length}`,
        });
      }
      return send(res, 200, versions, { etag });
    }
    if (path.startsWith('/info/')) {
      requests.info++;
      const i = indexOf(path.slice(6));
      if (i < 0) return send(res, 404, Buffer.from('not found\n'));
      const body = infoOf(nameOf(i), k, sha(i));
      return send(res, 200, body, { etag: `"${md5(body)}"` });
    }
    const gem = /^\/gems\/(sg-\d{6})-1\.0\.0\.gem$/.exec(path);
    if (gem) {
      requests.gems++;
      const i = indexOf(gem[1]!);
      if (i >= 0) return send(res, 200, gemOf(i));
    }
    send(res, 404, Buffer.from('not found\n'));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('the synthetic upstream did not listen');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    versionsBytes: versions.length,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Run {
  seconds: number;
  peakMiB: number;
  foreign: number;
  code: number | null;
  tail: string;
}

async function mirrorRun(url: string, data: string, concurrency: number): Promise<Run> {
  const env = quarryEnv();
  const args = [quarryBin, 'mirror', ...MIRROR_ARGS, '--upstream', url, '--data', data];
  const r = await runWithPeak(process.execPath, [...args, '--concurrency', String(concurrency)], env, {
    pollMs: 50,
    onStderr: (c) => {
      const last = c.trim().split('\n').at(-1);
      if (last) say(`  ${last}`);
    },
  });
  const tail = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-3).join('\n');
  return { seconds: r.seconds, peakMiB: r.peakMiB, foreign: r.foreign, code: r.code, tail };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  ensureBuilt();
  const t0 = performance.now();
  const shas = checksums(o.names);
  const up = await startUpstream(o.names, o.versions, shas);
  const tmp = mkdtempSync(join(tmpdir(), 'quarry-bench-mirror-scale-'));
  const data = join(tmp, 'data');
  try {
    say(`mirroring ${o.names.toLocaleString('en')} gems from ${up.url}, concurrency ${o.concurrency}`);
    const first = await mirrorRun(up.url, data, o.concurrency);
    if (first.code !== 0) throw new Error(`quarry mirror exited ${first.code}:\n${first.tail}`);
    const fetched = { ...up.requests };
    if (fetched.gems !== o.names)
      throw new Error(`expected ${o.names} .gem requests, the upstream saw ${fetched.gems}`);
    say('again, with nothing new');
    const again = await mirrorRun(up.url, data, o.concurrency);
    if (again.code !== 0) throw new Error(`quarry mirror (re-run) exited ${again.code}:\n${again.tail}`);
    const gemsAgain = up.requests.gems - fetched.gems;
    const commit =
      spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim() ||
      '?';
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    const report = [
      `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} on ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ` +
        `${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}; Quarry ${commit}.`,
      '',
      `Synthetic upstream: ${o.names.toLocaleString('en')} names with ${o.versions} versions each in /versions and /info, ` +
        `the newest a real package (${((o.names * 4096) / 1e6).toFixed(0)} MB of .gem files); /versions of ` +
        `${(up.versionsBytes / 1e6).toFixed(1)} MB; \`quarry mirror ${MIRROR_ARGS.join(' ')} --concurrency ${o.concurrency}\`.`,
      '',
      '| run | requests (/versions, /info, .gem) | time | gems/s | peak RSS | other load |',
      '|---|---:|---:|---:|---:|---:|',
      `| first | ${fetched.versions}, ${fetched.info.toLocaleString('en')}, ${fetched.gems.toLocaleString('en')} | ${first.seconds.toFixed(1)} s | ` +
        `${Math.round(o.names / first.seconds).toLocaleString('en')} | ${first.peakMiB.toFixed(0)} MiB | ${pct(first.foreign)} |`,
      `| again, nothing new | ${up.requests.versions - fetched.versions}, ${(up.requests.info - fetched.info).toLocaleString('en')}, ${gemsAgain} | ` +
        `${again.seconds.toFixed(1)} s | — | ${again.peakMiB.toFixed(0)} MiB | ${pct(again.foreign)} |`,
      '',
      `Last lines of the first run:\n\n\`\`\`\n${first.tail}\n\`\`\``,
      '',
    ].join('\n');
    process.stdout.write(report);
    writeFileSync(join(work, 'mirror-scale-results.md'), report);
    say(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s; bench/.work/mirror-scale-results.md`);
  } finally {
    await up.close();
    if (o.keep) say(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    process.stderr.write(`bench:mirror-scale: ${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
  });
}
