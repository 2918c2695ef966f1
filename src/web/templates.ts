/** The web UI's pages: pure functions from view data to escaped HTML (html.ts). No business logic. */
import type { GemCounts, GemListing, VersionRecord } from '../catalog/types.ts';
import { CSS_PATH, JS_PATH } from './assets.ts';
import type { Html, Part } from './html.ts';
import { escapeXml, html } from './html.ts';

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

export const fileName = (name: string, number: string, platform: string) =>
  platform === 'ruby' ? `${name}-${number}` : `${name}-${number}-${platform}`;
export const gemPath = (name: string) => `/gems/${encodeURIComponent(name)}`;
export const versionPath = (name: string, number: string, platform = 'ruby') =>
  `/gems/${encodeURIComponent(name)}/versions/${encodeURIComponent(number)}${
    platform === 'ruby' ? '' : `?platform=${encodeURIComponent(platform)}`
  }`;
export const day = (iso: string) => iso.slice(0, 10);
export const kb = (n: number) =>
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
export function copyable(label: string, text: string, id?: string): Html {
  const cid = id ?? `copy-${++copyIds}`;
  return html`<div class="copyable"><span class="visually-hidden">${label}:</span><code id="${cid}">${text}</code><button type="button" class="secondary" data-copy="${cid}" aria-label="Copy ${label}">Copy</button></div>`;
}

export function originBadge(origin: string | null | undefined): Html {
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
