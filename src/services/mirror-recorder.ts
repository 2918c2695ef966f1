/** The mirror's catalog writes: staged gems recorded a batch at a time. */
import type { GemService, PushResult, StagedGem } from './gems.ts';
import type { MirrorOptions, MirrorReport } from './mirror.ts';

/** Versions recorded per catalog transaction. */
const BATCH = 256;

/**
 * Records staged gems BATCH at a time, one catalog transaction each (a gem's blob is stored before
 * it is staged, so a row never exists without its bytes). One batch is written at a time; the
 * downloads go on meanwhile, and wait only when two batches are waiting.
 */
export class Recorder {
  private pending: { file: string; staged: StagedGem }[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly gems: GemService,
    private readonly report: MirrorReport,
    private readonly o: MirrorOptions,
  ) {}

  async add(file: string, staged: StagedGem): Promise<void> {
    this.pending.push({ file, staged });
    if (this.pending.length >= BATCH) {
      await this.writing;
      if (this.pending.length >= BATCH) this.start();
    }
  }

  private start(): void {
    const batch = this.pending;
    this.pending = [];
    this.writing = this.writing.then(async () => {
      let results: (PushResult | Error)[];
      try {
        results = await this.gems.recordStaged(batch.map((b) => b.staged));
      } catch (e) {
        results = batch.map(() => e as Error);
      }
      for (const [i, r] of results.entries()) {
        const file = batch[i]!.file;
        if (r instanceof Error) this.report.failed.push({ file, reason: r.message });
        else {
          this.report.fetched++;
          this.o.onFile?.('fetched', file);
        }
      }
    });
  }

  async flush(): Promise<void> {
    await this.writing;
    if (this.pending.length > 0) this.start();
    await this.writing;
  }
}
