/**
 * The read routes, declared once. Fastify's routes (app.ts) and the fast path in front of it
 * (fast-reads.ts, and the socket-level responder below) are both built from this table, so a route
 * exists on both or on neither, and both answer through answerRead.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Maybe } from '../util/maybe.ts';
import type { ReadRoutes } from './reads.ts';
import { LEGACY_FILES } from './reads.ts';
import type { Answer } from './representation.ts';

export type ReadKind = 'versions' | 'names' | 'info' | 'legacy' | 'quick' | 'gem' | 'deps';

export interface ReadRoute {
  /** Fastify's route pattern (also the metrics label). */
  path: string;
  kind: ReadKind;
  /**
   * For a route with one path parameter: the fixed text before it, the parameter's name, and the
   * text it must end with (for /gems/FILE: `.gem`, so /gems/NAME is the web UI's gem page).
   */
  param?: { prefix: string; name: string; suffix?: string };
}

/** The route's Fastify pattern: `path`, with a parameter that must end with its suffix. */
export function fastifyPath(r: ReadRoute): string {
  const suffix = r.param?.suffix;
  if (!suffix) return r.path;
  const re = `(^.+${suffix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$)`;
  return r.path.replace(`:${r.param!.name}`, `:${r.param!.name}${re}`);
}

export const READ_ROUTES: readonly ReadRoute[] = [
  { path: '/versions', kind: 'versions' },
  { path: '/names', kind: 'names' },
  { path: '/info/:name', kind: 'info', param: { prefix: '/info/', name: 'name' } },
  ...LEGACY_FILES.map((f): ReadRoute => ({ path: `/${f}`, kind: 'legacy' })),
  { path: '/quick/Marshal.4.8/:file', kind: 'quick', param: { prefix: '/quick/Marshal.4.8/', name: 'file' } },
  { path: '/gems/:file', kind: 'gem', param: { prefix: '/gems/', name: 'file', suffix: '.gem' } },
  { path: '/api/v1/dependencies', kind: 'deps' },
];

/**
 * The answer of a read route. `param` is the path parameter (info, quick, gem), the file name
 * (legacy: the path without its '/'), or the `gems=` value (deps; '' or undefined: none).
 */
export function answerRead(
  reads: ReadRoutes,
  kind: ReadKind,
  param: string | undefined,
  h: IncomingHttpHeaders,
): Maybe<Answer> {
  switch (kind) {
    case 'versions':
      return reads.versions(h);
    case 'names':
      return reads.names(h);
    case 'info':
      return reads.info(param ?? '', h);
    case 'legacy':
      return reads.legacy(param ?? '', h);
    case 'quick':
      return reads.quickSpec(param ?? '', h);
    case 'gem':
      return reads.gem(param ?? '', h);
    case 'deps':
      return reads.dependencies(param === '' ? undefined : param, h);
  }
}
