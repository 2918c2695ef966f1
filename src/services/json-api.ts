/** The rubygems.org-shaped JSON API: /api/v1/gems/NAME.json and /api/v1/versions/NAME.json. Pure. */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { VersionRecord } from '../catalog/types.ts';
import { requirementToString } from '../gem/requirement.ts';
import { compareVersions } from '../gem/version.ts';
import { dumpQuickSpec } from '../marshal/rubygems.ts';

const URI_KEYS = [
  'homepage_uri',
  'wiki_uri',
  'documentation_uri',
  'mailing_list_uri',
  'source_code_uri',
  'bug_tracker_uri',
  'changelog_uri',
  'funding_uri',
] as const;

const specSha = (v: VersionRecord): string =>
  createHash('sha256')
    .update(deflateSync(dumpQuickSpec(v.spec)))
    .digest('hex');

const depsOf = (v: VersionRecord, type: 'runtime' | 'development') =>
  v.spec.dependencies
    .filter((d) => d.type === type)
    .map((d) => ({ name: d.name, requirements: requirementToString(d.requirement) }));

/** rubygems.org's position order: highest version first, platforms of one number together. */
export const byPosition = (a: VersionRecord, b: VersionRecord): number =>
  -compareVersions(a.number, b.number) ||
  (a.platform === 'ruby' ? -1 : b.platform === 'ruby' ? 1 : a.platform < b.platform ? -1 : 1);

/** The version /api/v1/gems/NAME.json describes: latest release on ruby, then any latest, then the highest. */
export function mostRecent(live: readonly VersionRecord[]): VersionRecord | null {
  const sorted = [...live].sort(byPosition);
  return (
    sorted.find((v) => !v.prerelease && v.platform === 'ruby') ??
    sorted.find((v) => !v.prerelease) ??
    sorted[0] ??
    null
  );
}

/** Downloads as the JSON API shows them: of every version of the gem, and of the one described. */
export interface DownloadsOf {
  total: number;
  version: number;
}

/** The downloads of version `v` of a gem, from its counts per version id (CatalogReadModel.downloads). */
export function downloadsOf(v: VersionRecord, counts: ReadonlyMap<number, number> | undefined): DownloadsOf {
  let total = 0;
  for (const n of counts?.values() ?? []) total += n;
  return { total, version: counts?.get(v.id) ?? 0 };
}

export function gemJson(
  v: VersionRecord,
  baseUrl: string,
  downloads: DownloadsOf = { total: 0, version: 0 },
): Record<string, unknown> {
  const s = v.spec;
  const fileName =
    v.gemPlatform === 'ruby' ? `${v.name}-${v.number}` : `${v.name}-${v.number}-${v.gemPlatform}`;
  const out: Record<string, unknown> = {
    name: v.name,
    downloads: downloads.total,
    version: v.number,
    version_created_at: v.createdAt,
    version_downloads: downloads.version,
    platform: v.platform,
    authors: s.authors.join(', '),
    info: s.description || s.summary || 'This rubygem does not have a description or summary.',
    licenses: s.licenses.length > 0 ? s.licenses : null,
    metadata: s.metadata,
    yanked: v.yankedAt !== null,
    sha: v.sha256,
    spec_sha: specSha(v),
    project_uri: `${baseUrl}/gems/${v.name}`,
    gem_uri: `${baseUrl}/gems/${fileName}.gem`,
    source: 'hosted',
  };
  for (const k of URI_KEYS)
    out[k] = k === 'homepage_uri' ? (s.metadata[k] ?? s.homepage ?? null) : (s.metadata[k] ?? null);
  out['dependencies'] = { development: depsOf(v, 'development'), runtime: depsOf(v, 'runtime') };
  return out;
}

export function versionJson(v: VersionRecord, downloads = 0): Record<string, unknown> {
  const s = v.spec;
  const ruby = requirementToString(s.requiredRubyVersion);
  return {
    authors: s.authors.join(', '),
    built_at: s.date.toISOString(),
    created_at: v.createdAt,
    description: s.description,
    downloads_count: downloads,
    metadata: s.metadata,
    number: v.number,
    summary: s.summary,
    platform: v.platform,
    rubygems_version: requirementToString(s.requiredRubygemsVersion),
    ruby_version: ruby === '>= 0' ? null : ruby,
    prerelease: v.prerelease,
    licenses: s.licenses,
    requirements: [],
    sha: v.sha256,
    spec_sha: specSha(v),
    source: 'hosted',
  };
}
