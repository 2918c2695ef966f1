/** The web UI's forms (upload, yank, sign in): pure functions from view data to escaped HTML. */
import type { VersionRecord } from '../catalog/types.ts';
import type { Html } from './html.ts';
import { html } from './html.ts';
import type { PageCtx } from './templates.ts';
import { gemPath, layout, versionPath } from './templates.ts';

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
