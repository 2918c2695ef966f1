/**
 * A fast reader for the YAML that RubyGems (Psych/libyaml) writes into metadata.gz. Pure: no IO.
 *
 * The general loader (yaml.ts, on the `yaml` package) costs about a millisecond per gemspec, which
 * dominates indexing ten thousand gems. Psych's output is a narrow, regular subset: block mappings
 * and indentless block sequences, the permitted `!ruby/object:` tags, empty flow collections, plain,
 * single- and double-quoted scalars, and literal block scalars. This reader handles exactly that
 * subset and produces the same values as loadRubyYaml (plain scalars go through the same Psych
 * typing, `tokenize`). On anything else it returns null and the caller falls back to the general
 * loader, which also owns every error message: this reader never decides that input is invalid.
 * A differential test over real and generated gemspecs keeps the two in agreement.
 */
import { PERMITTED_CLASSES, RubyObject, tokenize } from './yaml.ts';

/** Thrown internally to abandon the fast path. */
class Unsupported extends Error {}
const bail = (): never => {
  throw new Unsupported();
};

const TAG_PREFIX = '!ruby/object:';
const PERMITTED = new Set<string>(PERMITTED_CLASSES);

interface Line {
  indent: number;
  /** The text after the indentation. */
  text: string;
}

/** A plain scalar Psych might write: no indicator first, no ": " or " #" inside. */
function plain(text: string): unknown {
  if (text === '') return null;
  const c = text[0]!;
  if ('[]{}#&*!|>\'"%@`,'.includes(c)) bail();
  if ((c === '-' || c === '?' || c === ':') && (text.length === 1 || text[1] === ' ')) bail();
  if (text.includes(': ') || text.includes(' #') || text.endsWith(':') || text.includes('\t')) bail();
  try {
    return tokenize(text);
  } catch {
    return bail();
  }
}

function singleQuoted(text: string): string {
  // 'it''s' on one line.
  if (text.length < 2 || text.at(-1) !== "'") bail();
  const body = text.slice(1, -1);
  if (/'(?!')/.test(body.replace(/''/g, ''))) bail();
  return body.replace(/''/g, "'");
}

const ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\u0085',
  _: '\u00a0',
  L: '\u2028',
  P: '\u2029',
};

function doubleQuoted(text: string): string {
  if (text.length < 2 || text.at(-1) !== '"') bail();
  const body = text.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '"') bail();
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const e = body[++i];
    if (e === undefined) return bail();
    const simple = ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      continue;
    }
    const width = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const hex = body.slice(i + 1, i + 1 + width);
    if (width === 0 || !/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== width) bail();
    out += String.fromCodePoint(Number.parseInt(hex, 16));
    i += width;
  }
  return out;
}

/** A scalar written on one line (the value part after "key: " or "- "). */
function inlineScalar(text: string): unknown {
  if (text === '[]') return [];
  if (text === '{}') return new Map();
  if (text[0] === "'") return singleQuoted(text);
  if (text[0] === '"') return doubleQuoted(text);
  return plain(text);
}

class Reader {
  private i = 0;

  constructor(private readonly lines: Line[]) {}

  done(): boolean {
    return this.i >= this.lines.length;
  }

  private peek(): Line | undefined {
    return this.lines[this.i];
  }

  /**
   * The value that follows "key:" or "- " whose own text is `rest`; nested lines are deeper than
   * `parentIndent` (for a mapping value, an indentless sequence may sit at `parentIndent` itself).
   */
  value(rest: string, parentIndent: number, inMapping: boolean): unknown {
    if (rest.startsWith(TAG_PREFIX)) {
      const cls = rest.slice(TAG_PREFIX.length);
      if (!PERMITTED.has(cls)) bail();
      const next = this.peek();
      if (!next || next.indent <= parentIndent || next.text.startsWith('- ')) bail();
      const obj = new RubyObject();
      obj.className = cls;
      this.mapping(next!.indent, obj);
      return obj;
    }
    if (rest === '|' || rest === '|-' || rest === '|+') return this.literal(rest, parentIndent);
    if (rest !== '') return inlineScalar(this.continued(rest, parentIndent));
    const next = this.peek();
    if (!next) return null;
    if (next.text === '-' || next.text.startsWith('- ')) {
      if (next.indent > parentIndent || (inMapping && next.indent === parentIndent)) return this.sequence(next.indent);
      return null;
    }
    if (next.indent > parentIndent) return this.mapping(next.indent, new Map());
    return null;
  }

  mapping(indent: number, into: Map<unknown, unknown>): Map<unknown, unknown> {
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      const t = line.text;
      if (t.startsWith('- ') || t === '-') break;
      let key: unknown;
      let rest: string;
      if (t[0] === '"' || t[0] === "'") {
        const close = t.indexOf(`${t[0]}:`, 1);
        if (close < 0) bail();
        key = t[0] === '"' ? doubleQuoted(t.slice(0, close + 1)) : singleQuoted(t.slice(0, close + 1));
        rest = t.slice(close + 2);
      } else {
        const colon = t.indexOf(':');
        if (colon <= 0) bail();
        const keyText = t.slice(0, colon);
        if (keyText === '<<') bail(); // a merge key: the general loader refuses it
        key = plain(keyText);
        rest = t.slice(colon + 1);
      }
      if (rest !== '' && rest[0] !== ' ') bail();
      rest = rest.trim();
      if (typeof key !== 'string' || into.has(key)) bail();
      this.i++;
      into.set(key, this.value(rest, indent, true));
    }
    return into;
  }

  sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      const t = line.text;
      if (t === '-') {
        this.i++;
        out.push(this.value('', indent, false));
        continue;
      }
      if (!t.startsWith('- ')) break;
      const rest = t.slice(2);
      if (rest.startsWith('- ')) {
        // "- - item": a nested sequence whose first item sits two columns in.
        this.lines[this.i] = { indent: indent + 2, text: rest };
        out.push(this.sequence(indent + 2));
        continue;
      }
      if (rest.startsWith(TAG_PREFIX) || /^[^'"\s][^:]*:( |$)/.test(rest) || /^['"].*['"]:( |$)/.test(rest)) {
        if (!rest.startsWith(TAG_PREFIX)) {
          // "- key: value": a mapping whose first key sits two columns in.
          this.lines[this.i] = { indent: indent + 2, text: rest };
          out.push(this.mapping(indent + 2, new Map()));
          continue;
        }
      }
      this.i++;
      out.push(this.value(rest.trim(), indent, false));
    }
    return out;
  }

  /**
   * A flow scalar wrapped over several lines (libyaml wraps at 80 columns): continuation lines are
   * deeper than the parent. Returns the scalar with its line breaks folded as YAML folds them.
   */
  continued(first: string, parentIndent: number): string {
    const parts = [first];
    let blank = 0;
    while (!this.done()) {
      const line = this.peek()!;
      if (line.text === '') {
        blank++;
        this.i++;
        continue;
      }
      if (line.indent <= parentIndent) break;
      parts.push('\n'.repeat(blank) + line.text);
      blank = 0;
      this.i++;
    }
    if (blank > 0) bail();
    if (parts.length === 1) return first;
    const q = first[0];
    if (q === '"') {
      // An escaped line break ("\" at the end of a line) joins without a space.
      let out = '';
      for (let k = 0; k < parts.length; k++) {
        let p = parts[k]!;
        const breaks = /^\n*/.exec(p)![0].length;
        p = p.slice(breaks);
        if (k === 0) out = p;
        else if (out.endsWith('\\') && !out.endsWith('\\\\')) out = out.slice(0, -1) + p;
        else out += (breaks > 0 ? '\\n'.repeat(breaks) : ' ') + p;
      }
      return out;
    }
    // Plain and single-quoted: a break between lines is a space; each blank line is a newline.
    let out = '';
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k]!;
      const breaks = /^\n*/.exec(p)![0].length;
      if (k === 0) out = p;
      else out += breaks > 0 ? '\n'.repeat(breaks) + p.slice(breaks) : ` ${p}`;
    }
    if (q !== "'" && out.includes('\n')) bail();
    return out;
  }

  /** A literal block scalar: `|` keeps one final newline, `|-` none, `|+` all. */
  literal(header: string, parentIndent: number): string {
    const body: string[] = [];
    let contentIndent = -1;
    while (!this.done()) {
      const line = this.peek()!;
      if (line.text === '') {
        body.push('');
        this.i++;
        continue;
      }
      if (line.indent <= parentIndent) break;
      if (contentIndent < 0) contentIndent = line.indent;
      if (line.indent < contentIndent) bail();
      body.push(' '.repeat(line.indent - contentIndent) + line.text);
      this.i++;
    }
    if (contentIndent < 0) bail();
    let trailing = 0;
    while (body.length > 0 && body.at(-1) === '') {
      body.pop();
      trailing++;
    }
    const text = body.join('\n');
    if (header === '|-') return text;
    if (header === '|') return `${text}\n`;
    return `${text}\n${'\n'.repeat(trailing)}`;
  }
}

/**
 * The gemspec as loadRubyYaml would return it, or null when the document is outside the subset
 * this reader handles (the caller then uses loadRubyYaml).
 */
export function loadPsychGemspec(src: string): RubyObject | null {
  if (!src.startsWith(`--- ${TAG_PREFIX}Gem::Specification\n`)) return null;
  if (src.includes('\r') || src.includes('\t')) return null;
  const raw = src.split('\n');
  raw.shift();
  if (raw.at(-1) === '') raw.pop();
  const lines: Line[] = [];
  for (const r of raw) {
    if (r === '...' || r.startsWith('---') || r.startsWith('%')) return null;
    const text = r.trimStart();
    if (text.startsWith('#')) return null;
    if (text !== '' && r.endsWith(' ')) return null;
    lines.push({ indent: r.length - text.length, text });
  }
  try {
    const reader = new Reader(lines);
    const root = new RubyObject();
    root.className = 'Gem::Specification';
    reader.mapping(0, root);
    if (!reader.done()) return null;
    return root;
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
}
