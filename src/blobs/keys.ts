/** Every blob key Quarry uses is built here, from validated values only. */

/** The .gem bytes, content-addressed so a racing push can never replace the bytes of another. */
export const gemBlobKey = (sha256Hex: string): string => {
  if (!/^[0-9a-f]{64}$/.test(sha256Hex)) throw new Error(`not a sha256: ${sha256Hex}`);
  return `gems/sha256/${sha256Hex.slice(0, 2)}/${sha256Hex}.gem`;
};
