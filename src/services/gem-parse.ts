/**
 * Reading a folder's .gem files into parsed gems: on this thread for a few files, on worker
 * threads for many (parsing and quick-spec building are CPU-bound; a machine with 2 cores reads
 * ten thousand gems in about half the time).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { isQuarryError, QuarryError } from '../errors.ts';
import { readGem } from '../gem/package.ts';
import type { ParsedGem } from '../index/static-plan.ts';
import { quickSpecBody } from '../index/static-plan.ts';
import { checkGemFileName } from './gem-files.ts';

/** Below this many files, starting workers costs more than it saves. */
const WORKER_THRESHOLD = 400;

/** Parses one file; errors name it. Also builds the quick spec when asked. */
export function parseGemFile(gemsDir: string, file: string, withQuickSpec: boolean): ParsedGem {
  try {
    const pkg = readGem(readFileSync(join(gemsDir, file)));
    checkGemFileName(file, pkg.spec);
    const parsed: ParsedGem = { file, spec: pkg.spec, sha256: pkg.sha256 };
    if (withQuickSpec) parsed.quickSpec = quickSpecBody(pkg.spec);
    return parsed;
  } catch (e) {
    throw isQuarryError(e) ? e.about(`gems/${file}`) : e;
  }
}

export interface ParseOptions {
  onProgress?: (done: number, total: number) => void;
  /** Worker threads to use; default: one per CPU, none for small inputs. */
  threads?: number;
}

interface WorkerReply {
  ok: ParsedGem[];
  error?: { code: QuarryError['code']; message: string; subject?: string } | { unexpected: string };
}

const workerUrl = (): URL => new URL('./gem-parse-worker.js', import.meta.url);

function runWorker(gemsDir: string, files: string[]): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerUrl(), { workerData: { gemsDir, files } });
    w.once('message', (m: WorkerReply) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`gem parser worker exited with code ${code}`));
    });
  });
}

export async function parseGemFiles(
  gemsDir: string,
  files: readonly string[],
  o: ParseOptions = {},
): Promise<ParsedGem[]> {
  // Workers load the compiled module; run from TypeScript sources (tests), parse on this thread.
  const compiled = !import.meta.url.endsWith('.ts');
  const threads =
    o.threads ?? (compiled && files.length >= WORKER_THRESHOLD ? Math.min(availableParallelism(), 8) : 0);
  if (threads <= 1) {
    const out: ParsedGem[] = [];
    for (const f of files) {
      out.push(parseGemFile(gemsDir, f, false));
      o.onProgress?.(out.length, files.length);
    }
    return out;
  }
  // Interleave so each worker gets a similar mix of sizes; results keep the input order.
  const chunks: string[][] = Array.from({ length: threads }, () => []);
  for (let i = 0; i < files.length; i++) chunks[i % threads]!.push(files[i]!);
  o.onProgress?.(0, files.length);
  const replies = await Promise.all(chunks.map((c) => runWorker(gemsDir, c)));
  for (const r of replies) {
    if (!r.error) continue;
    if ('unexpected' in r.error) throw new Error(r.error.unexpected);
    throw new QuarryError(r.error.code, r.error.message);
  }
  const byFile = new Map<string, ParsedGem>();
  for (const r of replies)
    for (const g of r.ok)
      byFile.set(g.file, {
        ...g,
        quickSpec: g.quickSpec ? Buffer.from(g.quickSpec) : undefined,
      } as ParsedGem);
  o.onProgress?.(files.length, files.length);
  return files.map((f) => byFile.get(f)!);
}
