/**
 * Reading a folder's .gem files: into parsed gems (for callers that need the specs), or straight
 * into indexed files with their quick specs written (the full `quarry index` build), on worker
 * threads when there are enough files to pay for them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { isQuarryError, QuarryError } from '../errors.ts';
import { DEFAULT_GEM_LIMITS } from '../gem/limits.ts';
import { readGem } from '../gem/package.ts';
import type { InfoOptions } from '../index/compact.ts';
import type { IndexedFile, ParsedGem } from '../index/static-plan.ts';
import { indexedFile, quickSpecBody, quickSpecPath } from '../index/static-plan.ts';
import { readRegularFile } from '../util/regular-file.ts';
import { tsxImport } from '../util/worker-boot.ts';
import { checkGemFileName } from './gem-files.ts';

/**
 * Parses one file; errors name it. Small files: synchronous reads beat the thread pool here. A
 * directory, FIFO or device named *.gem is refused without reading (a FIFO would block forever).
 */
export function parseGemFile(gemsDir: string, file: string): ParsedGem {
  try {
    const pkg = readGem(readRegularFile(join(gemsDir, file), DEFAULT_GEM_LIMITS.maxGemSize));
    checkGemFileName(file, pkg.spec);
    return { file, spec: pkg.spec, sha256: pkg.sha256 };
  } catch (e) {
    throw isQuarryError(e) ? e.about(`gems/${file}`) : e;
  }
}

export interface ParseOptions {
  onProgress?: (done: number, total: number) => void;
}

export async function parseGemFiles(
  gemsDir: string,
  files: readonly string[],
  o: ParseOptions = {},
): Promise<ParsedGem[]> {
  const out: ParsedGem[] = [];
  for (const f of files) {
    out.push(parseGemFile(gemsDir, f));
    o.onProgress?.(out.length, files.length);
  }
  return out;
}

/** What a build writes while it reads: quick specs go to `outDir` (a staging folder). */
export interface IndexJob {
  gemsDir: string;
  outDir: string;
  info: InfoOptions;
}

/** Parses one file, writes its quick spec under job.outDir, and returns its indexed form. */
export function indexGemFile(job: IndexJob, file: string): IndexedFile {
  const g = parseGemFile(job.gemsDir, file);
  writeFileSync(join(job.outDir, quickSpecPath(g.spec)), quickSpecBody(g.spec));
  return indexedFile(g, job.info);
}

/** Below this many files one thread is faster: a worker takes tens of milliseconds to start. */
export const WORKER_THRESHOLD = 2000;

export interface IndexFilesOptions extends ParseOptions {
  /** Threads to use; default: the machine's parallelism (one thread below WORKER_THRESHOLD files). */
  threads?: number;
}

/** A failure on a worker, as it crosses the thread boundary. */
export interface WorkerFailure {
  at: number;
  code: string | null;
  message: string;
}

export type WorkerMessage =
  | { kind: 'progress'; done: number }
  | { kind: 'done'; files: IndexedFile[] }
  | { kind: 'failed'; failure: WorkerFailure; files: IndexedFile[] };

// From the TypeScript sources (tests) the worker registers tsx first; the built dist/ needs nothing.
const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(fromSource ? './gem-parse-worker.ts' : './gem-parse-worker.js', import.meta.url);

function startWorker(workerData: unknown): Worker {
  if (!fromSource) return new Worker(workerUrl, { workerData });
  const boot = tsxImport(workerUrl);
  return new Worker(boot, { eval: true, workerData });
}

function runWorker(
  job: IndexJob,
  files: readonly string[],
  onProgress: (done: number) => void,
): Promise<{ files: IndexedFile[]; failure?: WorkerFailure }> {
  return new Promise((resolve, reject) => {
    const w = startWorker({ job, files });
    let settled = false;
    w.on('message', (m: WorkerMessage) => {
      if (m.kind === 'progress') onProgress(m.done);
      else {
        settled = true;
        resolve(m.kind === 'done' ? { files: m.files } : { files: m.files, failure: m.failure });
      }
    });
    w.on('error', (e) => {
      settled = true;
      reject(e);
    });
    w.on('exit', (code) => {
      if (!settled) reject(new Error(`gem reader thread exited with code ${code}`));
    });
  });
}

/**
 * Indexes `files` (sorted names under job.gemsDir), writing each quick spec under job.outDir
 * (which must have quick/Marshal.4.8). Results keep the input order. On bad input it throws the
 * error of the first bad file in that order, as a single thread would.
 */
export async function indexGemFiles(
  job: IndexJob,
  files: readonly string[],
  o: IndexFilesOptions = {},
): Promise<IndexedFile[]> {
  mkdirSync(join(job.outDir, 'quick', 'Marshal.4.8'), { recursive: true });
  const threads = Math.max(
    1,
    Math.min(o.threads ?? (files.length >= WORKER_THRESHOLD ? availableParallelism() : 1), 16),
  );
  if (threads === 1) {
    const out: IndexedFile[] = [];
    for (const f of files) {
      out.push(indexGemFile(job, f));
      o.onProgress?.(out.length, files.length);
    }
    return out;
  }
  // Contiguous chunks: the first failure of the first failing chunk is the first in file order.
  const size = Math.ceil(files.length / threads);
  const chunks = Array.from({ length: threads }, (_, i) => files.slice(i * size, (i + 1) * size));
  const done = new Array<number>(threads).fill(0);
  const results = await Promise.all(
    chunks.map((chunk, i) =>
      runWorker(job, chunk, (n) => {
        done[i] = n;
        o.onProgress?.(
          done.reduce((a, b) => a + b, 0),
          files.length,
        );
      }),
    ),
  );
  for (const r of results) {
    if (r.failure) {
      const { code, message } = r.failure;
      throw code ? new QuarryError(code as never, message) : new Error(message);
    }
  }
  return results.flatMap((r) => r.files);
}
