/** A pushed-gem reader thread (see gem-reader-pool.ts): bytes in, the package or a QuarryError out. */
import { parentPort } from 'node:worker_threads';
import { isQuarryError } from '../errors.ts';
import { readGem } from '../gem/package.ts';
import type { ReaderReply, ReaderRequest } from './gem-reader-pool.ts';

parentPort!.on('message', (m: ReaderRequest) => {
  let reply: ReaderReply;
  try {
    const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
    reply = { id: m.id, ok: true, pkg: readGem(bytes) };
  } catch (e) {
    reply = {
      id: m.id,
      ok: false,
      code: isQuarryError(e) ? e.code : null,
      message: e instanceof Error ? e.message : String(e),
    };
  }
  parentPort!.postMessage(reply);
});
