/**
 * The blob store: immutable bytes by key. Local files by default; S3-compatible stores at scale.
 * Keys come only from src/blobs/keys.ts, built from validated domain values.
 */
export interface BlobInfo {
  size: number;
}

export interface PutOptions {
  contentType?: string;
  cacheControl?: string;
}

export interface BlobEntry {
  key: string;
  size: number;
  /** Hex MD5 of the content when the store knows it (S3: the ETag of a single-part upload). */
  md5: string | null;
}

export interface BlobStore {
  /** The whole object, or null when absent. */
  get(key: string): Promise<Buffer | null>;
  head(key: string): Promise<BlobInfo | null>;
  /** Writes atomically: a reader sees the old object, the new one, or none; never a partial one. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /** Objects under a prefix, in byte order of key. */
  list(prefix: string): AsyncIterable<BlobEntry>;
  /** Releases connections; optional for stores that hold none. */
  close?(): void;
}

/** Keys are relative paths of safe segments: no '..', no leading '/', no empty or hidden segments. */
export function assertSafeKey(key: string): void {
  if (
    key.length === 0 ||
    key.length > 1024 ||
    key.startsWith('/') ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.')) ||
    /[\u0000-\u001f\\]/.test(key)
  ) {
    throw new Error(`unsafe blob key: ${JSON.stringify(key)}`);
  }
}
