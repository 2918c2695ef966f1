/** Worker thread body for gem-parse.ts: parses its share of files and posts them back. */
import { parentPort, workerData } from 'node:worker_threads';
import { isQuarryError } from '../errors.ts';
import type { ParsedGem } from '../index/static-plan.ts';
import { parseGemFile } from './gem-parse.ts';

const { gemsDir, files } = workerData as { gemsDir: string; files: string[] };
const ok: ParsedGem[] = [];
try {
  for (const f of files) ok.push(parseGemFile(gemsDir, f, true));
  parentPort!.postMessage({ ok });
} catch (e) {
  parentPort!.postMessage({
    ok: [],
    error: isQuarryError(e)
      ? { code: e.code, message: e.message }
      : { unexpected: (e as Error).stack ?? String(e) },
  });
}
