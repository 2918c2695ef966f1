/**
 * Reads pushed .gem files on worker threads, so that a large or hostile gem (megabytes of YAML in
 * its metadata) never stalls the event loop that answers reads. Workers start on first use, stay
 * for later pushes, are replaced when one dies, and are ended by close().
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ErrorCode } from '../errors.ts';
import { QuarryError } from '../errors.ts';
import type { GemPackage } from '../gem/package.ts';
import { tsxImport } from '../util/worker-boot.ts';

export interface ReaderRequest {
  id: number;
  bytes: Uint8Array;
}

export type ReaderReply =
  | { id: number; ok: true; pkg: GemPackage }
  | { id: number; ok: false; code: ErrorCode | null; message: string };

interface Job {
  id: number;
  bytes: Uint8Array;
  resolve: (p: GemPackage) => void;
  reject: (e: unknown) => void;
}

const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(fromSource ? './gem-reader-worker.ts' : './gem-reader-worker.js', import.meta.url);

/** Each worker's heap is bounded, so a hostile gem cannot take the server's memory. */
const WORKER_HEAP_MB = 512;

function startWorker(): Worker {
  const resourceLimits = { maxOldGenerationSizeMb: WORKER_HEAP_MB };
  if (!fromSource) return new Worker(workerUrl, { resourceLimits });
  const boot = tsxImport(workerUrl);
  return new Worker(boot, { eval: true, resourceLimits });
}

export class GemReaderPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private started = 0;
  private nextId = 1;
  private closed = false;

  constructor(private readonly size = Math.max(1, Math.min(2, availableParallelism() - 1))) {}

  read(bytes: Uint8Array): Promise<GemPackage> {
    if (this.closed) return Promise.reject(new Error('the gem reader pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, bytes, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w) {
        if (this.started >= this.size) return;
        w = this.spawn();
      }
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.ref();
      w.postMessage({ id: job.id, bytes: job.bytes } satisfies ReaderRequest);
    }
  }

  private spawn(): Worker {
    const w = startWorker();
    this.started++;
    w.unref();
    w.on('message', (m: ReaderReply) => {
      const job = this.busy.get(w);
      if (!job || job.id !== m.id) return;
      this.busy.delete(w);
      w.unref();
      if (m.ok) job.resolve(m.pkg);
      else job.reject(m.code ? new QuarryError(m.code, m.message) : new Error(m.message));
      this.idle.push(w);
      this.pump();
    });
    const gone = (why: string) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      this.started--;
      job?.reject(
        new QuarryError('limit_exceeded', `the gem could not be read within the reader's limits (${why})`),
      );
      if (!this.closed) this.pump();
    };
    w.on('error', (e) => gone(e.message));
    w.on('exit', (code) => {
      if (this.busy.has(w) || this.idle.includes(w)) gone(`exit ${code}`);
    });
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error('the server is closing'));
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }
}
