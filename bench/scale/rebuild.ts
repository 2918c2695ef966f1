/**
 * A full rebuild of every index file from the catalog, timed step by step, in its own process
 * (so its peak memory is its own):
 *   1. the /versions base: catalog.rebuildVersionsList() (one line per live gem, from gems.info_md5);
 *   2. /names: catalog.liveNames() and the body;
 *   3. the six legacy files (specs, latest_specs, prerelease_specs; Marshal and gzip), with the
 *      code the server uses (IndexView's legacy build);
 *   4. every /info body (infoFor, as the server builds one) from the live versions read a page at a
 *      time (catalog.liveVersionsPage, 2,000 versions a query), on one worker thread per core (at
 *      most 4), each with its own catalog connection and its share of the gem ids; a Quarry without
 *      that method asks catalog.liveVersions(name) for each name, 4 at a time, as the server does on
 *      a cache miss. Each body's MD5 is checked against its line in the new /versions base.
 *
 *   node --import tsx bench/scale/rebuild.ts CATALOG_URL DIST
 * with the code of the compiled Quarry in DIST (the one the benchmark measures).
 * Prints progress on stderr and one line of JSON on stdout.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import type { Catalog, VersionRecord } from '../../src/catalog/types.ts';

export interface RebuildResult {
  versionsBaseS: number;
  namesS: number;
  legacyS: number;
  infosS: number;
  totalS: number;
  gems: number;
  legacyBytes: number;
  infoBytes: number;
  versionsBytes: number;
  peakRssMiB: number;
  mismatches: number;
}

const say = (msg: string): boolean => process.stderr.write(`bench:scale rebuild: ${msg}\n`);

const load = (dist: string, path: string) => import(pathToFileURL(join(dist, path)).href);

async function open(url: string, dist: string): Promise<Catalog> {
  const { openCatalog } = (await load(dist, 'catalog/open.js')) as typeof import('../../src/catalog/open.ts');
  return openCatalog(url, () => new Date(), {});
}

/** The highest gem id (the bench knows the catalog's tables; Quarry's interface has no such call). */
async function maxGemId(url: string): Promise<number> {
  if (url.startsWith('sqlite:')) {
    const db = new Sqlite(url.slice('sqlite:'.length), { readonly: true });
    try {
      return Number((db.prepare('select max(id) as m from gems').get() as { m: number }).m);
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query('select max(id) as m from gems')).rows[0].m);
  } finally {
    await c.end();
  }
}

interface InfoJob {
  url: string;
  dist: string;
  /** Gems with ids in [from, to) (to null: to the end). */
  from: number;
  to: number | null;
  md5s: Map<string, string>;
}

interface InfoTally {
  gems: number;
  bytes: number;
  mismatches: number;
}

/** Every /info body of the gems in one range of ids, from liveVersionsPage. */
async function infosOfRange(job: InfoJob): Promise<InfoTally> {
  const catalog = await open(job.url, job.dist);
  const { infoFor } = (await load(
    job.dist,
    'catalog/derive.js',
  )) as typeof import('../../src/catalog/derive.ts');
  const { md5Hex } = (await load(
    job.dist,
    'index/compact.js',
  )) as typeof import('../../src/index/compact.ts');
  const tally: InfoTally = { gems: 0, bytes: 0, mismatches: 0 };
  const check = (name: string, live: VersionRecord[]) => {
    const info = infoFor(live, {});
    tally.gems++;
    tally.bytes += Buffer.byteLength(info);
    if (md5Hex(info) !== job.md5s.get(name)) tally.mismatches++;
  };
  try {
    // The first gem past the range: where this range stops (cursors are GEM_ID:VERSION_ID).
    const stop =
      job.to === null
        ? null
        : ((await catalog.liveVersionsPage(`${job.to - 1}:2147483647`, 1)).versions[0]?.name ?? null);
    let after: string | null = job.from > 1 ? `${job.from - 1}:2147483647` : null;
    let name = '';
    let group: VersionRecord[] = [];
    pages: do {
      const page = await catalog.liveVersionsPage(after, 2000);
      for (const v of page.versions) {
        if (v.name !== name) {
          if (group.length > 0) check(name, group);
          group = [];
          name = v.name;
          if (name === stop) break pages;
        }
        group.push(v);
      }
      after = page.next;
    } while (after !== null);
    if (group.length > 0 && name !== stop) check(name, group);
  } finally {
    await catalog.close();
  }
  return tally;
}

if (!isMainThread) {
  infosOfRange(workerData as InfoJob).then(
    (t) => parentPort!.postMessage(t),
    (e: unknown) => {
      throw e;
    },
  );
}

/** The ranges on worker threads (each loads this module again). */
async function infosOnThreads(url: string, dist: string, md5s: Map<string, string>): Promise<InfoTally> {
  const threads = Math.max(1, Math.min(4, cpus().length));
  const max = await maxGemId(url);
  const step = Math.ceil((max + 1) / threads);
  const tallies = await Promise.all(
    Array.from({ length: threads }, (_, k) => {
      const job: InfoJob = {
        url,
        dist,
        from: k * step + 1,
        to: k === threads - 1 ? null : (k + 1) * step + 1,
        md5s,
      };
      return new Promise<InfoTally>((resolve, reject) => {
        // Workers do not inherit tsx's loader: register it first, then load this module again.
        const self = JSON.stringify(import.meta.url);
        const boot = `import('tsx/esm/api').then((t) => { t.register(); return import(${self}); })`;
        const w = new Worker(boot, { eval: true, workerData: job });
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`an /info thread exited with code ${code}`)));
      });
    }),
  );
  return tallies.reduce((a, b) => ({
    gems: a.gems + b.gems,
    bytes: a.bytes + b.bytes,
    mismatches: a.mismatches + b.mismatches,
  }));
}

async function main(): Promise<void> {
  const [url, dist] = process.argv.slice(2);
  if (!url || !dist) throw new Error('usage: rebuild.ts CATALOG_URL DIST');
  const { infoFor } = (await load(dist, 'catalog/derive.js')) as typeof import('../../src/catalog/derive.ts');
  const { md5Hex, namesBody } = (await load(
    dist,
    'index/compact.js',
  )) as typeof import('../../src/index/compact.ts');
  const { IndexView } = (await load(
    dist,
    'services/index-view.js',
  )) as typeof import('../../src/services/index-view.ts');
  const catalog = await open(url, dist);
  const t = () => performance.now();
  try {
    let t0 = t();
    await catalog.rebuildVersionsList(new Date());
    const versionsBaseS = (t() - t0) / 1000;
    const base = await catalog.versionsBase();
    if (!base) throw new Error('no /versions base after a rebuild');
    const md5s = new Map<string, string>();
    const body = base.body;
    for (let i = body.indexOf('\n---\n') + 5; i < body.length; ) {
      const end = body.indexOf('\n', i);
      const line = body.slice(i, end);
      md5s.set(line.slice(0, line.indexOf(' ')), line.slice(line.lastIndexOf(' ') + 1));
      i = end + 1;
    }
    say(`versions base: ${versionsBaseS.toFixed(1)} s, ${md5s.size} gems`);

    t0 = t();
    const names = await catalog.liveNames();
    const namesBytes = Buffer.byteLength(namesBody(names));
    const namesS = (t() - t0) / 1000;
    say(`names: ${namesS.toFixed(1)} s (${namesBytes} bytes)`);

    t0 = t();
    const view = new IndexView(catalog, {}, () => new Date(), 0);
    let legacyBytes = 0;
    for (const f of [
      'specs.4.8',
      'specs.4.8.gz',
      'latest_specs.4.8',
      'latest_specs.4.8.gz',
      'prerelease_specs.4.8',
      'prerelease_specs.4.8.gz',
    ]) {
      const rep = await view.legacyFile(f);
      if (!rep) throw new Error(`no ${f}`);
      legacyBytes += rep.body.length;
    }
    const legacyS = (t() - t0) / 1000;
    say(`legacy lists: ${legacyS.toFixed(1)} s (${legacyBytes} bytes)`);

    t0 = t();
    let infoBytes = 0;
    let mismatches = 0;
    let done = 0;
    const check = (name: string, live: Parameters<typeof infoFor>[0]) => {
      const info = infoFor(live, {});
      infoBytes += Buffer.byteLength(info);
      if (md5Hex(info) !== md5s.get(name)) mismatches++;
      if (++done % 50_000 === 0) say(`infos: ${done}`);
    };
    if (typeof catalog.liveVersionsPage === 'function') {
      const tally = await infosOnThreads(url, dist, md5s);
      done = tally.gems;
      infoBytes = tally.bytes;
      mismatches = tally.mismatches;
    } else {
      let next = 0;
      const worker = async () => {
        while (next < names.length) {
          const name = names[next++]!;
          check(name, await catalog.liveVersions(name));
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    }
    if (done !== names.length) throw new Error(`${done} /info bodies for ${names.length} live names`);
    const infosS = (t() - t0) / 1000;
    say(`infos: ${infosS.toFixed(1)} s (${infoBytes} bytes, ${mismatches} MD5 mismatches)`);

    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    const r: RebuildResult = {
      versionsBaseS,
      namesS,
      legacyS,
      infosS,
      totalS: versionsBaseS + namesS + legacyS + infosS,
      gems: names.length,
      legacyBytes,
      infoBytes,
      versionsBytes: Buffer.byteLength(body),
      peakRssMiB: hwm ? Number(hwm[1]) / 1024 : Number.NaN,
      mismatches,
    };
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    await catalog.close();
  }
}

if (isMainThread)
  main().catch((e: unknown) => {
    process.stderr.write(`rebuild: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
