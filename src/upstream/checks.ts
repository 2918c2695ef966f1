/**
 * Checks of what an upstream sends, as pure functions of its bytes and headers (no IO): the
 * declared digest of a body, and whether a ranged answer for /versions extends the copy we hold.
 */
import { createHash } from 'node:crypto';

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `sha-256=:BASE64:` from Repr-Digest (or Digest: SHA-256=BASE64), as hex; null when absent. */
export function declaredSha256(headers: Record<string, string>): string | null {
  const rd = headers['repr-digest'];
  const m = rd ? /sha-256=:([A-Za-z0-9+/=]+):/i.exec(rd) : null;
  if (m) return Buffer.from(m[1]!, 'base64').toString('hex');
  const d = headers['digest'];
  const m2 = d ? /sha-256=([A-Za-z0-9+/=]+)/i.exec(d) : null;
  return m2 ? Buffer.from(m2[1]!, 'base64').toString('hex') : null;
}

/** Bytes of our /versions asked for again with each ranged request, to see that the tail follows them. */
export const VERSIONS_OVERLAP = 4096;

/**
 * The /versions a 206 answer to `Range: bytes=S-` (S = size − VERSIONS_OVERLAP, or 0) makes of the
 * body we hold, or null when it does not extend it (then the whole file is asked for): the range
 * must start within our copy, its first bytes must repeat the end of our copy (Bundler checks one),
 * and the result must match the declared digest and total length. Without a digest, an ETag that
 * is a quoted MD5 (rubygems.org, S3, Quarry) must be the result's MD5, as Bundler checks it: a file
 * rewritten with the same `created_at` is not taken for a longer one.
 */
export function extendedBody(cur: Buffer, part: Buffer, headers: Record<string, string>): Buffer | null {
  const range = /bytes (\d+)-\d+\/(\d+)/.exec(headers['content-range'] ?? '');
  if (!range) return null;
  const start = Number(range[1]);
  if (!(start < cur.length) || part.length < cur.length - start) return null;
  // The bytes asked for again are ours: a body that still extends our copy.
  if (!part.subarray(0, cur.length - start).equals(cur.subarray(start))) return null;
  const body = Buffer.concat([cur, part.subarray(cur.length - start)]);
  const want = declaredSha256(headers);
  if (want && sha256Hex(body) !== want) return null;
  const etag = md5Etag(headers);
  if (!want && etag && createHash('md5').update(body).digest('hex') !== etag) return null;
  if (Number(range[2]) !== body.length) return null;
  return body;
}

/**
 * Whether a ranged answer says what whole file it is part of: a digest, or an ETag that is a quoted
 * MD5 (checked by extendedBody). Without either, nothing ties the tail to the file our copy is the
 * start of.
 */
export function vouchedFor(headers: Record<string, string>): boolean {
  return declaredSha256(headers) !== null || md5Etag(headers) !== null;
}

/** The ETag as a lower-case hex MD5 when it is a quoted 32-digit hex string, else null. */
function md5Etag(headers: Record<string, string>): string | null {
  return /^"([0-9a-f]{32})"$/i.exec(headers['etag'] ?? '')?.[1]?.toLowerCase() ?? null;
}
