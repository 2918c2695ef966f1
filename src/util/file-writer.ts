/**
 * Small files written whole (temp file, then rename) on one thread of their own, in batches.
 *
 * Writing through `fs/promises` costs the event loop four round trips to libuv's threadpool per
 * file (open, write, close, rename), and runs up to four creations at once in the same folders,
 * where they contend in the kernel. A mirror writes thousands of small files, and that was a fifth
 * of its main thread (docs/benchmarks.md, "Mirror"). Here the event loop posts each file once (a
 * batch per turn of the loop), and one thread writes them one after another with blocking calls.
 *
 * One writer per process, started on first use, like the threadpool it stands beside: it holds no
 * state but the folders it made, and is unreferenced while idle, so it never keeps a process alive.
 * A thread that dies fails the writes it held, and the next write starts a new one.
 */
import { Worker } from 'node:worker_threads';
import { writeFileAtomic } from './atomic-fs.ts';
import { tsxImport } from './worker-boot.ts';

/** [id, absolute path, bytes] */
export type WriteBatch = [number, string, Uint8Array][];
/** [id, null] when written, else the error's code and message. */
export type WriteReply = [number, { code: string | null; message: string } | null];

/** Larger bodies go through the threadpool (writeFileAtomic): the per-file cost is small beside them, and no copy is made. */
export const WRITER_MAX_BYTES = 1024 * 1024;

const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(
  fromSource ? './file-writer-worker.ts' : './file-writer-worker.js',
  import.meta.url,
);

/**
 * The thread allocates little but the batches it is sent: a small young generation keeps its share
 * of memory small (a mirror's peak RSS rose by 30 MiB with the defaults).
 */
const resourceLimits = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 };

function startWorker(): Worker {
  if (!fromSource) return new Worker(workerUrl, { resourceLimits });
  const boot = tsxImport(workerUrl);
  return new Worker(boot, { eval: true, resourceLimits });
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** Files sent to the thread in one message at most: its heap holds one message at a time. */
const BATCH_MAX = 1_024;

class FileWriter {
  private worker: Worker | null = null;
  /** Writes not answered yet, by id: queued here, or sent to the thread (`sent`). */
  private readonly waiting = new Map<number, Waiter>();
  /** Ids sent to the current thread and not answered: what its death fails. */
  private readonly sent = new Set<number>();
  private queue: WriteBatch = [];
  private scheduled = false;
  private nextId = 1;
  /** The last write issued to each path not settled yet: a later write to it waits for it. */
  private readonly pending = new Map<string, Promise<void>>();

  /**
   * Writes `body` to `path` atomically (a reader sees the old file, the new one, or none). Writes
   * to the same path land in the order they were issued, whichever way each one goes.
   */
  write(path: string, body: Uint8Array): Promise<void> {
    // A copy of its own for the thread, taken now: the caller keeps its bytes, and the view's whole
    // ArrayBuffer (a pool, a larger response) is not cloned. Larger bodies are written from the
    // caller's bytes, which it keeps until the write is done.
    const small = body.byteLength <= WRITER_MAX_BYTES;
    const bytes = small ? new Uint8Array(body) : body;
    const issue = () => (small ? this.post(path, bytes) : writeFileAtomic(path, bytes));
    const before = this.pending.get(path);
    const done = before ? before.then(issue, issue) : issue();
    this.pending.set(path, done);
    const settle = () => {
      if (this.pending.get(path) === done) this.pending.delete(path);
    };
    done.then(settle, settle);
    return done;
  }

  /** Queues a write for the thread; `bytes` are handed over. */
  private post(path: string, bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.set(id, { resolve, reject });
      this.queue.push([id, path, bytes]);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what is queued, BATCH_MAX files a message. */
  private flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const w = this.worker ?? this.spawn();
    w.ref();
    for (let i = 0; i < this.queue.length; i += BATCH_MAX) {
      const batch = this.queue.slice(i, i + BATCH_MAX);
      for (const [id] of batch) this.sent.add(id);
      w.postMessage(
        batch,
        batch.map(([, , bytes]) => bytes.buffer as ArrayBuffer),
      );
    }
    this.queue = [];
  }

  private spawn(): Worker {
    const w = startWorker();
    this.worker = w;
    w.on('message', (replies: WriteReply[]) => {
      for (const [id, err] of replies) {
        const waiter = this.waiting.get(id);
        this.sent.delete(id);
        if (!waiter) continue;
        this.waiting.delete(id);
        if (err === null) waiter.resolve();
        else waiter.reject(Object.assign(new Error(err.message), err.code ? { code: err.code } : {}));
      }
      if (this.waiting.size === 0) w.unref();
    });
    // The writes the thread held fail (their files may or may not be there: a retry writes them
    // again, whole); the ones still queued here go to the next thread.
    const gone = (why: string) => {
      if (this.worker !== w) return;
      this.worker = null;
      for (const id of this.sent) {
        const waiter = this.waiting.get(id);
        this.waiting.delete(id);
        waiter?.reject(new Error(`the file writer thread stopped (${why})`));
      }
      this.sent.clear();
      if (this.queue.length > 0) this.schedule();
    };
    w.on('error', (e) => gone(e.message));
    w.on('exit', (code) => gone(`exit ${code}`));
    return w;
  }
}

/** The process's writer. */
export const fileWriter = new FileWriter();
