/**
 * Ruby Marshal 4.8 reader (PROTOCOL.md section 2). Pure: bytes in, RValue out.
 *
 * Resolves `@` object links (to the same JS object) and `;` symbol links, unwraps `I` ivars into
 * string encodings, and numbers objects exactly as Ruby's reader does (`u` objects after their
 * ivars). Bounded: nesting depth, element counts and byte lengths are checked against limits and
 * against the bytes left, so hostile input fails fast with a QuarryError('marshal').
 */
import { QuarryError } from '../errors.ts';
import type { IvarList, RString, RValue, StringEncoding } from './types.ts';

export interface ReadOptions {
  /** Deepest nesting of containers allowed (default 64). */
  maxDepth?: number;
  /** Largest element count or byte length of any one item (default 64 Mi). */
  maxLength?: number;
  /** Most objects in one stream (default 16 Mi). */
  maxObjects?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const TYPE_NAMES: Record<number, string> = {
  47: 'Regexp',
  83: 'Struct',
  77: 'old module',
  100: 'Data',
};

class Reader {
  private pos = 0;
  private readonly symbols: string[] = [];
  private readonly objects: RValue[] = [];
  private readonly maxDepth: number;
  private readonly maxLength: number;
  private readonly maxObjects: number;
  private readonly buf: Buffer;

  constructor(input: Uint8Array, options: ReadOptions) {
    this.buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.length);
    this.maxDepth = options.maxDepth ?? 64;
    this.maxLength = options.maxLength ?? 64 * 1024 * 1024;
    this.maxObjects = options.maxObjects ?? 16 * 1024 * 1024;
  }

  fail(message: string): never {
    throw new QuarryError('marshal', `${message} at byte ${this.pos}`);
  }

  run(): RValue {
    const major = this.byte();
    const minor = this.byte();
    // Like Ruby: major 4 only; an older minor version still reads.
    if (major !== 4 || minor > 8) this.fail(`unsupported Marshal version ${major}.${minor} (want 4.8)`);
    const v = this.value(0);
    if (this.pos !== this.buf.length)
      this.fail(`${this.buf.length - this.pos} trailing bytes after the value`);
    return v;
  }

  private byte(): number {
    const b = this.buf[this.pos];
    if (b === undefined) this.fail('truncated Marshal data');
    this.pos++;
    return b as number;
  }

  private long(): number {
    const c = this.byte();
    const signed = c > 127 ? c - 256 : c;
    if (signed === 0) return 0;
    if (signed > 4) return signed - 5;
    if (signed < -4) return signed + 5;
    if (signed > 0) {
      let x = 0;
      for (let i = 0; i < signed; i++) x += this.byte() * 2 ** (8 * i);
      return x;
    }
    const n = -signed;
    let x = 0;
    for (let i = 0; i < n; i++) x += this.byte() * 2 ** (8 * i);
    return x - 2 ** (8 * n);
  }

  /** A count or byte length: non-negative, within limits and within the bytes left. */
  private length(what: string, minBytesEach: number): number {
    const n = this.long();
    if (n < 0) this.fail(`negative ${what} ${n}`);
    if (n > this.maxLength) this.fail(`${what} ${n} exceeds the limit of ${this.maxLength}`);
    if (n * minBytesEach > this.buf.length - this.pos) this.fail(`truncated Marshal data (${what} ${n})`);
    return n;
  }

  /** The next length-prefixed bytes, as a view into the input. */
  private rawBytes(): Buffer {
    const n = this.length('byte length', 1);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private rawText(): string {
    const n = this.length('byte length', 1);
    const start = this.pos;
    this.pos += n;
    return decodeRange(this.buf, start, this.pos) ?? this.buf.toString('latin1', start, this.pos);
  }

  private register<T extends RValue>(v: T): T {
    if (this.objects.length >= this.maxObjects) this.fail(`more than ${this.maxObjects} objects`);
    this.objects.push(v);
    return v;
  }

  private symbolAfterType(type: number): string {
    if (type === 0x3a) {
      const name = this.rawText();
      this.symbols.push(name);
      return name;
    }
    if (type === 0x3b) {
      const i = this.long();
      const name = this.symbols[i];
      if (name === undefined) this.fail(`symbol link ${i} out of range (${this.symbols.length} symbols)`);
      return name as string;
    }
    if (type === 0x49) {
      // A symbol with an encoding: I :name <ivars>
      const inner = this.byte();
      if (inner !== 0x3a) this.fail('expected a Symbol inside the ivar wrapper');
      const name = this.rawText();
      this.symbols.push(name);
      this.ivars(0);
      return name;
    }
    return this.fail(`expected a Symbol, found type byte 0x${type.toString(16)}`);
  }

  private symbol(): string {
    return this.symbolAfterType(this.byte());
  }

  private ivars(depth: number): IvarList {
    const n = this.length('ivar count', 2);
    const out: IvarList = [];
    for (let i = 0; i < n; i++) {
      const name = this.symbol();
      out.push([name, this.value(depth + 1)]);
    }
    return out;
  }

  private value(depth: number): RValue {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
    const type = this.byte();
    switch (type) {
      case 0x30:
        return null;
      case 0x54:
        return true;
      case 0x46:
        return false;
      case 0x69:
        return this.long();
      case 0x3a:
      case 0x3b:
        return { type: 'symbol', name: this.symbolAfterType(type) };
      case 0x40: {
        const i = this.long();
        if (i < 0 || i >= this.objects.length)
          this.fail(`object link ${i} out of range (${this.objects.length} objects)`);
        return this.objects[i] as RValue;
      }
      case 0x49:
        return this.withIvars(depth);
      default:
        return this.plain(type, depth, undefined);
    }
  }

  /** `I`: the wrapped object, then its ivars (encoding for Strings). */
  private withIvars(depth: number): RValue {
    const start = this.pos;
    const type = this.byte();
    if (type === 0x3a) {
      this.pos = start;
      return { type: 'symbol', name: this.symbolAfterType(0x49) };
    }
    if (type === 0x75) {
      const className = this.symbol();
      const bytes = Buffer.from(this.rawBytes());
      const ivars = this.ivars(depth);
      return this.register({ type: 'userDefined', className, bytes, ivars });
    }
    const slot = this.objects.length;
    const inner = this.plain(type, depth, slot);
    const ivars = this.ivars(depth);
    let target: RValue = inner;
    while (target !== null && typeof target === 'object' && !Array.isArray(target)) {
      if (target.type === 'userClass' || target.type === 'extended') target = target.value;
      else break;
    }
    if (target === null || typeof target !== 'object' || Array.isArray(target)) {
      return this.fail('instance variables on an Array or immediate value are not supported');
    }
    if (target.type === 'string') {
      applyStringIvars(target, ivars);
    } else if (target.type === 'hash') {
      target.ivars = ivars;
    } else {
      this.fail(`instance variables on a ${target.type} are not supported`);
    }
    return inner;
  }

  /**
   * A value with an object type byte. `slot` is the object index when the caller already knows it
   * (inside `I`, `C` and `e`, which do not take one of their own).
   */
  private plain(type: number, depth: number, slot: number | undefined): RValue {
    switch (type) {
      case 0x22: {
        const s: RString = { type: 'string', value: '', encoding: 'binary' };
        this.register(s);
        const n = this.length('byte length', 1);
        const start = this.pos;
        this.pos += n;
        s.value = decodeRange(this.buf, start, this.pos) ?? Buffer.from(this.buf.subarray(start, this.pos));
        return s;
      }
      case 0x5b: {
        const arr: RValue[] = [];
        this.register(arr);
        const n = this.length('array length', 1);
        for (let i = 0; i < n; i++) arr.push(this.value(depth + 1));
        return arr;
      }
      case 0x7b:
      case 0x7d: {
        const h: { type: 'hash'; entries: [RValue, RValue][]; default?: RValue } = {
          type: 'hash',
          entries: [],
        };
        this.register(h);
        const n = this.length('hash size', 2);
        for (let i = 0; i < n; i++) {
          const k = this.value(depth + 1);
          h.entries.push([k, this.value(depth + 1)]);
        }
        if (type === 0x7d) h.default = this.value(depth + 1);
        return h;
      }
      case 0x6c: {
        const sign = this.byte();
        if (sign !== 0x2b && sign !== 0x2d) this.fail('bad Bignum sign byte');
        const words = this.length('Bignum length', 2);
        let mag = 0n;
        for (let i = 2 * words - 1; i >= 0; i--) mag = (mag << 8n) | BigInt(this.buf[this.pos + i] ?? 0);
        this.pos += 2 * words;
        const n = sign === 0x2d ? -mag : mag;
        const v =
          n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
        this.register(v);
        return v;
      }
      case 0x66: {
        const text = this.rawText();
        const v = { type: 'float' as const, value: parseFloatText(text) };
        if (Number.isNaN(v.value) && text !== 'nan') this.fail(`bad Float ${JSON.stringify(text)}`);
        return this.register(v);
      }
      case 0x6f: {
        const o = { type: 'object' as const, className: '', ivars: [] as IvarList };
        this.register(o);
        o.className = this.symbol();
        o.ivars = this.ivars(depth);
        return o;
      }
      case 0x55: {
        const u = { type: 'userMarshal' as const, className: '', data: null as RValue };
        this.register(u);
        u.className = this.symbol();
        u.data = this.value(depth + 1);
        return u;
      }
      case 0x75: {
        const className = this.symbol();
        const bytes = Buffer.from(this.rawBytes());
        return this.register({ type: 'userDefined', className, bytes });
      }
      case 0x43: {
        const className = this.symbol();
        const index = slot ?? this.objects.length;
        const wrapper = { type: 'userClass' as const, className, value: null as RValue };
        wrapper.value = this.plain(this.byte(), depth + 1, index);
        this.objects[index] = wrapper;
        return wrapper;
      }
      case 0x65: {
        const module = this.symbol();
        const index = slot ?? this.objects.length;
        const inner = this.plain(this.byte(), depth + 1, index);
        const wrapper =
          inner !== null && typeof inner === 'object' && !Array.isArray(inner) && inner.type === 'extended'
            ? { type: 'extended' as const, modules: [module, ...inner.modules], value: inner.value }
            : { type: 'extended' as const, modules: [module], value: inner };
        this.objects[index] = wrapper;
        return wrapper;
      }
      case 0x63:
      case 0x6d:
        return this.register({ type: type === 0x63 ? 'class' : 'module', name: this.rawText() });
      default: {
        const name = TYPE_NAMES[type];
        return this.fail(
          name
            ? `unsupported Marshal type ${name}`
            : `unknown Marshal type byte 0x${type.toString(16).padStart(2, '0')}`,
        );
      }
    }
  }
}

/** buf[start, end) as text when it is valid UTF-8 (ASCII fast path), else undefined. */
function decodeRange(buf: Buffer, start: number, end: number): string | undefined {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if ((buf[i] as number) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString('latin1', start, end);
  try {
    return utf8.decode(buf.subarray(start, end));
  } catch {
    return undefined;
  }
}

function parseFloatText(text: string): number {
  if (text === 'inf') return Number.POSITIVE_INFINITY;
  if (text === '-inf') return Number.NEGATIVE_INFINITY;
  if (text === 'nan') return Number.NaN;
  // Old Ruby versions appended mantissa bytes after a NUL; the text part is enough.
  const nul = text.indexOf('\0');
  const t = nul >= 0 ? text.slice(0, nul) : text;
  return /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t) ? Number(t) : Number.NaN;
}

function applyStringIvars(s: RString, ivars: IvarList): void {
  const rest: IvarList = [];
  let encoding: StringEncoding = 'binary';
  for (const [name, value] of ivars) {
    if (name === 'E' && typeof value === 'boolean') {
      encoding = value ? 'utf8' : 'ascii';
    } else if (name === 'encoding' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      if (value.type === 'string') {
        encoding = 'other';
        s.encodingName =
          typeof value.value === 'string' ? value.value : Buffer.from(value.value).toString('latin1');
      } else rest.push([name, value]);
    } else {
      rest.push([name, value]);
    }
  }
  s.encoding = encoding;
  if (rest.length > 0) s.ivars = rest;
}

/** `Marshal.load(bytes)`: one value, no trailing bytes. Throws QuarryError('marshal') on bad input. */
export function load(bytes: Uint8Array, options: ReadOptions = {}): RValue {
  return new Reader(bytes, options).run();
}
