/**
 * Download counts, kept off the hot read path. Each `.gem` answered with its whole body (a GET with
 * status 200) adds one to an in-memory count by file name, synchronously and without touching the
 * catalog. Every `flush_ms`, and once more when the server closes, the counts taken so far go to the
 * catalog in one write (CatalogReadModel.addDownloads: `downloads = downloads + n`, additive, so the
 * processes of `--workers N`, and the nodes sharing a catalog, each flush their own and the sums stay
 * exact).
 *
 * A flush swaps the pending counts for an empty map first, so downloads during a flush count toward
 * the next one. File names become version ids at flush time, each distinct name once (resolve: the
 * index view's cache, then the catalog). A flush that fails (the catalog unreachable, a lock timeout)
 * puts its counts back, to be added to what comes next: nothing is lost, and since the write is one
 * statement, nothing is added twice. Names the catalog does not know (gems served from an upstream
 * through the proxy, which have no catalog row) are dropped.
 */
import type { Maybe } from '../util/maybe.ts';

export interface DownloadCounterOptions {
  /** The catalog's version id of a served file name (NAME-VERSION[-PLATFORM]), or null. */
  resolve(fullName: string): Maybe<number | null>;
  /** Adds counts per version id in one write (CatalogReadModel.addDownloads). */
  addDownloads(counts: ReadonlyMap<number, number>): Promise<void>;
  /** How often pending counts are written, in milliseconds. */
  flushMs: number;
  /** Where a failed flush is reported (it is retried at the next one). */
  log?: (msg: string, detail: Record<string, unknown>) => void;
}

export class DownloadCounter {
  /** Downloads not yet written, by file name. */
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** The flush under way, if any: flushes never overlap. */
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly o: DownloadCounterOptions) {}

  /** One download of `fullName` (the file name without `.gem`). Synchronous, O(1), never throws. */
  count(fullName: string, n = 1): void {
    this.pending.set(fullName, (this.pending.get(fullName) ?? 0) + n);
  }

  /** Downloads counted but not yet written, by file name (for tests and metrics). */
  get unflushed(): ReadonlyMap<string, number> {
    return this.pending;
  }

  /** Flushes every flushMs until close(); the timer never keeps the process alive. */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      this.flush().catch(() => {});
    }, this.o.flushMs);
    this.timer.unref();
  }

  /**
   * Writes the pending counts in one catalog write. Rejects when the write fails, with the counts
   * put back for the next flush. A flush asked for while one runs waits for it, then runs its own.
   */
  flush(): Promise<void> {
    const next = (this.running ?? Promise.resolve()).catch(() => {}).then(() => this.flushOnce());
    const mine = next.finally(() => {
      if (this.running === mine) this.running = null;
    });
    this.running = mine;
    return mine;
  }

  private async flushOnce(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      const byId = new Map<number, number>();
      for (const [name, n] of batch) {
        const id = await this.o.resolve(name);
        if (id !== null) byId.set(id, (byId.get(id) ?? 0) + n);
      }
      await this.o.addDownloads(byId);
    } catch (e) {
      for (const [name, n] of batch) this.count(name, n);
      this.o.log?.('download counts not written; kept for the next flush', {
        err: e,
        files: batch.size,
      });
      throw e;
    }
  }

  /** Stops the timer and writes what is left (the server is closing: no request counts after this). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
