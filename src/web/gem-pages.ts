/** The gem pages, hosted and upstream: pure functions from view data to escaped HTML. */
import type { VersionRecord } from '../catalog/types.ts';
import { requirementToString } from '../gem/requirement.ts';
import type { Html } from './html.ts';
import { html, safeUrl } from './html.ts';
import type { PageCtx } from './templates.ts';
import { copyable, day, fileName, gemPath, kb, layout, originBadge, versionPath } from './templates.ts';

/** What the gem page shows of one hosted gem. */
export interface HostedGemView {
  name: string;
  latest: VersionRecord;
  /** Every version, live and yanked, newest push first. */
  versions: VersionRecord[];
  downloads: Map<number, number>;
  reverse: { items: { name: string; type: string }[]; total: number };
  /** The page is for this one version (/gems/NAME/versions/VERSION). */
  only?: VersionRecord;
  notice?: string;
}

const LINK_KEYS: [key: string, label: string][] = [
  ['homepage_uri', 'Homepage'],
  ['source_code_uri', 'Source code'],
  ['changelog_uri', 'Changelog'],
  ['documentation_uri', 'Documentation'],
  ['bug_tracker_uri', 'Bug tracker'],
  ['wiki_uri', 'Wiki'],
  ['mailing_list_uri', 'Mailing list'],
  ['funding_uri', 'Funding'],
];

function links(v: VersionRecord): Html {
  const items: Html[] = [];
  for (const [k, label] of LINK_KEYS) {
    const given = k === 'homepage_uri' ? (v.spec.metadata[k] ?? v.spec.homepage) : v.spec.metadata[k];
    const url = safeUrl(given);
    if (url) items.push(html`<li><a href="${url}" rel="nofollow noopener noreferrer">${label}</a></li>`);
    else if (given) items.push(html`<li>${label}: <span class="muted">${given}</span></li>`);
  }
  return items.length ? html`<ul aria-label="Links">${items}</ul>` : html`<p class="muted">No links.</p>`;
}

function deps(v: VersionRecord, type: 'runtime' | 'development'): Html {
  const list = v.spec.dependencies.filter((d) => d.type === type);
  if (list.length === 0) return html`<p class="muted">None.</p>`;
  return html`<ul>${list.map((d) => html`<li><a href="${gemPath(d.name)}">${d.name}</a> <code>${requirementToString(d.requirement)}</code></li>`)}</ul>`;
}

function versionRow(v: VersionRecord, downloads: number): Html {
  const yanked = v.yankedAt !== null;
  const action = yanked ? 'unyank' : 'yank';
  return html`<tr class="${yanked ? 'yanked' : ''}" data-version="${fileName(v.name, v.number, v.platform)}">
<td><a href="${versionPath(v.name, v.number, v.platform)}">${v.number}</a></td>
<td>${v.platform}</td>
<td><time datetime="${v.createdAt}">${day(v.createdAt)}</time></td>
<td class="opt">${kb(v.size)}</td>
<td class="sha opt">${v.sha256}</td>
<td>${downloads}</td>
<td>${yanked ? html`<span class="badge yanked">yanked</span>` : 'live'}</td>
<td>${originBadge(v.origin)}</td>
<td><a href="${versionPath(v.name, v.number, v.platform).replace(/(\?|$)/, `/${action}$1`)}">${yanked ? 'Unyank' : 'Yank'}<span class="visually-hidden"> ${v.number} ${v.platform}</span></a></td>
</tr>`;
}

export function gemPage(ctx: PageCtx, g: HostedGemView): Html {
  const v = g.only ?? g.latest;
  const s = v.spec;
  const ruby = requirementToString(s.requiredRubyVersion);
  const rubygems = requirementToString(s.requiredRubygemsVersion);
  const versions = g.only ? g.versions : g.versions;
  const total = [...g.downloads.values()].reduce((a, b) => a + b, 0);
  return layout(
    ctx,
    g.only ? `${g.name} ${v.number}` : g.name,
    html`${g.notice ? html`<p class="notice" role="status">${g.notice}</p>` : ''}
<h1>${g.name} <span class="muted">${v.number}${v.platform === 'ruby' ? '' : ` (${v.platform})`}</span></h1>
${v.yankedAt ? html`<p class="error">This version was yanked on ${day(v.yankedAt)}.</p>` : ''}
${g.only ? html`<p><a href="${gemPath(g.name)}">All about ${g.name}</a></p>` : ''}
<p class="summary">${s.summary}</p>
${s.description && s.description !== s.summary ? html`<section aria-labelledby="desc-h"><h2 id="desc-h">Description</h2><p class="description">${s.description}</p></section>` : ''}
<div class="cols">
<section aria-labelledby="install-h"><h2 id="install-h">Install</h2>
${copyable('gem install command', `gem install ${g.name}${g.only ? ` -v ${v.number}` : ''}`, 'install-line')}
${copyable('Gemfile line', `gem "${g.name}", "~> ${v.number}"`, 'gemfile-line')}
</section>
<section aria-labelledby="facts-h"><h2 id="facts-h">About</h2>
<dl class="facts">
<dt>Authors</dt><dd class="authors">${s.authors.join(', ') || '—'}</dd>
<dt>Licenses</dt><dd>${s.licenses.join(', ') || '—'}</dd>
<dt>Required Ruby</dt><dd><code>${ruby}</code></dd>
<dt>Required RubyGems</dt><dd><code>${rubygems}</code></dd>
<dt>Pushed</dt><dd><time datetime="${v.createdAt}">${day(v.createdAt)}</time></dd>
<dt>Downloads</dt><dd>${g.downloads.get(v.id) ?? 0} of this version, ${total} in all</dd>
<dt>SHA-256</dt><dd><code>${v.sha256}</code></dd>
<dt>Origin</dt><dd>${originBadge(v.origin)}</dd>
</dl>
</section>
<section aria-labelledby="links-h"><h2 id="links-h">Links</h2>${links(v)}</section>
</div>
<div class="cols">
<section aria-labelledby="rdeps-h"><h2 id="rdeps-h">Runtime dependencies</h2>${deps(v, 'runtime')}</section>
<section aria-labelledby="ddeps-h"><h2 id="ddeps-h">Development dependencies</h2>${deps(v, 'development')}</section>
<section aria-labelledby="rev-h"><h2 id="rev-h">Reverse dependencies</h2>
${
  g.reverse.total === 0
    ? html`<p class="muted">No gem here depends on ${g.name}.</p>`
    : html`<ul>${g.reverse.items.map((r) => html`<li><a href="${gemPath(r.name)}">${r.name}</a>${r.type === 'development' ? html` <span class="muted">(development)</span>` : ''}</li>`)}</ul>${g.reverse.total > g.reverse.items.length ? html`<p class="muted">and ${g.reverse.total - g.reverse.items.length} more</p>` : ''}`
}
</section>
</div>
<section aria-labelledby="versions-h"><h2 id="versions-h">Versions</h2>
<div class="table-wrap"><table>
<caption class="visually-hidden">Every version of ${g.name}, newest push first</caption>
<thead><tr><th scope="col">Version</th><th scope="col">Platform</th><th scope="col">Pushed</th><th scope="col" class="opt">Size</th><th scope="col" class="opt">SHA-256</th><th scope="col">Downloads</th><th scope="col">State</th><th scope="col">Origin</th><th scope="col">Action</th></tr></thead>
<tbody>${versions.map((x) => versionRow(x, g.downloads.get(x.id) ?? 0))}</tbody>
</table></div>
</section>`,
  );
}

/** What the proxy's merged index knows of an upstream gem that is not hosted here. */
export interface UpstreamGemView {
  name: string;
  upstream: string;
  versions: {
    version: string;
    platform: string;
    checksum?: string;
    createdAt?: string;
    cached: boolean;
    ruby: string[];
    rubygems: string[];
    dependencies: { name: string; requirements: string[] }[];
  }[];
}

export function upstreamGemPage(ctx: PageCtx, g: UpstreamGemView): Html {
  const latest = g.versions.find((v) => !/[a-zA-Z]/.test(v.version)) ?? g.versions[0]!;
  const anyCached = g.versions.some((v) => v.cached);
  return layout(
    ctx,
    g.name,
    html`<h1>${g.name} <span class="muted">${latest.version}</span></h1>
<p>From the upstream <strong>${g.upstream}</strong> through this server's proxy ${anyCached ? html`<span class="badge cached">cached</span>` : html`<span class="badge upstream">not cached yet</span>`}. Only what the upstream's compact index says is known here.</p>
<div class="cols">
<section aria-labelledby="install-h"><h2 id="install-h">Install</h2>
${copyable('gem install command', `gem install ${g.name}`, 'install-line')}
${copyable('Gemfile line', `gem "${g.name}", "~> ${latest.version}"`, 'gemfile-line')}
</section>
<section aria-labelledby="facts-h"><h2 id="facts-h">About</h2>
<dl class="facts">
<dt>Required Ruby</dt><dd><code>${latest.ruby.join(', ') || '>= 0'}</code></dd>
<dt>Required RubyGems</dt><dd><code>${latest.rubygems.join(', ') || '>= 0'}</code></dd>
</dl></section>
<section aria-labelledby="rdeps-h"><h2 id="rdeps-h">Runtime dependencies</h2>
${latest.dependencies.length === 0 ? html`<p class="muted">None.</p>` : html`<ul>${latest.dependencies.map((d) => html`<li><a href="${gemPath(d.name)}">${d.name}</a> <code>${d.requirements.join(', ')}</code></li>`)}</ul>`}
</section>
</div>
<section aria-labelledby="versions-h"><h2 id="versions-h">Versions</h2>
<div class="table-wrap"><table>
<caption class="visually-hidden">Versions of ${g.name} upstream</caption>
<thead><tr><th scope="col">Version</th><th scope="col">Platform</th><th scope="col">Pushed</th><th scope="col" class="opt">SHA-256</th><th scope="col">Origin</th></tr></thead>
<tbody>${g.versions.map(
      (
        v,
      ) => html`<tr data-version="${fileName(g.name, v.version, v.platform)}"><td>${v.version}</td><td>${v.platform}</td><td>${v.createdAt ? day(v.createdAt) : '—'}</td><td class="sha opt">${v.checksum ?? '—'}</td>
<td>${v.cached ? html`<span class="badge cached">cached from ${g.upstream}</span>` : html`<span class="badge upstream">upstream ${g.upstream}</span>`}</td></tr>`,
    )}</tbody>
</table></div>
</section>`,
  );
}
