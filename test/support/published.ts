/**
 * Reads a static gem source folder the way a client sees it through a plain file server: the
 * public paths (versions, names, info/NAME, the legacy lists, quick specs), symlinks followed, and
 * checks that those files agree with one another. Used after a `quarry index` was killed mid-run.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { fullName } from '../../src/gem/spec.ts';
import { md5Hex } from '../../src/index/compact.ts';
import { liveVersions, parseInfoFile, parseVersionsFile } from '../../src/index/compact-parse.ts';
import { legacyLists } from '../../src/index/legacy.ts';
import { loadSpecTuples } from '../../src/marshal/rubygems.ts';

/** Every public path of a static index but the quick specs (which live under quick/). */
export const PUBLIC_FILES = [
  'versions',
  'names',
  'specs.4.8',
  'specs.4.8.gz',
  'latest_specs.4.8',
  'latest_specs.4.8.gz',
  'prerelease_specs.4.8',
  'prerelease_specs.4.8.gz',
] as const;

/**
 * Every file a file server would serve from `dir` (relative, '/'-separated, sorted): symlinks
 * followed, the .quarry state folder left out.
 */
export function servedFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const p = rel === '' ? name : `${rel}/${name}`;
      if (p === '.quarry') continue;
      const st = statSync(join(dir, p));
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk('');
  return out.sort();
}

export type Published =
  | { kind: 'empty' }
  | {
      kind: 'index';
      /** NAME-VERSION[-PLATFORM] of every live gem. */
      gems: Set<string>;
      versions: string;
    };

/** The file's bytes, or null when a file server would answer 404. */
function get(dir: string, path: string): Buffer | null {
  try {
    return readFileSync(join(dir, path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

function list(dir: string, path: string): string[] {
  try {
    return readdirSync(join(dir, path)).filter((f) => !f.startsWith('.'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

const key = (t: { name: string; version: string; platform: string }): string =>
  fullName(t.name, t.version, t.platform);

/**
 * Checks the published index in `dir` and returns what it publishes. Throws an Error listing every
 * disagreement found: a /versions MD5 that is not the MD5 of the info file served, a names list
 * that is not the set of names with live info lines, legacy lists that do not hold exactly those
 * gems, a gzipped list that is not its uncompressed twin, a missing quick spec.
 */
export function readPublished(dir: string): Published {
  const problems: string[] = [];
  const versionsBody = get(dir, 'versions');
  if (versionsBody === null) {
    const present = [...PUBLIC_FILES.filter((f) => get(dir, f) !== null), ...list(dir, 'info')];
    if (present.length > 0) throw new Error(`no versions file, but ${present.join(', ')} served`);
    return { kind: 'empty' };
  }
  const versions = parseVersionsFile(versionsBody);
  const live = liveVersions(versions);
  const fromInfo = new Set<string>();
  const namesWithVersions = new Set<string>();
  for (const [name, { tokens, infoMd5 }] of live) {
    const body = get(dir, `info/${name}`);
    if (body === null) {
      problems.push(`versions lists ${name}, but info/${name} is missing`);
      continue;
    }
    if (md5Hex(body) !== infoMd5) {
      problems.push(`versions says info/${name} has MD5 ${infoMd5}, the file served has ${md5Hex(body)}`);
    }
    const lines = parseInfoFile(body, name);
    const infoTokens = lines.map((l) => l.token).sort();
    if (infoTokens.join(',') !== [...tokens].sort().join(',')) {
      problems.push(
        `info/${name} holds ${infoTokens.join(',')}; versions says ${[...tokens].sort().join(',')}`,
      );
    }
    if (lines.length > 0) namesWithVersions.add(name);
    for (const l of lines) fromInfo.add(key({ name, version: l.version, platform: l.platform }));
  }
  for (const f of list(dir, 'info')) {
    if (!live.has(f)) problems.push(`info/${f} is served but versions does not list ${f}`);
  }
  const namesBody = get(dir, 'names');
  if (namesBody === null) problems.push('names is missing');
  else {
    const names = namesBody.toString('utf8').split('\n').slice(1, -1);
    if (names.join('\n') !== [...namesWithVersions].sort().join('\n')) {
      problems.push(
        `names lists ${names.length} names; ${namesWithVersions.size} names have live info lines`,
      );
    }
  }
  const tuples: Record<string, { name: string; version: string; platform: string }[]> = {};
  for (const base of ['specs', 'latest_specs', 'prerelease_specs']) {
    const gz = get(dir, `${base}.4.8.gz`);
    const raw = get(dir, `${base}.4.8`);
    if (gz === null || raw === null) {
      problems.push(`${base}.4.8${gz === null ? '.gz' : ''} is missing`);
      tuples[base] = [];
      continue;
    }
    if (!gunzipSync(gz).equals(raw)) problems.push(`${base}.4.8.gz is not gzip of ${base}.4.8`);
    tuples[base] = loadSpecTuples(raw);
  }
  const legacy = new Set([...tuples['specs']!, ...tuples['prerelease_specs']!].map(key));
  const missing = [...fromInfo].filter((g) => !legacy.has(g));
  const extra = [...legacy].filter((g) => !fromInfo.has(g));
  if (missing.length + extra.length > 0) {
    problems.push(
      `specs + prerelease_specs differ from info: missing ${missing.join(' ') || '-'}; extra ${extra.join(' ') || '-'}`,
    );
  }
  const latest = legacyLists(tuples['specs']!).latest.map(key).sort();
  const servedLatest = tuples['latest_specs']!.map(key).sort();
  if (latest.join(' ') !== servedLatest.join(' ')) {
    problems.push(`latest_specs holds ${servedLatest.join(' ')}; specs says ${latest.join(' ')}`);
  }
  for (const g of legacy) {
    const rz = get(dir, `quick/Marshal.4.8/${g}.gemspec.rz`);
    if (rz === null) problems.push(`quick/Marshal.4.8/${g}.gemspec.rz is missing`);
    else inflateSync(rz);
  }
  if (problems.length > 0) throw new Error(`torn index in ${dir}:\n  ${problems.join('\n  ')}`);
  return { kind: 'index', gems: fromInfo, versions: versionsBody.toString('utf8') };
}
