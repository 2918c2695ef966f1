/**
 * Ruby Marshal 4.8 writer (PROTOCOL.md section 2). Pure: values in, one Buffer out.
 *
 * It keeps Ruby's two tables: a symbol table (repeated symbols become `;n`) and an object table
 * (a JS object written twice becomes `@n`). Objects are numbered when they start, except `u`
 * (`_dump`) objects, which Ruby numbers after their ivars.
 */
import { QuarryError } from '../errors.ts';
import { formatFloat } from './float.ts';
import type { IvarList, RString, RSymbol, RValue } from './types.ts';

const FIXNUM_MIN = -(2 ** 30);
const FIXNUM_MAX = 2 ** 30 - 1;
const DEFAULT_MAX_DEPTH = 3000;

const fail = (message: string): never => {
  throw new QuarryError('marshal', message);
};

interface Prefix {
  modules: string[];
  userClass: string | undefined;
}

export class MarshalWriter {
  private buf: Buffer;
  private pos = 0;
  private readonly symbols = new Map<string, number>();
  private readonly objects = new Map<object, number>();
  private objectCount = 0;
  private readonly maxDepth: number;

  constructor(options: { sizeHint?: number; maxDepth?: number } = {}) {
    this.buf = Buffer.allocUnsafe(Math.max(64, options.sizeHint ?? 1024));
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  }

  /** Writes the `04 08` header. */
  header(): this {
    this.byte(4);
    this.byte(8);
    return this;
  }

  /** The bytes written so far (a copy, so the writer can be dropped). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    if (this.pos >= this.buf.length) this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Marshal's variable-length *long* (section 2.2), shortest form. */
  long(n: number): void {
    if (!Number.isInteger(n) || n < -(2 ** 31) || n > 2 ** 31 - 1) fail(`long out of range: ${n}`);
    this.ensure(5);
    const b = this.buf;
    if (n === 0) {
      b[this.pos++] = 0;
    } else if (n > 0 && n < 123) {
      b[this.pos++] = n + 5;
    } else if (n < 0 && n > -124) {
      b[this.pos++] = (n - 5) & 0xff;
    } else {
      const at = this.pos++;
      let k = 0;
      let x = n;
      for (; k < 4; k++) {
        b[this.pos++] = x & 0xff;
        x >>= 8;
        if (n >= 0 ? x === 0 : x === -1) {
          k++;
          break;
        }
      }
      b[at] = n >= 0 ? k : 256 - k;
    }
  }

  /** A *long* length followed by raw bytes. */
  bytes(data: Uint8Array): void {
    this.long(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** A *long* length followed by the UTF-8 bytes of `s`. */
  text(s: string): void {
    const n = s.length;
    if (n <= 64 && isAscii(s)) {
      this.long(n);
      this.ensure(n);
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
      this.pos = p;
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.long(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  /** A Symbol, or `;n` when it was written before. Non-ASCII names get their UTF-8 `E` ivar. */
  symbol(name: string): void {
    const known = this.symbols.get(name);
    if (known !== undefined) {
      this.byte(0x3b); // ;
      this.long(known);
      return;
    }
    const ascii = isAscii(name);
    if (!ascii) this.byte(0x49); // I
    this.byte(0x3a); // :
    this.text(name);
    this.symbols.set(name, this.symbols.size);
    if (!ascii) {
      this.long(1);
      this.symbol('E');
      this.byte(0x54);
    }
  }

  // Low-level API for hot paths that track sharing themselves (e.g. 100,000-tuple indexes).
  // Each begin*/string call returns the object index that a later link() can point to.

  /** Starts an Array of `length` elements; write the elements next. */
  beginArray(length: number): number {
    const index = this.remember(undefined);
    this.byte(0x5b);
    this.long(length);
    return index;
  }

  /** Starts a `U` object of `className`; write its data value next. */
  beginUserMarshal(className: string): number {
    const index = this.remember(undefined);
    this.byte(0x55);
    this.symbol(className);
    return index;
  }

  /** A complete String, UTF-8 unless told otherwise. */
  string(value: string, encoding: 'utf8' | 'ascii' | 'binary' = 'utf8'): number {
    const index = this.remember(undefined);
    this.stringBody(value, encoding, undefined, undefined, 0);
    return index;
  }

  /** `@index`: the object written earlier with that index. */
  link(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.objectCount)
      fail(`no object ${index} to link to`);
    this.byte(0x40);
    this.long(index);
  }

  /** Takes the next object index, optionally binding it to a JS object for later links. */
  private remember(o: object | undefined): number {
    const index = this.objectCount++;
    if (o !== undefined) this.objects.set(o, index);
    return index;
  }

  /** Writes one value (no header). */
  write(v: RValue, depth = 0): void {
    if (depth > this.maxDepth) fail(`nesting deeper than ${this.maxDepth}`);
    if (v === null) this.byte(0x30);
    else if (v === true) this.byte(0x54);
    else if (v === false) this.byte(0x46);
    else if (typeof v === 'number') this.integer(v);
    else if (typeof v === 'bigint') this.bigint(v);
    else if (typeof v === 'string') {
      this.remember(undefined);
      this.stringBody(v, 'utf8', undefined, undefined, depth);
    } else if (!Array.isArray(v) && v.type === 'symbol') this.symbol(v.name);
    else this.object(v, depth);
  }

  /** A value that takes an object index: a link when it was written before. */
  private object(
    v: Exclude<RValue, null | boolean | number | bigint | string | RSymbol>,
    depth: number,
  ): void {
    const link = this.objects.get(v);
    if (link !== undefined) {
      this.byte(0x40); // @
      this.long(link);
      return;
    }
    if (Array.isArray(v)) {
      this.wrapped(v, depth);
      return;
    }
    if (v.type === 'class' || v.type === 'module') {
      this.remember(v);
      this.byte(v.type === 'class' ? 0x63 : 0x6d);
      this.text(v.name);
      return;
    }
    if (v.type === 'float') {
      this.remember(v);
      this.byte(0x66); // f
      this.text(formatFloat(v.value));
      return;
    }
    if (v.type === 'object') {
      this.remember(v);
      this.byte(0x6f); // o
      this.symbol(v.className);
      this.ivarPairs(v.ivars, depth);
      return;
    }
    if (v.type === 'userMarshal') {
      this.remember(v);
      this.byte(0x55); // U
      this.symbol(v.className);
      this.write(v.data, depth + 1);
      return;
    }
    if (v.type === 'userDefined') {
      const ivars = v.ivars ?? [];
      if (ivars.length > 0) this.byte(0x49);
      this.byte(0x75); // u
      this.symbol(v.className);
      this.bytes(v.bytes);
      if (ivars.length > 0) this.ivarPairs(ivars, depth);
      this.remember(v); // Ruby numbers a _dump object after its ivars
      return;
    }
    this.wrapped(v, depth);
  }

  /** Strings, arrays, hashes, possibly inside `e` (extended) and `C` (user class) wrappers. */
  private wrapped(v: RValue & object, depth: number): void {
    const modules: string[] = [];
    let userClass: string | undefined;
    let core: RValue = v;
    for (;;) {
      if (core === null || typeof core !== 'object' || Array.isArray(core)) break;
      if (core.type === 'extended') {
        modules.push(...core.modules);
        core = core.value;
      } else if (core.type === 'userClass') {
        if (userClass !== undefined) fail('nested user-class wrappers');
        userClass = core.className;
        core = core.value;
      } else break;
    }
    if (core !== v && (modules.length > 0 || userClass !== undefined)) {
      if (core === null || typeof core !== 'object' || this.objects.has(core)) {
        fail('a user-class or extended wrapper must hold a fresh String, Array, Hash or Object');
      }
    }
    const index = this.remember(v);
    if (core !== v && typeof core === 'object' && core !== null) this.objects.set(core, index);
    const prefix = modules.length > 0 || userClass !== undefined ? { modules, userClass } : undefined;
    if (Array.isArray(core)) {
      this.prefix(prefix);
      this.byte(0x5b); // [
      this.long(core.length);
      for (const item of core) this.write(item, depth + 1);
      return;
    }
    if (typeof core === 'string') {
      this.stringBody(core, 'utf8', undefined, prefix, depth);
      return;
    }
    if (core === null || typeof core !== 'object' || core.type === 'symbol') {
      fail('a wrapper must hold an object');
      return;
    }
    if (core.type === 'string') {
      this.stringBody(core.value, core.encoding, core, prefix, depth);
      return;
    }
    if (core.type === 'hash') {
      const ivars = core.ivars ?? [];
      if (ivars.length > 0) this.byte(0x49);
      this.prefix(prefix);
      const hasDefault = core.default !== undefined;
      this.byte(hasDefault ? 0x7d : 0x7b); // } or {
      this.long(core.entries.length);
      for (const [k, val] of core.entries) {
        this.write(k, depth + 1);
        this.write(val, depth + 1);
      }
      if (hasDefault) this.write(core.default ?? null, depth + 1);
      if (ivars.length > 0) this.ivarPairs(ivars, depth);
      return;
    }
    if (core.type === 'object') {
      this.prefix(prefix);
      this.byte(0x6f);
      this.symbol(core.className);
      this.ivarPairs(core.ivars, depth);
      return;
    }
    fail(`cannot wrap a ${core.type} in a user-class or extended marker`);
  }

  /** The `e` (extended) and `C` (user class) markers that go between `I` and the type byte. */
  private prefix(p: Prefix | undefined): void {
    if (!p) return;
    for (const m of p.modules) {
      this.byte(0x65); // e
      this.symbol(m);
    }
    if (p.userClass !== undefined) {
      this.byte(0x43); // C
      this.symbol(p.userClass);
    }
  }

  private stringBody(
    value: string | Uint8Array,
    encoding: RString['encoding'],
    s: RString | undefined,
    prefix: Prefix | undefined,
    depth: number,
  ): void {
    const extra = s?.ivars ?? [];
    const encIvar = encoding === 'binary' ? 0 : 1;
    const count = encIvar + extra.length;
    if (count > 0) this.byte(0x49); // I
    this.prefix(prefix);
    this.byte(0x22); // "
    if (typeof value === 'string') this.text(value);
    else this.bytes(value);
    if (count === 0) return;
    this.long(count);
    if (encoding === 'utf8' || encoding === 'ascii') {
      this.symbol('E');
      this.byte(encoding === 'utf8' ? 0x54 : 0x46);
    } else if (encoding === 'other') {
      const name = s?.encodingName;
      if (!name) fail('a String with encoding "other" needs an encodingName');
      this.symbol('encoding');
      this.remember(undefined);
      this.byte(0x22);
      this.text(name ?? '');
    }
    for (const [k, val] of extra) {
      this.symbol(k);
      this.write(val, depth + 1);
    }
  }

  private ivarPairs(ivars: IvarList, depth: number): void {
    this.long(ivars.length);
    for (const [name, val] of ivars) {
      this.symbol(name);
      this.write(val, depth + 1);
    }
  }

  private integer(n: number): void {
    if (!Number.isInteger(n)) fail(`not an integer: ${n} (wrap floats with float())`);
    if (n >= FIXNUM_MIN && n <= FIXNUM_MAX) {
      this.byte(0x69); // i
      this.long(n);
      return;
    }
    if (!Number.isSafeInteger(n)) fail(`integer ${n} is not exact; pass a bigint`);
    this.bigint(BigInt(n));
  }

  private bigint(n: bigint): void {
    if (n >= BigInt(FIXNUM_MIN) && n <= BigInt(FIXNUM_MAX)) {
      this.integer(Number(n));
      return;
    }
    this.remember(undefined);
    this.byte(0x6c); // l
    this.byte(n < 0n ? 0x2d : 0x2b);
    let mag = n < 0n ? -n : n;
    const out: number[] = [];
    while (mag > 0n) {
      out.push(Number(mag & 0xffn));
      mag >>= 8n;
    }
    if (out.length % 2 === 1) out.push(0);
    this.long(out.length / 2);
    this.ensure(out.length);
    for (const b of out) this.buf[this.pos++] = b;
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** `Marshal.dump(value)`: header plus one value. */
export function dump(value: RValue, options?: { sizeHint?: number; maxDepth?: number }): Buffer {
  const w = new MarshalWriter(options);
  w.header();
  w.write(value);
  return w.finish();
}
