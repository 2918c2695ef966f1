/** A gem reader thread: indexes its share of a folder's .gem files (see indexGemFiles). */
import { parentPort, workerData } from 'node:worker_threads';
import { isQuarryError } from '../errors.ts';
import type { IndexedFile } from '../index/static-plan.ts';
import type { IndexJob, WorkerMessage } from './gem-parse.ts';
import { indexGemFile } from './gem-parse.ts';

const { job, files } = workerData as { job: IndexJob; files: string[] };
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
const out: IndexedFile[] = [];
let failed = false;
for (let i = 0; i < files.length; i++) {
  try {
    out.push(indexGemFile(job, files[i]!));
  } catch (e) {
    const code = isQuarryError(e) ? e.code : null;
    const message = e instanceof Error ? e.message : String(e);
    post({ kind: 'failed', failure: { at: i, code, message }, files: [] });
    failed = true;
    break;
  }
  if ((i + 1) % 250 === 0) post({ kind: 'progress', done: i + 1 });
}
if (!failed) post({ kind: 'done', files: out });
