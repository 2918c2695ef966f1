/**
 * The `.gem` reader: bytes in, validated spec and checksums out (PROTOCOL.md sections 1.1 to 1.8).
 * Pure: no IO. `data.tar.gz` stays opaque: it is checksummed, never decompressed.
 *
 * Checks, in order: the size limit; the pre-2007 format (refused); the outer tar (tar.ts); the
 * entry names (metadata.gz or metadata, data.tar.gz, optional checksums.yaml.gz, `*.sig`; nothing
 * else); per-entry size limits; every digest in checksums.yaml.gz against the stored entry bytes;
 * then the gemspec: yaml-fast.ts for Psych-written YAML, else yaml.ts, then spec-from-yaml.ts.
 * Every error is a QuarryError naming the problem; callers add the file name with `err.about(file)`.
 */
import { hash as digestOf } from 'node:crypto';
import { QuarryError } from '../errors.ts';
import { gunzipBounded, isGzip } from './gzip.ts';
import { type GemLimits, gemLimits } from './limits.ts';
import type { GemSpec } from './spec.ts';
import { specFromYaml } from './spec-from-yaml.ts';
import { readTar, type TarEntry } from './tar.ts';
import { type GemChecksums, loadChecksumsYaml, loadRubyYaml } from './yaml.ts';
import { fastLoadGemspec } from './yaml-fast.ts';

export interface GemPackage {
  spec: GemSpec;
  /** Hex SHA-256 of the whole `.gem`. */
  sha256: string;
  /** Size of the whole `.gem` in bytes. */
  size: number;
  /** checksums.yaml.gz (algorithm => entry => hex digest), all verified; null when absent. */
  checksums: Record<string, Record<string, string>> | null;
  /** True when the gem has `*.sig` entries. Signatures are kept, not verified. */
  signed: boolean;
  /** The outer tar's entry names, in stored order. */
  entries: string[];
}

export interface ReadGemOptions {
  limits?: Partial<GemLimits>;
  /** The hex SHA-256 of `bytes`, when the caller has just computed it (a mirror checks it first). */
  sha256?: string;
}

/** Digest algorithms a checksums.yaml.gz may use, by name as written, to node:crypto names. */
const DIGESTS: Record<string, string> = {
  SHA1: 'sha1',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
};

const invalid = (message: string) => new QuarryError('invalid_gem', message);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Old-format gems start with a Ruby script; RubyGems looks for "MD5SUM =" in the first 20 bytes. */
function isOldFormat(bytes: Buffer): boolean {
  return bytes.subarray(0, 20).includes('MD5SUM =');
}

function decode(data: Buffer, what: string): string {
  try {
    return utf8.decode(data);
  } catch {
    throw invalid(`${what} is not valid UTF-8`);
  }
}

interface Parts {
  metadata: TarEntry;
  data: TarEntry;
  checksums: TarEntry | undefined;
  signed: boolean;
}

function classify(entries: TarEntry[], limits: GemLimits): Parts {
  let metadata: TarEntry | undefined;
  let data: TarEntry | undefined;
  let checksums: TarEntry | undefined;
  let signed = false;
  const tooBig = (e: TarEntry, max: number) => {
    if (e.size > max) {
      throw new QuarryError('limit_exceeded', `${e.name} is ${e.size} bytes, over the ${max}-byte limit`);
    }
  };
  for (const e of entries) {
    if (e.name === 'metadata.gz' || e.name === 'metadata') {
      if (metadata) throw invalid(`gem has both ${metadata.name} and ${e.name}`);
      tooBig(e, limits.maxMetadataSize);
      metadata = e;
    } else if (e.name === 'data.tar.gz') {
      data = e;
    } else if (e.name === 'checksums.yaml.gz') {
      tooBig(e, limits.maxChecksumsSize);
      checksums = e;
    } else if (e.name.endsWith('.sig')) {
      tooBig(e, limits.maxSignatureSize);
      signed = true;
    } else {
      throw invalid(
        `unexpected entry ${JSON.stringify(e.name)}: a gem holds only metadata.gz, data.tar.gz, ` +
          'checksums.yaml.gz and *.sig',
      );
    }
  }
  if (!metadata) throw invalid('gem has no metadata.gz');
  if (!data) throw invalid('gem has no data.tar.gz');
  if (!isGzip(data.data)) throw invalid('data.tar.gz is not gzip data');
  return { metadata, data, checksums, signed };
}

/** Verify every digest listed in checksums.yaml.gz; return them as plain objects. */
function verifyChecksums(listed: GemChecksums, entries: TarEntry[]): Record<string, Record<string, string>> {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const out: Record<string, Record<string, string>> = {};
  for (const [algo, digests] of Object.entries(listed)) {
    const hash = DIGESTS[algo];
    if (!hash) throw invalid(`checksums.yaml.gz: unsupported checksum algorithm ${JSON.stringify(algo)}`);
    const verified: Record<string, string> = {};
    for (const [name, hex] of Object.entries(digests)) {
      const entry = byName.get(name);
      if (!entry || name.endsWith('.sig') || name === 'checksums.yaml.gz') {
        throw invalid(
          `checksums.yaml.gz lists ${algo} of ${JSON.stringify(name)}, which is not a checksummed entry`,
        );
      }
      if (digestOf(hash, entry.data, 'hex') !== hex) {
        throw invalid(`${algo} checksum mismatch for ${name}`);
      }
      verified[name] = hex;
    }
    out[algo] = verified;
  }
  return out;
}

/**
 * Read and validate a `.gem`. Throws QuarryError: invalid_gem for a corrupt or hostile package,
 * limit_exceeded when a limit is hit, and invalid_spec, invalid_name, invalid_version,
 * invalid_platform or invalid_requirement for a bad gemspec.
 */
export function readGem(bytes: Buffer, options: ReadGemOptions = {}): GemPackage {
  const limits = gemLimits(options.limits);
  if (bytes.length > limits.maxGemSize) {
    throw new QuarryError(
      'limit_exceeded',
      `gem is ${bytes.length} bytes, over the ${limits.maxGemSize}-byte limit`,
    );
  }
  if (isOldFormat(bytes)) {
    throw invalid('old-format gem (pre-2007, "MD5SUM =" header): this format is not supported');
  }
  if (bytes.length === 0) throw invalid('gem is empty');
  const entries = readTar(bytes, { maxEntries: limits.maxEntries, maxEntrySize: limits.maxGemSize });
  const parts = classify(entries, limits);
  const gunzipLimits = (maxOutput: number) => ({
    maxOutput,
    maxRatio: limits.maxExpansionRatio,
    graceSize: limits.expansionGraceSize,
  });
  const yamlLimits = { maxAliasCount: limits.maxYamlAliasCount, maxAnchors: limits.maxYamlAnchors };

  let checksums: Record<string, Record<string, string>> | null = null;
  if (parts.checksums) {
    const raw = gunzipBounded(
      parts.checksums.data,
      'checksums.yaml.gz',
      gunzipLimits(limits.maxChecksumsSize),
    );
    const what = 'checksums.yaml.gz';
    const listed = loadChecksumsYaml(decode(raw, what), {
      what,
      maxLength: limits.maxChecksumsSize,
      ...yamlLimits,
    });
    checksums = verifyChecksums(listed, entries);
  }

  const { metadata } = parts;
  const yaml =
    metadata.name === 'metadata.gz'
      ? gunzipBounded(metadata.data, 'metadata.gz', gunzipLimits(limits.maxMetadataSize))
      : metadata.data;
  const what = metadata.name;
  const text = decode(yaml, what);
  // Psych-written gemspecs take the fast reader; anything else (or anything wrong) the full loader.
  const root =
    fastLoadGemspec(text) ??
    loadRubyYaml(text, { what, code: 'invalid_spec', maxLength: limits.maxMetadataSize, ...yamlLimits });
  const spec = specFromYaml(root, limits);

  return {
    spec,
    sha256: options.sha256 ?? digestOf('sha256', bytes, 'hex'),
    size: bytes.length,
    checksums,
    signed: parts.signed,
    entries: entries.map((e) => e.name),
  };
}
