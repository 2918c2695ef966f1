/**
 * Reading a folder's .gem files into parsed gems, on this thread. (Worker threads were tried: on
 * the 2-core reference machine they did not shorten a 10,000-gem build and used 170 MiB more.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isQuarryError } from '../errors.ts';
import { readGem } from '../gem/package.ts';
import type { ParsedGem } from '../index/static-plan.ts';
import { checkGemFileName } from './gem-files.ts';

/** Parses one file; errors name it. Small files: synchronous reads beat the thread pool here. */
export function parseGemFile(gemsDir: string, file: string): ParsedGem {
  try {
    const pkg = readGem(readFileSync(join(gemsDir, file)));
    checkGemFileName(file, pkg.spec);
    return { file, spec: pkg.spec, sha256: pkg.sha256 };
  } catch (e) {
    throw isQuarryError(e) ? e.about(`gems/${file}`) : e;
  }
}

export interface ParseOptions {
  onProgress?: (done: number, total: number) => void;
}

export async function parseGemFiles(
  gemsDir: string,
  files: readonly string[],
  o: ParseOptions = {},
): Promise<ParsedGem[]> {
  const out: ParsedGem[] = [];
  for (const f of files) {
    out.push(parseGemFile(gemsDir, f));
    o.onProgress?.(out.length, files.length);
  }
  return out;
}
