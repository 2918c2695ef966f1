/**
 * The six legacy index files (specs, latest_specs and prerelease_specs, Marshal and gzip) of a whole
 * catalog, built off the event loop for IndexView: the catalog's live tuples come a page at a time
 * as text, and a worker thread (one per build, so its memory goes with it) does the CPU work.
 */
import { createHash } from 'node:crypto';
import { parentPort, Worker } from 'node:worker_threads';
import type { Catalog } from '../catalog/types.ts';
import { md5Hex } from '../index/compact.ts';
import type { SpecTuple } from '../index/legacy.ts';
import { legacyFiles, legacyLists } from '../index/legacy.ts';
import { byteCompare, compareWithinGem } from '../index/order.ts';
import { tsxImport } from '../util/worker-boot.ts';

/** Live tuples per catalog query. */
const LEGACY_PAGE = 5000;

/** Yields to the event loop (I/O and timers), between steps of a long job on the main thread. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A legacy file as the worker thread hands it back: bytes and digests. */
export interface BuiltFile {
  path: string;
  body: Buffer;
  md5: string;
  sha256: string;
}

type ToWorker = { kind: 'page'; text: string } | { kind: 'end' };
type FromWorker =
  | { kind: 'files'; files: { path: string; body: Uint8Array; md5: string; sha256: string }[] }
  | { kind: 'failed'; message: string };

// From the TypeScript sources (tests) the worker registers tsx first; the built dist/ needs nothing.
const fromSource = import.meta.url.endsWith('.ts');

function startLegacyWorker(): Worker {
  const self = JSON.stringify(import.meta.url);
  const load = fromSource ? tsxImport(import.meta.url) : `import(${self})`;
  // A heap limit, so that the thread collects as it goes instead of growing (its live set at
  // 1.3 million entries is about 150 MB).
  return new Worker(`${load}.then((m) => m.legacyWorkerMain())`, {
    eval: true,
    resourceLimits: { maxOldGenerationSizeMb: 512 },
  });
}

/**
 * The six legacy files from the catalog. The event loop only runs the page queries (LEGACY_PAGE
 * tuples each, joined into one string by the database) and passes each page on; a worker thread
 * (one per build, so its memory goes with it) groups the tuples by name, sorts them, writes the
 * Marshal dumps, gzips and digests them.
 */
export async function buildLegacyFiles(catalog: Catalog): Promise<BuiltFile[]> {
  const worker = startLegacyWorker();
  const done = new Promise<BuiltFile[]>((resolve, reject) => {
    worker.once('message', (m: FromWorker) => {
      if (m.kind === 'failed') reject(new Error(`legacy lists: ${m.message}`));
      else
        resolve(
          m.files.map((f) => ({
            path: f.path,
            body: Buffer.from(f.body.buffer, f.body.byteOffset, f.body.byteLength),
            md5: f.md5,
            sha256: f.sha256,
          })),
        );
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the legacy lists thread exited with code ${code}`)));
  });
  done.catch(() => {}); // awaited below; a page query failing first must not leave it unhandled
  try {
    let after: string | null = null;
    do {
      const page = await catalog.liveTuplesText(after, LEGACY_PAGE);
      // With SQLite a query runs synchronously and its promise is already settled: without this,
      // every page would run in one chain of microtasks and hold the event loop for seconds.
      await yieldToLoop();
      worker.postMessage({ kind: 'page', text: page.text } satisfies ToWorker);
      after = page.next;
    } while (after !== null);
    worker.postMessage({ kind: 'end' } satisfies ToWorker);
    return await done;
  } finally {
    void worker.terminate();
  }
}

/** The pure part: pages of `name\tnumber\tplatform` lines in, the six files with digests out. */
export function legacyFilesFromPages(pages: readonly string[]): BuiltFile[] {
  // Pages come by gem (catalog.liveTuplesText): a gem's tuples are one run of lines, which may go
  // on into the next page. One group and one name string per run.
  const groups: SpecTuple[][] = [];
  let group: SpecTuple[] = [];
  let name = '';
  let count = 0;
  for (const text of pages) {
    let i = 0;
    while (i < text.length) {
      const a = text.indexOf('\t', i);
      const b = text.indexOf('\t', a + 1);
      const end = text.indexOf('\n', b + 1);
      if (a - i !== name.length || !text.startsWith(name, i)) {
        name = text.slice(i, a);
        group = [];
        groups.push(group);
      }
      const platform = text.slice(b + 1, end);
      group.push({ name, version: text.slice(a + 1, b), platform: platform === 'ruby' ? 'ruby' : platform });
      count++;
      i = end + 1;
    }
  }
  // Index order: names by bytes, each gem's few versions sorted (far cheaper than one big sort).
  groups.sort((x, y) => byteCompare(x[0]!.name, y[0]!.name));
  const sorted = new Array<SpecTuple>(count);
  let k = 0;
  for (const g of groups) {
    if (g.length > 1) g.sort(compareWithinGem);
    for (const t of g) sorted[k++] = t;
  }
  return legacyFiles(legacyLists(sorted, { sorted: true })).map((f) => ({
    path: f.path,
    body: f.body,
    md5: md5Hex(f.body),
    sha256: createHash('sha256').update(f.body).digest('base64'),
  }));
}

/** The worker thread's entry point (see startLegacyWorker). */
export function legacyWorkerMain(): void {
  const port = parentPort;
  if (!port) throw new Error('legacyWorkerMain runs on a worker thread');
  const pages: string[] = [];
  port.on('message', (m: ToWorker) => {
    if (m.kind === 'page') {
      pages.push(m.text);
      return;
    }
    try {
      const files = legacyFilesFromPages(pages).map((f) => ({ ...f, body: new Uint8Array(f.body) }));
      pages.length = 0;
      const reply: FromWorker = { kind: 'files', files };
      port.postMessage(
        reply,
        files.map((f) => f.body.buffer as ArrayBuffer),
      );
    } catch (e) {
      port.postMessage({ kind: 'failed', message: (e as Error).message } satisfies FromWorker);
    }
  });
}
