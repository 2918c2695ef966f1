/** Every blob key Quarry uses is built here, from validated values only. */

/** The .gem bytes, content-addressed so a racing push can never replace the bytes of another. */
export const gemBlobKey = (sha256Hex: string): string => {
  if (!/^[0-9a-f]{64}$/.test(sha256Hex)) throw new Error(`not a sha256: ${sha256Hex}`);
  return `gems/sha256/${sha256Hex.slice(0, 2)}/${sha256Hex}.gem`;
};

/** The folder of every gem blob: list it to see what the store holds. */
export const GEM_BLOB_PREFIX = 'gems/sha256/';

/** The sha256 a key stands for when gemBlobKey builds exactly that key, else null. */
export const gemBlobSha256 = (key: string): string | null => {
  const m = /^gems\/sha256\/([0-9a-f]{2})\/([0-9a-f]{64})\.gem$/.exec(key);
  return m && m[2]!.startsWith(m[1]!) ? m[2]! : null;
};
