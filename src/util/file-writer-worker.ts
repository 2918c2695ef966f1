/** The file writer's thread (see file-writer.ts): batches of whole files in, one reply per batch out. */
import { parentPort } from 'node:worker_threads';
import { writeFileAtomicSync } from './atomic-fs.ts';
import type { WriteBatch, WriteReply } from './file-writer.ts';

/** Folders this thread made or wrote into: a write into one needs no mkdir. */
const dirs = new Set<string>();

parentPort!.on('message', (batch: WriteBatch) => {
  const replies: WriteReply[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const [id, path, body] of batch) {
    buffers.push(body.buffer as ArrayBuffer);
    try {
      writeFileAtomicSync(path, body, dirs);
      replies.push([id, null]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      replies.push([id, { code: err.code ?? null, message: err.message ?? String(e) }]);
    }
  }
  // The bytes go back with the replies, to be freed by the event loop's thread, whose collections
  // run often: this thread allocates almost nothing, so dead buffers here would wait for V8's
  // external-memory limit (64 MB) before a collection freed them.
  parentPort!.postMessage(replies, buffers);
});
