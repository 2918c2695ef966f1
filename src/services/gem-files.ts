/** Rules that tie a .gem file name to the gem inside it. */
import { QuarryError } from '../errors.ts';
import { gemFileName } from '../gem/name.ts';
import { normalizePlatform } from '../gem/platform.ts';
import type { GemSpec } from '../gem/spec.ts';

/**
 * Clients download `/gems/<spec.file_name>`, which uses the normalized platform; the original
 * platform name is accepted too. Any other file name would publish an index entry nobody can fetch.
 */
export function checkGemFileName(file: string, spec: Pick<GemSpec, 'name' | 'version' | 'platform'>): void {
  const normalized = gemFileName(spec.name, spec.version, normalizePlatform(spec.platform));
  const original = gemFileName(spec.name, spec.version, spec.platform);
  if (file !== normalized && file !== original) {
    throw new QuarryError(
      'invalid_gem',
      `file name does not match the gem inside it: expected ${normalized}`,
    );
  }
}
