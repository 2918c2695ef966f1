/** The file writer's thread (see file-writer.ts): batches of whole files in, one reply per batch out. */
import { parentPort } from 'node:worker_threads';
import { writeFileAtomicSync } from './atomic-fs.ts';
import type { WriteBatch, WriteReply } from './file-writer.ts';

/** Folders this thread made or wrote into: a write into one needs no mkdir. */
const dirs = new Set<string>();

parentPort!.on('message', (batch: WriteBatch) => {
  const replies: WriteReply[] = [];
  for (const [id, path, body] of batch) {
    try {
      writeFileAtomicSync(path, body, dirs);
      replies.push([id, null]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      replies.push([id, { code: err.code ?? null, message: err.message ?? String(e) }]);
    }
  }
  parentPort!.postMessage(replies);
});
