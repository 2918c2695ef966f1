/** The web UI's pages: pure functions from view data to escaped HTML (html.ts). No business logic. */
import type { GemCounts, GemListing, VersionRecord } from '../catalog/types.ts';
import { requirementToString } from '../gem/requirement.ts';
import { CSS_PATH, JS_PATH } from './assets.ts';
import type { Html, Part } from './html.ts';
import { escapeXml, html, safeUrl } from './html.ts';

export interface PageCtx {
  /** This server's public URL, without a trailing slash. */
  base: string;
  /** The CSRF token for forms on this page. */
  csrf: string;
  /** Whether the visitor is signed in with a key (protected reads). */
  signedIn?: boolean;
  protectedReads?: boolean;
  query?: string;
}

const fileName = (name: string, number: string, platform: string) =>
  platform === 'ruby' ? `${name}-${number}` : `${name}-${number}-${platform}`;
export const gemPath = (name: string) => `/gems/${encodeURIComponent(name)}`;
export const versionPath = (name: string, number: string, platform = 'ruby') =>
  `/gems/${encodeURIComponent(name)}/versions/${encodeURIComponent(number)}${
    platform === 'ruby' ? '' : `?platform=${encodeURIComponent(platform)}`
  }`;
const day = (iso: string) => iso.slice(0, 10);
const kb = (n: number) =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;

export function layout(ctx: PageCtx, title: string, body: Html, opts: { noSearch?: boolean } = {}): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Quarry</title>
<link rel="stylesheet" href="${CSS_PATH}">
<link rel="alternate" type="application/atom+xml" title="Recent pushes" href="/feed.atom">
<script src="${JS_PATH}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><div class="bar">
<a class="brand" href="/">Quarry</a>
${
  opts.noSearch
    ? ''
    : html`<form class="search" role="search" action="/search" method="get">
<label for="site-q" class="visually-hidden">Search gems</label>
<input id="site-q" type="search" name="q" value="${ctx.query ?? ''}" placeholder="Search gems" autocomplete="off">
<button type="submit">Search</button>
</form>`
}
<nav aria-label="Site"><ul>
<li><a href="/">Home</a></li>
<li><a href="/upload">Upload</a></li>
<li><a href="/feed.atom">Feed</a></li>
${ctx.protectedReads && ctx.signedIn ? html`<li><form action="/signout" method="post"><input type="hidden" name="_csrf" value="${ctx.csrf}"><button class="secondary" type="submit">Sign out</button></form></li>` : ''}
</ul></nav>
</div></header>
<main id="main" tabindex="-1">
${body}
</main>
<footer class="site"><p>Quarry gem server · <a href="/api/v1/search.json?query=">JSON API</a></p></footer>
<div id="copy-status" class="visually-hidden" role="status" aria-live="polite"></div>
</body>
</html>
`;
}

let copyIds = 0;
/** A line with a copy button (the script copies the code element's text). */
function copyable(label: string, text: string, id?: string): Html {
  const cid = id ?? `copy-${++copyIds}`;
  return html`<div class="copyable"><span class="visually-hidden">${label}:</span><code id="${cid}">${text}</code><button type="button" class="secondary" data-copy="${cid}" aria-label="Copy ${label}">Copy</button></div>`;
}

function originBadge(origin: string | null | undefined): Html {
  if (origin?.startsWith('mirror:'))
    return html`<span class="badge mirrored" title="copied by quarry mirror from ${origin.slice(7)}">mirrored from ${origin.slice(7)}</span>`;
  if (origin === 'import') return html`<span class="badge hosted">hosted (imported)</span>`;
  return html`<span class="badge hosted">hosted</span>`;
}

function listing(g: GemListing): Html {
  return html`<li><a href="${gemPath(g.name)}"><strong>${g.name}</strong></a> <span class="muted">${g.number}${g.platform === 'ruby' ? '' : ` (${g.platform})`}</span> ${originBadge(g.origin)}
<span class="summary">${g.summary}</span></li>`;
}

function recentItem(v: VersionRecord): Html {
  return html`<li><a href="${versionPath(v.name, v.number, v.platform)}"><strong>${v.name}</strong> ${v.number}${v.platform === 'ruby' ? '' : ` (${v.platform})`}</a> <span class="muted">pushed <time datetime="${v.createdAt}">${day(v.createdAt)}</time></span> ${originBadge(v.origin)}
<span class="summary">${v.spec.summary}</span></li>`;
}

export function homePage(ctx: PageCtx, counts: GemCounts, recent: VersionRecord[]): Html {
  return layout(
    ctx,
    'Home',
    html`<h1>Quarry gem server</h1>
<section aria-labelledby="counts-h"><h2 id="counts-h" class="visually-hidden">Gems</h2>
<ul class="counts">
<li><strong>${counts.hosted}</strong> hosted gems</li>
<li><strong>${counts.cached}</strong> cached gems</li>
<li><strong>${counts.mirrored}</strong> mirrored gems</li>
</ul></section>
<div class="cols">
<section aria-labelledby="recent-h"><h2 id="recent-h">Recent pushes</h2>
${recent.length === 0 ? html`<p class="muted">Nothing pushed yet.</p>` : html`<ul class="list">${recent.map(recentItem)}</ul>`}
<p><a href="/feed.atom">Atom feed of recent pushes</a></p>
</section>
<section aria-labelledby="use-h"><h2 id="use-h">Use this server</h2>
<p>Add it as a gem source:</p>
${copyable('gem sources command', `gem sources --add ${ctx.base}/`)}
<p>In a Gemfile:</p>
${copyable('Gemfile source line', `source "${ctx.base}"`)}
<p>As a mirror of rubygems.org for Bundler:</p>
${copyable('bundle config mirror command', `bundle config mirror.https://rubygems.org ${ctx.base}`)}
<p>Push a gem:</p>
${copyable('gem push command', `gem push NAME-VERSION.gem --host ${ctx.base}`)}
</section>
</div>`,
  );
}

export function searchPage(
  ctx: PageCtx,
  q: string,
  found: { items: GemListing[]; total: number; more?: boolean },
  page: number,
  perPage: number,
): Html {
  // Past the count limit the number of pages is not known: a full page has a next one.
  const pages = found.more
    ? Math.max(page + (found.items.length === perPage ? 1 : 0), Math.ceil(found.total / perPage))
    : Math.max(1, Math.ceil(found.total / perPage));
  const count = found.more ? `More than ${found.total.toLocaleString('en-US')}` : String(found.total);
  const link = (p: number) => `/search?q=${encodeURIComponent(q)}&page=${p}`;
  return layout(
    { ...ctx, query: q },
    q ? `Search: ${q}` : 'Search',
    html`<h1>Search</h1>
<form class="search" role="search" action="/search" method="get">
<label for="q">Gem name or words in its summary</label>
<input id="q" type="search" name="q" value="${q}" autofocus>
<button type="submit">Search</button>
</form>
${
  q === ''
    ? html`<p class="muted">Type a name, part of a name, or words from a summary.</p>`
    : found.total === 0
      ? html`<p>No gems match <strong>${q}</strong>.</p>`
      : html`<p class="muted">${count} ${found.total === 1 && !found.more ? 'gem matches' : 'gems match'} <strong>${q}</strong>${pages > 1 ? (found.more ? `, page ${page}` : `, page ${page} of ${pages}`) : ''}.</p>
<ul class="list" aria-label="Search results">${found.items.map(listing)}</ul>
${
  pages > 1
    ? html`<nav class="pages" aria-label="Pagination">${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">Previous page</a>` : ''}${page < pages ? html`<a href="${link(page + 1)}" rel="next">Next page</a>` : ''}</nav>`
    : ''
}`
}`,
  );
}

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

function field(id: string, label: string, input: Html, hint?: string): Html {
  return html`<div class="field"><label for="${id}">${label}</label>${input}${hint ? html`<span class="hint" id="${id}-hint">${hint}</span>` : ''}</div>`;
}

const keyField = (autofocus = false) =>
  field(
    'api_key',
    'API key',
    html`<input id="api_key" name="api_key" type="password" autocomplete="off" required aria-describedby="api_key-hint"${autofocus ? html` autofocus` : ''}>`,
    'A key made by quarry keys create, with the scope this needs.',
  );

export function uploadPage(
  ctx: PageCtx,
  result?: { error?: string; message?: string; status?: number },
): Html {
  return layout(
    ctx,
    'Upload a gem',
    html`<h1>Upload a gem</h1>
${result?.error ? html`<div class="error" role="alert"><strong>Upload refused${result.status ? ` (${result.status})` : ''}:</strong> ${result.error}</div>` : ''}
${result?.message ? html`<p class="notice" role="status">${result.message}</p>` : ''}
<form action="/upload/form" method="post" enctype="multipart/form-data">
<input type="hidden" name="_csrf" value="${ctx.csrf}">
${keyField()}
${field('gem', 'Gem file (.gem)', html`<input id="gem" name="gem" type="file" accept=".gem" required>`)}
<button type="submit">Upload</button>
</form>
<p class="muted">The same checks as <code>gem push</code>: a version is immutable once pushed.</p>`,
  );
}

export function yankPage(
  ctx: PageCtx,
  v: VersionRecord,
  action: 'yank' | 'unyank',
  error?: { message: string; status: number },
): Html {
  const verb = action === 'yank' ? 'Yank' : 'Unyank';
  return layout(
    ctx,
    `${verb} ${v.name} ${v.number}`,
    html`<h1>${verb} ${v.name} ${v.number}${v.platform === 'ruby' ? '' : ` (${v.platform})`}?</h1>
${error ? html`<div class="error" role="alert"><strong>${verb} refused (${error.status}):</strong> ${error.message}</div>` : ''}
<p>${
      action === 'yank'
        ? 'A yanked version is no longer installable from this server. It can be unyanked later.'
        : 'The version becomes installable again.'
    }</p>
<form action="${versionPath(v.name, v.number, v.platform).replace(/(\?|$)/, `/${action}$1`)}" method="post">
<input type="hidden" name="_csrf" value="${ctx.csrf}">
<input type="hidden" name="confirm" value="yes">
${keyField(true)}
<button type="submit" class="${action === 'yank' ? 'danger' : ''}">${verb} ${v.number}</button>
<a href="${gemPath(v.name)}">Cancel</a>
</form>`,
  );
}

export function signinPage(ctx: PageCtx, error?: string): Html {
  return layout(
    ctx,
    'Sign in',
    html`<h1>Sign in</h1>
<p>This server's gems are private. Give a key with the read scope to browse them.</p>
${error ? html`<div class="error" role="alert">${error}</div>` : ''}
<form action="/signin" method="post">
<input type="hidden" name="_csrf" value="${ctx.csrf}">
${field('api_key', 'API key', html`<input id="api_key" name="api_key" type="password" autocomplete="current-password" required autofocus>`)}
<button type="submit">Sign in</button>
</form>`,
    { noSearch: true },
  );
}

export function errorPage(ctx: PageCtx, status: number, title: string, message: Part): Html {
  return layout(
    ctx,
    title,
    html`<h1>${title}</h1>
<p class="error" role="alert">${message}</p>
<p><a href="/">Go to the home page</a> or search for a gem above.</p>
<p class="muted">HTTP ${status}</p>`,
  );
}

export function atomFeed(base: string, versions: VersionRecord[], updated: string): string {
  const x = escapeXml;
  const entries = versions
    .map((v) => {
      const url = `${base}${versionPath(v.name, v.number, v.platform)}`;
      return `<entry>
<title>${x(`${v.name} ${v.number}${v.platform === 'ruby' ? '' : ` (${v.platform})`}`)}</title>
<id>${x(`${base}/gems/${fileName(v.name, v.number, v.platform)}`)}</id>
<link rel="alternate" type="text/html" href="${x(url)}"/>
<updated>${x(v.createdAt)}</updated>
<author><name>${x(v.spec.authors.join(', ') || 'unknown')}</name></author>
<summary type="text">${x(v.spec.summary)}</summary>
</entry>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>Quarry: recent pushes</title>
<id>${x(`${base}/feed.atom`)}</id>
<link rel="self" type="application/atom+xml" href="${x(`${base}/feed.atom`)}"/>
<link rel="alternate" type="text/html" href="${x(`${base}/`)}"/>
<updated>${x(updated)}</updated>
${entries}
</feed>
`;
}
