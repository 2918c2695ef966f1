/**
 * Limits applied while reading a `.gem`. Every size is in bytes. Pure data: no IO.
 *
 * The defaults accept every gem RubyGems itself would build and install, and stop hostile input
 * (gzip bombs, YAML alias bombs, huge entry tables) early and with bounded memory.
 */
export interface GemLimits {
  /** Largest `.gem` file accepted. Default 512 MiB (larger than any gem on rubygems.org). */
  maxGemSize: number;
  /**
   * Most entries in the outer tar. RubyGems writes 3 entries, or 6 in a signed gem. Default 16.
   */
  maxEntries: number;
  /**
   * Largest decompressed `metadata.gz` (and plain `metadata`); also caps the stored entry.
   * Default 10 MiB, the limit of RubyGems >= 3.5.10.
   */
  maxMetadataSize: number;
  /** Largest decompressed `checksums.yaml.gz`; also caps the stored entry. Default 10 MiB, as RubyGems. */
  maxChecksumsSize: number;
  /** Largest `*.sig` entry. Default 1 MiB: RubyGems master reads at most that much of each. */
  maxSignatureSize: number;
  /**
   * Highest gunzip expansion ratio (output bytes / compressed bytes) accepted for an output larger
   * than `expansionGraceSize`. Real gemspecs compress 3 to 20 times; deflate tops out near 1032.
   * Default 200.
   */
  maxExpansionRatio: number;
  /** Outputs up to this size are never refused for their ratio alone. Default 1 MiB. */
  expansionGraceSize: number;
  /**
   * The YAML library's `maxAliasCount`: how far one anchor may be expanded through aliases
   * (the count of its uses times the aliases inside it). A "billion laughs" bomb trips it within a
   * few levels. RubyGems has written no aliases since 2.x, but older gems share each dependency's
   * requirement through one alias. Default 100, the library's default.
   */
  maxYamlAliasCount: number;
  /**
   * Most anchors, and separately most aliases, in one YAML document. Bounds the alias resolution
   * work, which grows with anchors times aliases. Default 1000.
   */
  maxYamlAnchors: number;
  /** Longest `metadata` key, in characters. Default 128, as RubyGems and rubygems.org. */
  maxMetadataKeyLength: number;
  /** Longest `metadata` value, in characters. Default 1024, as RubyGems and rubygems.org. */
  maxMetadataValueLength: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_GEM_LIMITS: Readonly<GemLimits> = Object.freeze({
  maxGemSize: 512 * MiB,
  maxEntries: 16,
  maxMetadataSize: 10 * MiB,
  maxChecksumsSize: 10 * MiB,
  maxSignatureSize: 1 * MiB,
  maxExpansionRatio: 200,
  expansionGraceSize: 1 * MiB,
  maxYamlAliasCount: 100,
  maxYamlAnchors: 1000,
  maxMetadataKeyLength: 128,
  maxMetadataValueLength: 1024,
});

/** The defaults with `overrides` applied; undefined fields keep their default. */
export function gemLimits(overrides?: Partial<GemLimits>): GemLimits {
  const out: GemLimits = { ...DEFAULT_GEM_LIMITS };
  if (overrides) {
    for (const key of Object.keys(out) as (keyof GemLimits)[]) {
      const v = overrides[key];
      if (v !== undefined) out[key] = v;
    }
  }
  return out;
}
