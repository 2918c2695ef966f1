#!/usr/bin/env node
/**
 * The floor of a mirror in Node (bench:mirror): plain JavaScript run by bare `node`, doing only what
 * any mirror of a compact-index source must do, with the HTTP client Quarry uses: GET /versions,
 * GET every /info (CONCURRENCY at a time), then GET every .gem listed (CONCURRENCY at a time, over
 * keep-alive connections), check each body's SHA-256 against /info, and write it content-addressed
 * (temp file and rename, as a blob store must). No catalog, no reading of the gems, no copies of the
 * index kept.
 *
 *   node bench/mirror/floor.mjs URL OUT_DIR CONCURRENCY
 *
 * Prints one JSON line: {"gems": N, "bytes": N}.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'undici';

const [base, out, c] = process.argv.slice(2);
const concurrency = Number(c ?? 8);
const url = new URL(base.endsWith('/') ? base : `${base}/`);
const pool = new Pool(url.origin, { connections: 16, keepAliveTimeout: 30_000 });

async function get(path) {
  const r = await pool.request({ method: 'GET', path: new URL(path, url).pathname });
  const chunks = [];
  for await (const chunk of r.body) chunks.push(chunk);
  if (r.statusCode !== 200) throw new Error(`${path}: ${r.statusCode}`);
  return Buffer.concat(chunks);
}

async function each(items, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const versions = (await get('versions')).toString('utf8');
const names = [];
for (const line of versions.slice(versions.indexOf('\n---\n') + 5).split('\n')) {
  if (line !== '') names.push(line.slice(0, line.indexOf(' ')));
}
const gems = [];
await each([...new Set(names)], async (name) => {
  const info = (await get(`info/${name}`)).toString('utf8');
  for (const line of info.slice(info.indexOf('---\n') + 4).split('\n')) {
    if (line === '') continue;
    const token = line.slice(0, line.indexOf(' '));
    const sha = /checksum:([0-9a-f]{64})/.exec(line)?.[1];
    gems.push({ file: `${name}-${token}`, sha });
  }
});
const dirs = new Set();
let bytes = 0;
await each(gems, async ({ file, sha }) => {
  const body = await get(`gems/${file}.gem`);
  const got = createHash('sha256').update(body).digest('hex');
  if (got !== sha) throw new Error(`${file}: SHA-256 ${got}, /info says ${sha}`);
  const dir = join(out, got.slice(0, 2));
  if (!dirs.has(dir)) {
    await mkdir(dir, { recursive: true });
    dirs.add(dir);
  }
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, body);
  await rename(tmp, join(dir, `${got}.gem`));
  bytes += body.length;
});
await pool.close();
process.stdout.write(`${JSON.stringify({ gems: gems.length, bytes })}\n`);
