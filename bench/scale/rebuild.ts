/**
 * A full rebuild of every index file from the catalog, timed step by step, in its own process
 * (so its peak memory is its own):
 *   1. the /versions base: catalog.rebuildVersionsList() (one line per live gem, from gems.info_md5);
 *   2. /names: catalog.liveNames() and the body;
 *   3. the six legacy files (specs, latest_specs, prerelease_specs; Marshal and gzip), with the
 *      code the server uses (IndexView's legacy build);
 *   4. every /info body (infoFor, as the server builds one) from the live versions read a page at a
 *      time (catalog.liveVersionsPage, 2,000 versions a query); a Quarry without that method asks
 *      catalog.liveVersions(name) for each name, 4 at a time, as the server does on a cache miss.
 *      Each body's MD5 is checked against its line in the new /versions base.
 *
 *   node --import tsx bench/scale/rebuild.ts CATALOG_URL DIST
 * with the code of the compiled Quarry in DIST (the one the benchmark measures).
 * Prints progress on stderr and one line of JSON on stdout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { VersionRecord } from '../../src/catalog/types.ts';

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

async function main(): Promise<void> {
  const [url, dist] = process.argv.slice(2);
  if (!url || !dist) throw new Error('usage: rebuild.ts CATALOG_URL DIST');
  const load = (path: string) => import(pathToFileURL(join(dist, path)).href);
  const { openCatalog } = (await load('catalog/open.js')) as typeof import('../../src/catalog/open.ts');
  const { infoFor } = (await load('catalog/derive.js')) as typeof import('../../src/catalog/derive.ts');
  const { md5Hex, namesBody } = (await load(
    'index/compact.js',
  )) as typeof import('../../src/index/compact.ts');
  const { IndexView } = (await load(
    'services/index-view.js',
  )) as typeof import('../../src/services/index-view.ts');
  const catalog = await openCatalog(url, () => new Date(), {});
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
      // A gem's versions are consecutive; a gem may go on into the next page.
      let after: string | null = null;
      let name = '';
      let group: VersionRecord[] = [];
      do {
        const page = await catalog.liveVersionsPage(after, 2000);
        for (const v of page.versions) {
          if (v.name !== name) {
            if (group.length > 0) check(name, group);
            name = v.name;
            group = [];
          }
          group.push(v);
        }
        after = page.next;
      } while (after !== null);
      if (group.length > 0) check(name, group);
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

main().catch((e: unknown) => {
  process.stderr.write(`rebuild: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
