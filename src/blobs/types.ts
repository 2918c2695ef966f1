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
  /** When the object was last written (S3: LastModified; fs: the file's mtime). */
  modified: Date;
}

export interface ListOptions {
  /**
   * Whether entries need their MD5 (default true). Stores that must read an object to know it (fs,
   * memory) then give null instead, which makes a listing cheap.
   */
  md5?: boolean;
}

/** A file a write left behind (fs: a `.tmp-*` beside its target, from a process that died mid-write). */
export interface TempEntry {
  /** The path under the store's root, e.g. `gems/sha256/ab/.tmp-123-0a1b2c3d4e5f`. */
  path: string;
  size: number;
  modified: Date;
}

export interface BlobStore {
  /** The whole object, or null when absent. */
  get(key: string): Promise<Buffer | null>;
  head(key: string): Promise<BlobInfo | null>;
  /** Writes atomically: a reader sees the old object, the new one, or none; never a partial one. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /** Objects under a prefix, in byte order of key. */
  list(prefix: string, options?: ListOptions): AsyncIterable<BlobEntry>;
  /**
   * The object's bytes as a stream, or null when absent: for reading large objects without holding
   * them whole. Optional; `readBlobStream` (below) falls back to get().
   */
  stream?(key: string): Promise<AsyncIterable<Uint8Array> | null>;
  /** Leftovers of interrupted writes, for stores that write through temp files (fs). */
  tempFiles?(): AsyncIterable<TempEntry>;
  /** Removes one leftover that tempFiles() listed. */
  removeTempFile?(path: string): Promise<void>;
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

/** The object's bytes as a stream (through the store's stream() when it has one), or null when absent. */
export async function readBlobStream(
  store: BlobStore,
  key: string,
): Promise<AsyncIterable<Uint8Array> | null> {
  if (store.stream) return store.stream(key);
  const body = await store.get(key);
  if (body === null) return null;
  return (async function* () {
    yield body;
  })();
}
