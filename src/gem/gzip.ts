/**
 * Bounded gunzip for the small compressed entries of a `.gem`. Pure: no IO.
 * Decompression stops as soon as the output passes its cap, so a gzip bomb costs at most the cap
 * in memory and time.
 */
import { gunzipSync } from 'node:zlib';
import { QuarryError } from '../errors.ts';

export interface GunzipLimits {
  /** Hard cap on the output size in bytes. */
  maxOutput: number;
  /** Highest output/input ratio accepted for outputs larger than `graceSize`. */
  maxRatio: number;
  /** Outputs up to this size are never refused for their ratio. */
  graceSize: number;
}

/** True when `data` starts with the gzip magic bytes 1f 8b. */
export const isGzip = (data: Buffer): boolean => data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;

const MiB = 1024 * 1024;
const size = (n: number): string => (n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`);

/**
 * Decompress the gzip stream `data` (named `what` in errors). Throws invalid_gem for data that is
 * not gzip or is corrupt or truncated, and limit_exceeded when the output passes a limit.
 */
export function gunzipBounded(data: Buffer, what: string, limits: GunzipLimits): Buffer {
  if (!isGzip(data)) throw new QuarryError('invalid_gem', `${what} is not gzip data`);
  const byRatio = Math.max(limits.graceSize, data.length * limits.maxRatio);
  const cap = Math.min(limits.maxOutput, byRatio);
  try {
    return gunzipSync(data, { maxOutputLength: Math.max(cap, 1) });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      const message =
        cap === limits.maxOutput
          ? `${what} decompresses to more than ${size(limits.maxOutput)}`
          : `${what} expands more than ${limits.maxRatio} times (${data.length} compressed bytes)`;
      throw new QuarryError('limit_exceeded', message);
    }
    const reason = e instanceof Error ? e.message : String(e);
    throw new QuarryError('invalid_gem', `${what} is corrupt gzip data (${reason})`, { cause: e });
  }
}
