/**
 * Escaped HTML as data: `html` escapes every interpolated value unless it is already Html (made by
 * `html` or `raw`). Gem metadata is untrusted: it reaches pages only through these, and URLs only
 * through safeUrl (http and https).
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export const escapeHtml = (s: string): string => s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);

/** Trusted markup, as it is. */
export const raw = (s: string): Html => new Html(s);

export type Part = Html | string | number | null | undefined | false | readonly Part[];

const render = (p: Part): string => {
  if (p === null || p === undefined || p === false) return '';
  if (p instanceof Html) return p.value;
  if (Array.isArray(p)) return (p as readonly Part[]).map(render).join('');
  return escapeHtml(String(p));
};

export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < parts.length; i++) out += render(parts[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** The URL when it is an absolute http(s) URL, else null (javascript:, data:, relative, malformed). */
export function safeUrl(u: unknown): string | null {
  if (typeof u !== 'string' || u.length > 2048) return null;
  const t = u.trim();
  if (!/^https?:\/\//i.test(t)) return null;
  try {
    const url = new URL(t);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** Text for XML (Atom): the same escapes. */
export const escapeXml = escapeHtml;
