/** Blobs as files under one root: temp file plus rename for atomic writes, and a traversal guard. */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../util/atomic-fs.ts';
import type { BlobEntry, BlobInfo, BlobStore } from './types.ts';
import { assertSafeKey } from './types.ts';

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

export class FsBlobStore implements BlobStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  private path(key: string): string {
    assertSafeKey(key);
    const p = resolve(this.root, key);
    if (!p.startsWith(this.root + sep)) throw new Error(`blob key escapes the store: ${key}`);
    return p;
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.path(key));
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size } : null;
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await writeFileAtomic(this.path(key), body);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  /** Lists files; the MD5 is computed by reading each file (the fs store keeps no metadata). */
  async *list(prefix: string): AsyncIterable<BlobEntry> {
    const all: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isMissing(e)) return;
        throw e;
      }
      for (const ent of entries) {
        if (ent.name.startsWith('.')) continue;
        const p = join(dir, ent.name);
        if (ent.isDirectory()) await walk(p);
        else if (ent.isFile()) all.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    await walk(this.root);
    for (const key of all.filter((k) => k.startsWith(prefix)).sort()) {
      const body = await readFile(join(this.root, key)).catch(() => null);
      if (body) yield { key, size: body.length, md5: createHash('md5').update(body).digest('hex') };
    }
  }
}
