/**
 * The Marshal bodies a gem server serves (PROTOCOL.md sections 2–4): specs.4.8-style tuple lists,
 * quick gemspecs and /api/v1/dependencies records; plus readers for the same shapes (used when
 * proxying an upstream index, and in tests). Pure.
 */
import { QuarryError } from '../errors.ts';
import { gemVersion } from './gem-objects.ts';
import type { ReadOptions } from './reader.ts';
import { load } from './reader.ts';
import type { RHash, RString, RValue } from './types.ts';
import { hash, isRHash, isRSymbol, isRUserMarshal, str, stringOf, sym } from './types.ts';
import { dump, MarshalWriter } from './writer.ts';

export { deflateQuickSpec, dumpQuickSpec, quickSpecFields, sanitizeSummary } from './quick-spec.ts';

export interface SpecTuple {
  name: string;
  version: string;
  platform: string;
}

export interface DependencyRecord {
  name: string;
  number: string;
  platform: string;
  dependencies: ReadonlyArray<readonly [string, string]>;
}

/** `Marshal.dump(Gem::Version.new(v))`. */
export const dumpGemVersion = (version: string): Buffer => dump(gemVersion(version));

/** Returns a function that hands out one shared value per distinct key. */
function sharing<T>(make: (key: string) => T): (key: string) => T {
  const seen = new Map<string, T>();
  return (key) => {
    let v = seen.get(key);
    if (v === undefined) {
      v = make(key);
      seen.set(key, v);
    }
    return v;
  };
}

/**
 * The specs.4.8 / latest_specs.4.8 / prerelease_specs.4.8 body: an Array of
 * `[name String, Gem::Version, platform String]`, in the given order. Like `gem generate_index`
 * (Gem::Indexer#compact_specs), it shares one String per distinct name, one per distinct platform
 * and one Gem::Version per distinct version string, so the bytes match RubyGems 3.3's. An empty
 * platform is written as "ruby".
 */
export function dumpSpecTuples(tuples: ReadonlyArray<SpecTuple>): Buffer {
  // Written with the writer's low-level calls: no value objects per tuple, so 100,000 tuples take
  // a few tens of milliseconds. The Gem::Version shape is the one of gemVersion().
  const names = new Map<string, number>();
  const versions = new Map<string, number>();
  const platforms = new Map<string, number>();
  const w = new MarshalWriter({ sizeHint: 64 + tuples.length * 40 });
  w.header();
  w.beginArray(tuples.length);
  for (let i = 0; i < tuples.length; i++) {
    const t = tuples[i] as SpecTuple;
    w.beginArray(3);
    const n = names.get(t.name);
    if (n === undefined) names.set(t.name, w.string(t.name));
    else w.link(n);
    const v = versions.get(t.version);
    if (v === undefined) {
      versions.set(t.version, w.beginUserMarshal('Gem::Version'));
      w.beginArray(1);
      w.string(t.version);
    } else w.link(v);
    const platform = t.platform === '' ? 'ruby' : t.platform;
    const p = platforms.get(platform);
    if (p === undefined) platforms.set(platform, w.string(platform));
    else w.link(p);
  }
  return w.finish();
}

/**
 * The /api/v1/dependencies Marshal body: an Array of Hashes with Symbol keys `:name`, `:number`,
 * `:platform`, `:dependencies` (Array of `[name, requirement]`). As in the bytes of PROTOCOL.md 4.2,
 * one String per distinct platform is shared; everything else is written afresh. No nil anywhere.
 */
export function dumpDependencyRecords(records: ReadonlyArray<DependencyRecord>): Buffer {
  const platform = sharing<RString>((s) => str(s));
  const list: RValue[] = records.map(
    (r): RHash =>
      hash([
        [sym('name'), str(r.name)],
        [sym('number'), str(r.number)],
        [sym('platform'), platform(r.platform === '' ? 'ruby' : r.platform)],
        [sym('dependencies'), r.dependencies.map(([n, req]) => [str(n), str(req)])],
      ]),
  );
  return dump(list, { sizeHint: 64 + records.length * 96 });
}

const bad = (what: string): never => {
  throw new QuarryError('marshal', what);
};

/** The version string inside a loaded `Gem::Version`. */
export function versionOf(v: RValue | undefined): string {
  if (!isRUserMarshal(v) || v.className !== 'Gem::Version') return bad('expected a Gem::Version');
  const data = v.data;
  const s = Array.isArray(data) ? stringOf(data[0]) : undefined;
  if (s === undefined) return bad('Gem::Version data is not [String]');
  return s;
}

/** Reads a specs.4.8-style body back into tuples, in file order. */
export function loadSpecTuples(bytes: Uint8Array, options?: ReadOptions): SpecTuple[] {
  const root = load(bytes, options);
  if (!Array.isArray(root)) return bad('specs index is not an Array');
  return root.map((item, i) => {
    if (!Array.isArray(item) || item.length !== 3)
      return bad(`specs index entry ${i} is not a 3-element Array`);
    const name = stringOf(item[0]);
    const platform = stringOf(item[2]);
    if (name === undefined || platform === undefined)
      return bad(`specs index entry ${i} has a non-String field`);
    return { name, version: versionOf(item[1]), platform };
  });
}

/** Reads an /api/v1/dependencies Marshal body back into records. */
export function loadDependencyRecords(bytes: Uint8Array, options?: ReadOptions): DependencyRecord[] {
  const root = load(bytes, options);
  if (!Array.isArray(root)) return bad('dependency response is not an Array');
  return root.map((item, i) => {
    if (!isRHash(item)) return bad(`dependency record ${i} is not a Hash`);
    const field = (key: string): RValue | undefined =>
      item.entries.find(([k]) => (isRSymbol(k) ? k.name : stringOf(k)) === key)?.[1];
    const text = (key: string): string =>
      stringOf(field(key)) ?? bad(`dependency record ${i}: ${key} is not a String`);
    const deps = field('dependencies');
    if (!Array.isArray(deps)) return bad(`dependency record ${i}: dependencies is not an Array`);
    return {
      name: text('name'),
      number: text('number'),
      platform: text('platform'),
      dependencies: deps.map((d): [string, string] => {
        const n = Array.isArray(d) ? stringOf(d[0]) : undefined;
        const req = Array.isArray(d) ? stringOf(d[1]) : undefined;
        if (n === undefined || req === undefined) return bad(`dependency record ${i}: bad dependency pair`);
        return [n, req];
      }),
    };
  });
}
