/**
 * The Quarry being measured: a compiled dist/ folder (by default this tree's, built into
 * bench/.work/scale/dist; with --dist, any other, e.g. an older commit's). The server, the CLI, the
 * catalog migrations the fill uses and the full rebuild all run from it, so a run measures one
 * version of the code throughout.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Catalog } from '../../src/catalog/types.ts';

export interface Quarry {
  dist: string;
  /** dist/cli/main.js */
  main: string;
  open(url: string): Promise<Catalog>;
}

export function quarryAt(dist: string): Quarry {
  return {
    dist,
    main: join(dist, 'cli', 'main.js'),
    async open(url) {
      const m = (await import(
        pathToFileURL(join(dist, 'catalog', 'open.js')).href
      )) as typeof import('../../src/catalog/open.ts');
      return m.openCatalog(url, () => new Date(), {});
    },
  };
}
