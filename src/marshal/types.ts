/**
 * The value model of the Ruby Marshal 4.8 writer and reader (PROTOCOL.md section 2). Pure data.
 *
 * Identity matters: the writer emits an `@` link when it meets the same JS object (array, RString,
 * RHash, ...) a second time, as Ruby does for the same Ruby object. Plain JS strings, numbers and
 * bigints have no identity and are always written out afresh.
 */

/** `'utf8'` writes `E true`, `'ascii'` (US-ASCII) `E false`, `'binary'` (ASCII-8BIT) no ivar. */
export type StringEncoding = 'utf8' | 'ascii' | 'binary' | 'other';

/** An instance variable or hash entry list, in stream order. Ivar names keep their `@`. */
export type IvarList = [name: string, value: RValue][];

export interface RString {
  type: 'string';
  /** A JS string is written as its UTF-8 bytes (whatever the encoding tag); bytes are written as is. */
  value: string | Uint8Array;
  encoding: StringEncoding;
  /** The encoding name when `encoding` is `'other'`, e.g. `'ISO-8859-1'` (written as `:encoding`). */
  encodingName?: string;
  /** Extra ivars after the encoding ivar (e.g. `@taguri`); rare. */
  ivars?: IvarList;
}

export interface RSymbol {
  type: 'symbol';
  name: string;
}

export interface RFloat {
  type: 'float';
  value: number;
}

export interface RHash {
  type: 'hash';
  entries: [key: RValue, value: RValue][];
  /** Present for `}` (Hash with a default value). */
  default?: RValue;
  ivars?: IvarList;
}

/** `o`: a plain object, class name plus ivars. */
export interface RObject {
  type: 'object';
  className: string;
  ivars: IvarList;
}

/** `U`: `marshal_dump` / `marshal_load`; `data` is the dumped value. */
export interface RUserMarshal {
  type: 'userMarshal';
  className: string;
  data: RValue;
}

/** `u`: `_dump` / `_load`; raw bytes, optionally with ivars on the dumped string (`I u ...`). */
export interface RUserDefined {
  type: 'userDefined';
  className: string;
  bytes: Uint8Array;
  ivars?: IvarList;
}

/** `C`: an instance of a user subclass of String, Array, Hash or Regexp. */
export interface RUserClass {
  type: 'userClass';
  className: string;
  value: RValue;
}

/** `e`: an object extended with modules (outermost first). */
export interface RExtended {
  type: 'extended';
  modules: string[];
  value: RValue;
}

/** `c` / `m`: a reference to a class or module by name. */
export interface RClassRef {
  type: 'class' | 'module';
  name: string;
}

/**
 * A Marshal value. `number` must be an integer (floats are RFloat); integers in
 * −2**30 … 2**30−1 are written as Fixnum `i`, others as Bignum `l`. The reader returns `number`
 * for safe integers and `bigint` beyond. JS arrays are Ruby Arrays.
 */
export type RValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | RString
  | RSymbol
  | RFloat
  | RValue[]
  | RHash
  | RObject
  | RUserMarshal
  | RUserDefined
  | RUserClass
  | RExtended
  | RClassRef;

// Small constructors, so callers and tests read like the Ruby they stand for.

export const str = (value: string | Uint8Array, encoding: StringEncoding = 'utf8'): RString => ({
  type: 'string',
  value,
  encoding,
});
export const sym = (name: string): RSymbol => ({ type: 'symbol', name });
export const float = (value: number): RFloat => ({ type: 'float', value });
export const hash = (entries: [RValue, RValue][], defaultValue?: RValue): RHash =>
  defaultValue === undefined ? { type: 'hash', entries } : { type: 'hash', entries, default: defaultValue };
export const obj = (className: string, ivars: IvarList): RObject => ({ type: 'object', className, ivars });
export const userMarshal = (className: string, data: RValue): RUserMarshal => ({
  type: 'userMarshal',
  className,
  data,
});
export const userDefined = (className: string, bytes: Uint8Array, ivars?: IvarList): RUserDefined =>
  ivars ? { type: 'userDefined', className, bytes, ivars } : { type: 'userDefined', className, bytes };

/** The text of a Ruby String (or a plain JS string); undefined for anything else. Bytes decode as UTF-8. */
export function stringOf(v: RValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && v.type === 'string') {
    return typeof v.value === 'string' ? v.value : Buffer.from(v.value).toString('utf8');
  }
  return undefined;
}

/** Narrowing helpers for readers of loaded data. */
export const isRString = (v: RValue | undefined): v is RString =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && v.type === 'string';
export const isRHash = (v: RValue | undefined): v is RHash =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && v.type === 'hash';
export const isRSymbol = (v: RValue | undefined): v is RSymbol =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && v.type === 'symbol';
export const isRObject = (v: RValue | undefined): v is RObject =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && v.type === 'object';
export const isRUserMarshal = (v: RValue | undefined): v is RUserMarshal =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && v.type === 'userMarshal';
export const isRUserDefined = (v: RValue | undefined): v is RUserDefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && v.type === 'userDefined';
