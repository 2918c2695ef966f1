/** The web UI's one stylesheet and one small script, served by the server (no build, no CDN). */
import { createHash } from 'node:crypto';

export const CSS = `:root{color-scheme:light dark;--bg:#ffffff;--fg:#1b1f24;--muted:#4d5761;--line:#d0d7de;--panel:#f6f8fa;
--link:#0550ae;--accent:#0550ae;--accent-fg:#ffffff;--bad:#a40e26;--bad-bg:#ffebe9;--ok:#116329;--ok-bg:#dafbe1;
--cache:#5a32a3;--cache-bg:#f3eefc;--focus:#bf3989}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#a3acb6;--line:#3d444d;--panel:#161b22;
--link:#79c0ff;--accent:#1f6feb;--accent-fg:#ffffff;--bad:#ff9492;--bad-bg:#3c1618;--ok:#7ee787;--ok-bg:#12261e;
--cache:#d2a8ff;--cache-bg:#271c3b;--focus:#ff9bce}}
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;background:var(--bg);color:var(--fg)}
body{margin:0}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible,code[tabindex]:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--bg);padding:.5rem}
.skip:focus{left:.5rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header.site{border-bottom:1px solid var(--line);background:var(--panel)}
header.site .bar{max-width:72rem;margin:0 auto;padding:.75rem 1rem;display:flex;flex-wrap:wrap;gap:.75rem 1.5rem;align-items:center}
header.site .brand{font-weight:700;font-size:1.2rem;text-decoration:none;color:var(--fg)}
header.site nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
form.search{display:flex;gap:.5rem;flex:1 1 16rem}
input[type=search],input[type=text],input[type=password],input[type=file]{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--muted);border-radius:6px;padding:.4rem .6rem;min-width:0}
form.search input{flex:1}
button,.button{font:inherit;cursor:pointer;border:1px solid var(--accent);background:var(--accent);color:var(--accent-fg);border-radius:6px;padding:.4rem .9rem;text-decoration:none;display:inline-block}
button.secondary{background:transparent;color:var(--link);border-color:var(--line)}
button.danger{background:var(--bad);border-color:var(--bad);color:var(--bg)}
main{max-width:72rem;margin:0 auto;padding:1rem}
footer.site{max-width:72rem;margin:2rem auto;padding:1rem;color:var(--muted);border-top:1px solid var(--line)}
h1{font-size:1.8rem;margin:.5rem 0;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin-top:2rem}
.muted{color:var(--muted)}
.counts{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:1rem;padding:0;list-style:none}
.counts li{border:1px solid var(--line);border-radius:8px;padding:1rem;background:var(--panel)}
.counts strong{display:block;font-size:1.8rem}
.list{list-style:none;padding:0;margin:0}
.list li{border-bottom:1px solid var(--line);padding:.6rem 0}
.list .summary{display:block;color:var(--muted);overflow-wrap:anywhere}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9rem}
.copyable{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.4rem 0}
.copyable code{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.35rem .6rem;overflow-wrap:anywhere}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
td.sha{font-family:ui-monospace,monospace;font-size:.8rem;overflow-wrap:anywhere;max-width:18rem}
.badge{display:inline-block;border-radius:999px;padding:0 .55rem;font-size:.8rem;font-weight:600;border:1px solid currentColor}
.badge.yanked{color:var(--bad);background:var(--bad-bg)}
.badge.hosted{color:var(--ok);background:var(--ok-bg)}
.badge.cached,.badge.mirrored,.badge.upstream{color:var(--cache);background:var(--cache-bg)}
tr.yanked td{color:var(--muted)}
.notice{border:1px solid var(--ok);background:var(--ok-bg);padding:.75rem 1rem;border-radius:6px}
.error{border:1px solid var(--bad);background:var(--bad-bg);padding:.75rem 1rem;border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere}
.field{display:flex;flex-direction:column;gap:.25rem;margin:.8rem 0;max-width:32rem}
.field .hint{color:var(--muted);font-size:.9rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.description{white-space:pre-wrap;overflow-wrap:anywhere}
nav.pages{display:flex;gap:1rem;margin:1rem 0}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem 2rem}
@media (max-width:40rem){h1{font-size:1.4rem}th.opt,td.opt{display:none}}
`;

export const JS = `(function(){'use strict';
function copy(text){if(navigator.clipboard&&window.isSecureContext){return navigator.clipboard.writeText(text)}
var t=document.createElement('textarea');t.value=text;t.setAttribute('readonly','');t.className='visually-hidden';document.body.appendChild(t);t.select();
try{document.execCommand('copy')}finally{document.body.removeChild(t)}return Promise.resolve()}
document.addEventListener('click',function(e){var b=e.target instanceof Element?e.target.closest('button[data-copy]'):null;if(!b)return;
var el=document.getElementById(b.getAttribute('data-copy'));if(!el)return;var status=document.getElementById('copy-status');
copy(el.textContent||'').then(function(){b.textContent='Copied';b.setAttribute('data-copied','true');if(status)status.textContent='Copied: '+el.textContent;
setTimeout(function(){b.textContent='Copy'},2000)},function(){if(status)status.textContent='Copy failed: select the text and copy it'})});
document.addEventListener('submit',function(e){var f=e.target;if(!(f instanceof HTMLFormElement))return;var m=f.getAttribute('data-confirm');
if(m&&!window.confirm(m))e.preventDefault()});
})();
`;

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);
export const CSS_PATH = `/assets/quarry-${hash(CSS)}.css`;
export const JS_PATH = `/assets/quarry-${hash(JS)}.js`;
