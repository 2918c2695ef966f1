/**
 * A safe loader for the Ruby-tagged YAML inside `.gem` files (PROTOCOL.md sections 1.2 to 1.4),
 * built on the `yaml` package. Pure: no IO.
 *
 * It reads what Gem::SafeYAML.safe_load reads:
 * - the Ruby classes `Gem::Specification`, `Gem::Version`, `Gem::Requirement`,
 *   `Gem::Version::Requirement`, `Gem::Dependency` and `Gem::Platform`, as RubyObject maps;
 * - plain scalars typed as Psych types them (ScalarScanner#tokenize): nil, booleans (yes/no/on/off
 *   too), integers, floats, timestamps and dates (RubyDate), and `:symbol` scalars, of which only
 *   `:runtime` and `:development` are permitted;
 * - the standard tags `!!str`, `!!null`, `!!bool`, `!!int`, `!!float`, `!!timestamp`, `!!binary`,
 *   `!binary`, `!!map` and `!!seq`.
 * Any other tag is refused, naming the tag. Merge keys (`<<`) are refused rather than merged.
 * Anchors and aliases are allowed (old RubyGems wrote them) within two limits: the `yaml`
 * package's `maxAliasCount` stops expansion bombs, and a cap on the number of anchors and of
 * aliases bounds the work of resolving them. Mappings load as Maps, so keys keep their types.
 *
 * The `yaml` package is loaded on first use: gemspecs Psych wrote take yaml-fast.ts, and the
 * checksums layout RubyGems writes is read here without it, so most runs never load it.
 */
import { createRequire } from 'node:module';
import type { CollectionTag, Document, ScalarTag, Schema as YamlSchema } from 'yaml';
import type { ErrorCode } from '../errors.ts';
import { QuarryError } from '../errors.ts';
import { PERMITTED_CLASSES, RubyObject, tokenize } from './ruby-scalars.ts';

export type { RubyScalar } from './ruby-scalars.ts';
export {
  PERMITTED_CLASSES,
  PERMITTED_SYMBOLS,
  RubyDate,
  RubyFloat,
  RubyInteger,
  RubyObject,
  RubySymbol,
  tokenize,
} from './ruby-scalars.ts';

const OBJECT_PREFIX = '!ruby/object:';
const Y = 'tag:yaml.org,2002:';

const decodeBinary = (s: string): string => Buffer.from(s.replace(/\s+/g, ''), 'base64').toString('utf8');

/** Explicit standard tags: Psych types the value as if it were plain, except str, binary and float. */
const standardTags: ScalarTag[] = [
  ...['null', 'bool', 'int', 'timestamp'].map(
    (t): ScalarTag => ({ tag: `${Y}${t}`, resolve: (s) => tokenize(s) }),
  ),
  { tag: `${Y}float`, resolve: (s) => tokenize(s, true) },
  { tag: `${Y}binary`, resolve: decodeBinary },
  { tag: '!binary', resolve: decodeBinary },
];

/** The tags allowed on each kind of node ("!" is YAML's non-specific tag). */
const RUBY_TAGS = PERMITTED_CLASSES.map((name) => `${OBJECT_PREFIX}${name}`);
const MAP_TAGS = new Set<string>([...RUBY_TAGS, `${Y}map`, '!']);
const SEQ_TAGS = new Set<string>([`${Y}seq`, '!']);
const SCALAR_TAGS = new Set<string>([...standardTags.map((t) => t.tag), `${Y}str`, '!']);

type YamlPackage = typeof import('yaml');
let loaded: { pkg: YamlPackage; schema: YamlSchema } | undefined;

/** The `yaml` package and the Ruby schema built on it, made on first use. */
function yamlParser(): { pkg: YamlPackage; schema: YamlSchema } {
  if (loaded) return loaded;
  const pkg = createRequire(import.meta.url)('yaml') as YamlPackage;
  /** The map node class of the permitted Ruby objects: converts to a RubyObject. */
  class RubyObjectNode extends pkg.YAMLMap {
    override toJSON(
      _?: unknown,
      ctx?: Parameters<InstanceType<YamlPackage['YAMLMap']>['toJSON']>[1],
    ): RubyObject {
      const obj = super.toJSON(_, ctx, RubyObject) as RubyObject;
      obj.className = (this.tag ?? '').slice(OBJECT_PREFIX.length);
      return obj;
    }
  }
  const rubyTags: CollectionTag[] = RUBY_TAGS.map((tag) => ({
    tag,
    collection: 'map',
    nodeClass: RubyObjectNode,
  }));
  /** Every plain scalar goes through Psych's typing rules. */
  const psychPlain: ScalarTag = {
    tag: 'tag:quarry:psych-plain',
    default: true,
    test: /(?:)/,
    resolve: (s) => tokenize(s),
  };
  const schema = new pkg.Schema({
    schema: 'failsafe',
    customTags: (tags) => [psychPlain, ...tags, ...standardTags, ...rubyTags],
    merge: false,
    resolveKnownTags: false,
  });
  loaded = { pkg, schema };
  return loaded;
}

export interface RubyYamlOptions {
  /** The file being read, used in error messages ("metadata.gz"). */
  what: string;
  /** The error code for malformed YAML: invalid_spec for a gemspec, invalid_gem for checksums. */
  code: ErrorCode;
  /** Largest document accepted, in characters. */
  maxLength: number;
  /** Passed to the `yaml` package as `maxAliasCount`. */
  maxAliasCount: number;
  /** Most anchors, and most aliases, in the document. */
  maxAnchors: number;
}

function lineOf(src: string, offset: number | undefined): string {
  if (offset === undefined) return '';
  let line = 1;
  for (let i = src.indexOf('\n'); i >= 0 && i < offset; i = src.indexOf('\n', i + 1)) line++;
  return ` (line ${line})`;
}

/** Refuse unknown tags and merge keys; count anchors and aliases. */
function inspectTree(pkg: YamlPackage, doc: Document, src: string, o: RubyYamlOptions): void {
  const { isAlias, isMap, isScalar, isSeq, visit } = pkg;
  let anchors = 0;
  let aliases = 0;
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) {
        if (++aliases > o.maxAnchors) {
          throw new QuarryError('limit_exceeded', `${o.what}: YAML has more than ${o.maxAnchors} aliases`);
        }
        return;
      }
      if (node.anchor && ++anchors > o.maxAnchors) {
        throw new QuarryError('limit_exceeded', `${o.what}: YAML has more than ${o.maxAnchors} anchors`);
      }
      const allowed = isMap(node) ? MAP_TAGS : isSeq(node) ? SEQ_TAGS : SCALAR_TAGS;
      if (node.tag !== undefined && !allowed.has(node.tag)) {
        const kind = node.tag.startsWith('!ruby/') ? 'Ruby class tag' : 'tag';
        throw new QuarryError(
          o.code,
          `${o.what}: YAML ${kind} ${node.tag} is not allowed${lineOf(src, node.range?.[0])}`,
        );
      }
    },
    Pair(_key, pair) {
      const k = pair.key;
      if (isScalar(k) && k.source === '<<' && k.type === 'PLAIN') {
        throw new QuarryError(
          o.code,
          `${o.what}: YAML merge keys (<<) are not allowed${lineOf(src, k.range?.[0])}`,
        );
      }
    },
  });
}

/**
 * Load one YAML document with Ruby tags. Returns plain JS values: Map for mappings (RubyObject
 * for the permitted classes), arrays, strings, numbers, booleans, null, and the Ruby scalar
 * classes above. Throws `o.code` for malformed YAML or forbidden tags and symbols, and
 * limit_exceeded when a limit is hit.
 */
export function loadRubyYaml(src: string, o: RubyYamlOptions): unknown {
  if (src.length > o.maxLength) {
    throw new QuarryError('limit_exceeded', `${o.what}: YAML document is over ${o.maxLength} characters`);
  }
  // libyaml (YAML 1.1) reads U+2028 and U+2029 as line breaks: folding keeps the break but drops
  // the blanks around it. The `yaml` package (YAML 1.2) reads them as plain characters.
  const text = /[\u2028\u2029]/.test(src) ? src.replace(/[ \t]*([\u2028\u2029])[ \t]*/g, '$1') : src;
  try {
    const { pkg, schema } = yamlParser();
    const doc = pkg.parseDocument(text, {
      schema,
      prettyErrors: false,
      uniqueKeys: true,
      logLevel: 'error',
    });
    const err = doc.errors[0];
    if (err) {
      throw new QuarryError(o.code, `${o.what}: invalid YAML: ${err.message}${lineOf(text, err.pos[0])}`);
    }
    inspectTree(pkg, doc, text, o);
    return doc.toJS({ mapAsMap: true, maxAliasCount: o.maxAliasCount });
  } catch (e) {
    if (e instanceof QuarryError) throw e;
    const message = e instanceof Error ? e.message : String(e);
    if (/Excessive alias count/.test(message)) {
      throw new QuarryError(
        'limit_exceeded',
        `${o.what}: YAML aliases expand past the limit of ${o.maxAliasCount} (an alias bomb?)`,
      );
    }
    if (e instanceof RangeError) {
      throw new QuarryError(o.code, `${o.what}: YAML is nested too deeply`, { cause: e });
    }
    // The yaml package says this with a ReferenceError; it is bad input, not a bug.
    const alias = /^Unresolved alias \(the anchor must be set before the alias\): ?(\S*)/.exec(message);
    if (alias) {
      throw new QuarryError(o.code, `${o.what}: invalid YAML: alias *${alias[1]} has no anchor before it`);
    }
    throw new QuarryError(o.code, `${o.what}: invalid YAML: ${message}`, { cause: e });
  }
}

/** checksums.yaml: algorithm name => entry name => hex digest. */
export type GemChecksums = Record<string, Record<string, string>>;

const FAST_ALGO = /^(SHA1|SHA256|SHA384|SHA512):$/;
// Psych quotes a digest that could read as a number (all digits, or a leading 0): both forms are plain hex.
const FAST_ENTRY = /^ {2}(metadata|metadata\.gz|data\.tar\.gz): (?:([0-9a-f]*[a-f][0-9a-f]*)|'([0-9a-f]+)')$/;

/**
 * The exact layout RubyGems writes (`---`, then `ALGO:` lines each followed by `  entry: hex`
 * lines), read without the YAML parser; null for anything else, which the YAML parser then reads.
 */
function fastChecksums(src: string): GemChecksums | null {
  const lines = src.split('\n');
  if (lines[0] !== '---' || lines.at(-1) !== '' || lines.length < 4) return null;
  const out: GemChecksums = Object.create(null);
  let current: Record<string, string> | null = null;
  let empty = false;
  for (let i = 1; i < lines.length - 1; i++) {
    const line = lines[i] ?? '';
    const entry = FAST_ENTRY.exec(line);
    if (entry) {
      const name = entry[1] ?? '';
      const hex = entry[2] ?? entry[3] ?? '';
      if (!current || Object.hasOwn(current, name)) return null;
      current[name] = hex;
      empty = false;
      continue;
    }
    const algo = FAST_ALGO.exec(line)?.[1];
    if (!algo || empty || Object.hasOwn(out, algo)) return null;
    current = Object.create(null) as Record<string, string>;
    out[algo] = current;
    empty = true;
  }
  return empty ? null : out;
}

/**
 * Load `checksums.yaml`: a mapping of algorithm name to a mapping of entry name to hex digest.
 * Returns an empty object for an empty document. Throws invalid_gem for any other shape.
 */
export function loadChecksumsYaml(src: string, o: Omit<RubyYamlOptions, 'code'>): GemChecksums {
  const fast = fastChecksums(src);
  if (fast) return fast;
  const value = loadRubyYaml(src, { ...o, code: 'invalid_gem' });
  const bad = (why: string) => new QuarryError('invalid_gem', `${o.what}: ${why}`);
  if (value === null || value === false) return Object.create(null);
  if (!(value instanceof Map) || value instanceof RubyObject) throw bad('is not a mapping of algorithms');
  const out: GemChecksums = Object.create(null);
  for (const [algo, entries] of value) {
    if (typeof algo !== 'string') throw bad(`algorithm name ${String(algo)} is not a string`);
    if (!(entries instanceof Map) || entries instanceof RubyObject) {
      throw bad(`${algo} is not a mapping of entry names to digests`);
    }
    const digests: Record<string, string> = Object.create(null);
    for (const [name, hex] of entries) {
      if (typeof name !== 'string') throw bad(`${algo} entry name ${String(name)} is not a string`);
      if (typeof hex !== 'string') throw bad(`${algo} digest of ${name} is not a string`);
      digests[name] = hex;
    }
    out[algo] = digests;
  }
  return out;
}
