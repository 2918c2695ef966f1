/**
 * Bounded gunzip for the small compressed entries of a `.gem`. Pure: no IO.
 *
 * - Decompression stops as soon as the output passes its cap, so a gzip bomb costs at most the cap
 *   in memory and time.
 * - Exactly one gzip member is read, with its CRC-32 and size checked. Bytes after it (a second
 *   member, or junk) are an error: Ruby's Zlib::GzipReader reads only the first member, and a
 *   reader that saw more than RubyGems sees could be shown a different gemspec.
 */
import { crc32, inflateRawSync } from 'node:zlib';
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

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/** The offset of the deflate data after the gzip header (RFC 1952). */
function deflateStart(data: Buffer, what: string): number {
  const corrupt = (why: string) => new QuarryError('invalid_gem', `${what} is corrupt gzip data (${why})`);
  if (!isGzip(data)) throw new QuarryError('invalid_gem', `${what} is not gzip data`);
  if (data.length < 18) throw corrupt('truncated header');
  if (data[2] !== 8) throw corrupt(`unknown compression method ${data[2]}`);
  const flags = data[3] ?? 0;
  if (flags & 0xe0) throw corrupt('reserved header flags set');
  let p = 10;
  if (flags & FEXTRA) p += 2 + data.readUInt16LE(p);
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const end = data.indexOf(0, p);
    if (end < 0) throw corrupt('truncated header');
    p = end + 1;
  }
  if (flags & FHCRC) p += 2;
  if (p > data.length) throw corrupt('truncated header');
  return p;
}

/**
 * Decompress the gzip stream `data` (named `what` in errors). Throws invalid_gem for data that is
 * not gzip, corrupt, truncated or followed by more bytes, and limit_exceeded when the output passes
 * a limit.
 */
export function gunzipBounded(data: Buffer, what: string, limits: GunzipLimits): Buffer {
  const start = deflateStart(data, what);
  const byRatio = Math.max(limits.graceSize, data.length * limits.maxRatio);
  const cap = Math.min(limits.maxOutput, byRatio);
  let out: Buffer;
  let consumed: number;
  try {
    const r = inflateRawSync(data.subarray(start), {
      maxOutputLength: Math.max(cap, 1),
      info: true,
    }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    out = r.buffer;
    consumed = r.engine.bytesWritten;
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
  const trailer = start + consumed;
  if (trailer + 8 > data.length)
    throw new QuarryError('invalid_gem', `${what} is corrupt gzip data (truncated trailer)`);
  if (crc32(out) !== data.readUInt32LE(trailer)) {
    throw new QuarryError('invalid_gem', `${what} is corrupt gzip data (CRC-32 mismatch)`);
  }
  if (out.length % 2 ** 32 !== data.readUInt32LE(trailer + 4)) {
    throw new QuarryError('invalid_gem', `${what} is corrupt gzip data (length mismatch)`);
  }
  const extra = data.length - (trailer + 8);
  if (extra > 0) throw new QuarryError('invalid_gem', `${what} has ${extra} bytes after its gzip stream`);
  return out;
}
