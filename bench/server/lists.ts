/**
 * The request mixes wrk replays, written as list files (one request per line: path, then optional
 * tab-separated headers), with the check that tells a right answer from a wrong one.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Response } from './http.ts';

export interface Req {
  path: string;
  headers: Record<string, string>;
}

export interface Mix {
  id: string;
  /** How the table names it. */
  label: string;
  reqs: Req[];
  /** An error message when `res` is not the right answer to `req`, else null. */
  check: (req: Req, res: Response) => string | null;
}

/** Deterministic shuffle (a small LCG), so every run and every server sees the same order. */
export function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function writeList(file: string, reqs: readonly Req[]): void {
  const lines = reqs.map((r) =>
    [r.path, ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`)].join('\t'),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
}

const same = (what: string, got: Buffer, want: Buffer | undefined): string | null =>
  want && got.equals(want) ? null : `${what}: body differs (${got.length} bytes, expected ${want?.length})`;

/** The gem names of a /versions body, in order of first appearance. */
export function versionsNames(versions: Buffer): string[] {
  const text = versions.toString('utf8');
  const body = text.slice(text.indexOf('\n---\n') + 5);
  const names = new Set<string>();
  for (const line of body.split('\n')) if (line) names.add(line.slice(0, line.indexOf(' ')));
  return [...names];
}

export const versionsLines = (versions: Buffer): number => {
  const text = versions.toString('utf8');
  return text
    .slice(text.indexOf('\n---\n') + 5)
    .split('\n')
    .filter(Boolean).length;
};

/** GET /info/NAME for every name, shuffled; the body must be the saved one. */
export function infoMix(names: readonly string[], infos: ReadonlyMap<string, Buffer>): Mix {
  return {
    id: 'info',
    label: `GET /info/NAME (${names.length.toLocaleString('en-US')} names)`,
    reqs: shuffled(names, 1).map((n) => ({ path: `/info/${n}`, headers: {} })),
    check: (req, res) =>
      res.status !== 200
        ? `status ${res.status}`
        : same(req.path, res.body, infos.get(req.path.slice('/info/'.length))),
  };
}

/**
 * GET /versions as Bundler asks when its copy is `behind` lines old: `Range: bytes=N-` where N is
 * one byte short of the size of its copy, and `If-None-Match` with the MD5 of its copy (no match, so
 * the server must send the tail). One request per k = 1..behind.
 */
export function versionsMix(versions: Buffer, behind: number): Mix {
  const ends: number[] = [];
  let pos = versions.length;
  for (let k = 0; k < behind; k++) {
    pos = versions.lastIndexOf(0x0a, pos - 2) + 1;
    ends.push(pos);
  }
  const reqs = shuffled(ends, 2).map((size) => ({
    path: '/versions',
    headers: {
      Range: `bytes=${size - 1}-`,
      'If-None-Match': `"${createHash('md5').update(versions.subarray(0, size)).digest('hex')}"`,
    },
  }));
  return {
    id: 'versions',
    label: `GET /versions, \`Range: bytes=N-\` (1–${behind} lines behind)`,
    reqs,
    check: (req, res) => {
      const n = Number(/bytes=(\d+)-/.exec(req.headers['Range'] ?? '')?.[1]);
      return res.status !== 206 ? `status ${res.status}` : same('/versions', res.body, versions.subarray(n));
    },
  };
}

/** GET /gems/X.gem for every gem, shuffled; the bytes must be the pushed ones. */
export function gemsMix(files: readonly string[], read: (file: string) => Buffer): Mix {
  return {
    id: 'gems',
    label: `GET /gems/X.gem (${files.length.toLocaleString('en-US')} files)`,
    reqs: shuffled(files, 3).map((f) => ({ path: `/gems/${f}`, headers: {} })),
    check: (req, res) =>
      res.status !== 200 ? `status ${res.status}` : same(req.path, res.body, read(req.path.slice(6))),
  };
}

/** GET /api/v1/dependencies?gems=NAME (one name a request): a Marshal dump. */
export function dependenciesMix(names: readonly string[]): Mix {
  return {
    id: 'deps',
    label: `GET /api/v1/dependencies?gems=NAME (${names.length.toLocaleString('en-US')} names)`,
    reqs: shuffled(names, 4).map((n) => ({ path: `/api/v1/dependencies?gems=${n}`, headers: {} })),
    check: (_req, res) =>
      res.status !== 200
        ? `status ${res.status}`
        : res.body[0] === 4 && res.body[1] === 8 && res.body.length > 2
          ? null
          : 'not a Marshal 4.8 dump',
  };
}

/** GET /specs.4.8.gz: a gzip of a Marshal dump (the same bytes as Quarry's when `want` is given). */
export function specsMix(want?: Buffer): Mix {
  return {
    id: 'specs',
    label: 'GET /specs.4.8.gz',
    reqs: [{ path: '/specs.4.8.gz', headers: {} }],
    check: (_req, res) => {
      if (res.status !== 200) return `status ${res.status}`;
      if (want) return same('/specs.4.8.gz', res.body, want);
      try {
        const m = gunzipSync(res.body);
        return m[0] === 4 && m[1] === 8 ? null : 'not a gzipped Marshal 4.8 dump';
      } catch (e) {
        return `not gzip: ${(e as Error).message}`;
      }
    },
  };
}
