/** Opens the catalog a URL names: `sqlite:PATH` (or a plain path) or `postgres://USER@HOST:PORT/DB`. */
import { QuarryError } from '../errors.ts';
import type { InfoOptions } from '../index/compact.ts';
import type { KyselyCatalog } from './kysely-catalog.ts';

export type CatalogLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export function parseCatalogUrl(url: string): CatalogLocation {
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (file.length === 0) throw new QuarryError('config', `catalog "${url}" names no file`);
    return { kind: 'sqlite', file };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new QuarryError(
      'config',
      `catalog "${url.replace(/:[^:@/]*@/, ':***@')}" is neither sqlite:PATH nor postgres://USER@HOST:PORT/DB`,
    );
  }
  return { kind: 'sqlite', file: url };
}

/** Drivers load on use: a SQLite node never loads pg, and the other way round. */
export async function openCatalog(url: string, now: () => Date, info: InfoOptions): Promise<KyselyCatalog> {
  const loc = parseCatalogUrl(url);
  if (loc.kind === 'postgres') {
    const { openPostgresCatalog } = await import('./postgres.ts');
    return openPostgresCatalog(loc.url, now, info);
  }
  const { openSqliteCatalog } = await import('./sqlite.ts');
  return openSqliteCatalog(loc.file, now, info);
}
