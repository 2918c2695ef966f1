/**
 * The stored form of a cached upstream document, as pure functions (no IO). Per upstream NAME:
 *   upstream/NAME/docs/versions.json, upstream/NAME/docs/info/GEM.json   what was fetched, when
 *   upstream/NAME/bodies/SHA256                                           the bodies they point to
 * A body up to INLINE_BODY_MAX (every /info but the largest) is stored in its record instead, after
 * the record's JSON line: one file per /info, not two (a mirror of a whole source writes one for
 * every name). Records of either form are read.
 */
import { sha256Hex } from './checks.ts';

export interface StoredMeta {
  etag: string | null;
  checkedAt: string;
  sha256: string;
  size: number;
}

/** Bodies up to this size are stored inside their record (one blob), larger ones beside it. */
export const INLINE_BODY_MAX = 256 * 1024;

export const docKey = (upstream: string, path: string): string => `upstream/${upstream}/docs/${path}.json`;
export const bodyKey = (upstream: string, sha: string): string => `upstream/${upstream}/bodies/${sha}`;

export function storedMeta(doc: {
  body: Buffer;
  etag: string | null;
  checkedAt: number;
  sha256: string;
}): StoredMeta {
  return {
    etag: doc.etag,
    checkedAt: new Date(doc.checkedAt).toISOString(),
    sha256: doc.sha256,
    size: doc.body.length,
  };
}

/** `JSON\nBODY`: a record with its body inside. */
export const inlineRecord = (meta: StoredMeta, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from(JSON.stringify(meta)), Buffer.from('\n'), body]);

/** The JSON alone: a record whose body is under bodies/. */
export const bareRecord = (meta: StoredMeta): Buffer => Buffer.from(JSON.stringify(meta));

/** A record's meta, with its body when inside (else null: under bodies/); null when unreadable. */
export function parseRecord(record: Buffer): { meta: StoredMeta; body: Buffer | null } | null {
  // `JSON\nBODY` (the body inside), or the JSON alone (the body under bodies/).
  const nl = record.indexOf(10);
  let meta: StoredMeta;
  try {
    meta = JSON.parse(record.toString('utf8', 0, nl < 0 ? record.length : nl)) as StoredMeta;
  } catch {
    return null;
  }
  return { meta, body: nl >= 0 ? record.subarray(nl + 1) : null };
}

/** True when the body is the one the record describes (its size and SHA-256). */
export const bodyMatches = (meta: StoredMeta, body: Buffer): boolean =>
  body.length === meta.size && sha256Hex(body) === meta.sha256;
