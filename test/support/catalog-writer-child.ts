/**
 * The child side of catalog-writer.ts: `node --import tsx catalog-writer-child.ts CATALOG_URL`.
 * Opens its own connection to the catalog, as another node would, creates the /versions base if
 * there is none, says `{ ready: true }`, then pushes each gem it is sent (`{ id, name, version }`,
 * built with make-gem.ts) through GemService and answers `{ id, message }` or `{ id, error }`.
 * Exits when the parent disconnects.
 */
import { MemoryBlobStore } from '../../src/blobs/memory.ts';
import { openCatalog } from '../../src/catalog/open.ts';
import { GemService } from '../../src/services/gems.ts';
import { makeGem } from './make-gem.ts';

const url = process.argv[2];
if (!url || !process.send) throw new Error('usage: fork(catalog-writer-child.ts, [CATALOG_URL])');
const now = () => new Date();
const catalog = await openCatalog(url, now, {});
const gems = new GemService({ catalog, blobs: new MemoryBlobStore(), now });
await gems.ensureVersionsBase();

process.on('message', (m: { id: number; name: string; version: string }) => {
  gems
    .push(makeGem({ name: m.name, version: m.version }), async () => null)
    .then(
      (r) => process.send?.({ id: m.id, message: r.message }),
      (e: Error) => process.send?.({ id: m.id, error: e.message }),
    );
});
process.on('disconnect', () => {
  catalog.close().finally(() => process.exit(0));
});
process.send({ ready: true });
