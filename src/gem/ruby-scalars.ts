/**
 * The Ruby values a gemspec's YAML holds, and Psych's rules for typing a plain scalar
 * (ScalarScanner#tokenize): shared by the full loader (yaml.ts) and the fast one (yaml-fast.ts).
 * Pure: no IO.
 */
/** A `:symbol` scalar. Only :runtime and :development load. */
export class RubySymbol {
  constructor(readonly name: string) {}
}

/** A Time or Date scalar, reduced to its calendar day (all a gemspec keeps of it). */
export class RubyDate {
  constructor(
    readonly year: number,
    readonly month: number,
    readonly day: number,
  ) {}
}

/** A Float scalar, with the text it was read from. */
export class RubyFloat {
  constructor(
    readonly value: number,
    readonly source: string,
  ) {}
}

/** An Integer scalar too large for a JS number. */
export class RubyInteger {
  constructor(readonly value: bigint) {}
}

export const PERMITTED_SYMBOLS: readonly string[] = ['runtime', 'development'];

// Psych::ScalarScanner (Psych 4.0): how an untagged plain scalar is typed. Ruby's \s is [ \t\r\n\f\v].
const WORDISH = /^[^\d.:-]?[\p{Alphabetic}_ \t\r\n\f\v!@#$%^&*(){}<>|/\\~;=]+/u;
const TIME =
  /^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|[ \t\r\n\f\v]+)\d{1,2}:\d\d:\d\d(?:\.\d*)?(?:[ \t\r\n\f\v]*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$/;
const DATE = /^(\d{4})-(1[012]|0\d|\d)-([12]\d|3[01]|0\d|\d)$/;
const SEXAGESIMAL_INT = /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}$/;
const SEXAGESIMAL_FLOAT = /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}\.[0-9_]*$/;
const FLOAT = /^[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?$/;
const INTEGER =
  /^(?:[-+]?0b[0-1_,]+|[-+]?0[0-7_,]+|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[0-9a-fA-F_,]+)$/;

function calendarDay(y: number, m: number, d: number, hh = 0, mm = 0, ss = 0): RubyDate {
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d);
  t.setUTCHours(hh, mm, ss);
  return new RubyDate(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
}

/** Psych's parse_time, reduced to the calendar day; null where Ruby's Time.utc raises. */
function parseTime(s: string): RubyDate | null {
  const [, y = '', m = '', d = '', hh = '', mm = '', ss = ''] =
    /^(-?\d{4})-(\d{1,2})-(\d{1,2})[ \t\r\n\f\vTt]+(\d+):(\d+):(\d+)/.exec(s) ?? [];
  const [month, day, hour, min, sec] = [m, d, hh, mm, ss].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || min > 59 || sec > 60) return null;
  // With "Z" or no zone Ruby reads the fields as UTC; with an offset the local fields keep the day.
  return calendarDay(Number(y), month, day, hour, min, sec);
}

function isRealDate(y: number, m: number, d: number): boolean {
  const t = calendarDay(y, m, d);
  return t.year === y && t.month === m && t.day === d;
}

function parseInteger(s: string): number | RubyInteger | string {
  const clean = s.replace(/[,_]/g, '');
  const negative = clean.startsWith('-');
  const body = clean.replace(/^[-+]/, '');
  const literal = /^0[bx]/.test(body) ? body : /^0\d/.test(body) ? `0o${body.slice(1)}` : body;
  let n: bigint;
  try {
    n = BigInt(literal);
  } catch {
    return s;
  }
  if (negative) n = -n;
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(n)
    : new RubyInteger(n);
}

function sexagesimal(s: string, float: boolean): number | RubyFloat {
  const parts = s.split(':');
  let total = 0;
  parts.forEach((p, e) => {
    const n = float ? Number.parseFloat(p.replace(/_/g, '')) : Number.parseInt(p.replace(/_/g, ''), 10);
    total += (Number.isNaN(n) ? 0 : n) * 60 ** Math.abs(e - 2);
  });
  return float ? new RubyFloat(total, s) : total;
}

function symbol(s: string): RubySymbol {
  const quoted = /^:(["'])(.*)\1/.exec(s);
  const name = quoted ? (quoted[2] ?? '').replace(/^:/, '') : s.slice(1);
  if (!PERMITTED_SYMBOLS.includes(name)) {
    throw new Error(`symbol :${name} is not permitted (only :runtime and :development are)`);
  }
  return new RubySymbol(name);
}

export type RubyScalar = null | boolean | number | string | RubySymbol | RubyDate | RubyFloat | RubyInteger;

/**
 * Psych's ScalarScanner#tokenize: the Ruby value of an untagged plain scalar. With `asFloat`, the
 * value of a `!!float` scalar. Throws for a symbol other than :runtime and :development.
 */
export function tokenize(s: string, asFloat = false): RubyScalar {
  const v = tokenizePlain(s);
  if (!asFloat) return v;
  if (typeof v === 'number') return new RubyFloat(v, s);
  if (v instanceof RubyFloat) return v;
  throw new Error(`${JSON.stringify(s)} is not a float`);
}

function tokenizePlain(s: string): RubyScalar {
  if (s === '') return null;
  // The common case, decided without the Unicode regex: over five characters starting with an ASCII
  // letter is a word (WORDISH matches it), so a String.
  const c = s.charCodeAt(0) | 32;
  if (s.length > 5 && c >= 97 && c <= 122) return s;
  if (WORDISH.test(s) || s.includes('\n')) {
    if (s.length > 5 || /^[^ytonf~]/i.test(s)) return s;
    if (s === '~' || /^null$/i.test(s)) return null;
    if (/^(yes|true|on)$/i.test(s)) return true;
    if (/^(no|false|off)$/i.test(s)) return false;
    return s;
  }
  if (TIME.test(s)) return parseTime(s) ?? s;
  const date = DATE.exec(s);
  if (date) {
    const [y, m, d] = [Number(date[1]), Number(date[2]), Number(date[3])];
    return isRealDate(y, m, d) ? new RubyDate(y, m, d) : s;
  }
  if (/^\+?\.inf$/i.test(s)) return new RubyFloat(Number.POSITIVE_INFINITY, s);
  if (/^-\.inf$/i.test(s)) return new RubyFloat(Number.NEGATIVE_INFINITY, s);
  if (/^\.nan$/i.test(s)) return new RubyFloat(Number.NaN, s);
  if (/^:./.test(s)) return symbol(s);
  if (SEXAGESIMAL_INT.test(s)) return sexagesimal(s, false);
  if (SEXAGESIMAL_FLOAT.test(s)) return sexagesimal(s, true);
  if (FLOAT.test(s)) {
    if (/^[-+]?\.$/.test(s)) return s;
    const n = Number(s.replace(/[,_]|\.([Ee]|$)/g, '$1'));
    return Number.isNaN(n) ? s : new RubyFloat(n, s);
  }
  if (INTEGER.test(s)) return parseInteger(s);
  return s;
}

/** A Ruby object of one of the permitted classes: its instance variables by name, in order. */
export class RubyObject extends Map<unknown, unknown> {
  /** The Ruby class name, e.g. "Gem::Version". */
  className = '';
}

export const PERMITTED_CLASSES = [
  'Gem::Specification',
  'Gem::Version',
  'Gem::Requirement',
  'Gem::Version::Requirement',
  'Gem::Dependency',
  'Gem::Platform',
] as const;
