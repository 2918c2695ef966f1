#!/usr/bin/env node
/**
 * The transport floor of a mirror in Node (bench:mirror): plain JavaScript run by bare `node`, doing
 * GETs and nothing else. It fetches the URLs listed in LIST_FILE (one a line: the same .gem URLs curl
 * fetches), CONCURRENCY at a time over keep-alive connections, and throws the bodies away: no /info,
 * no checks, no files written. Node's own http client is used: on this benchmark's upstreams it was
 * faster than undici for small bodies (0.16 s against 0.20 s for 1,003 gems).
 *
 *   node bench/mirror/get-only.mjs LIST_FILE CONCURRENCY
 *
 * Prints one JSON line: {"gems": N, "bytes": N}.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';

const [list, c] = process.argv.slice(2);
const urls = readFileSync(list, 'utf8').split('\n').filter(Boolean);
const concurrency = Number(c ?? 8);
const agent = new http.Agent({ keepAlive: true, maxSockets: Math.min(concurrency, 16) });
let bytes = 0;

const get = (url) =>
  new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
        res.on('data', (chunk) => {
          bytes += chunk.length;
        });
        res.on('end', resolve);
        res.on('error', reject);
      })
      .on('error', reject);
  });

let next = 0;
const worker = async () => {
  while (next < urls.length) await get(urls[next++]);
};
await Promise.all(Array.from({ length: concurrency }, worker));
agent.destroy();
process.stdout.write(`${JSON.stringify({ gems: urls.length, bytes })}\n`);
