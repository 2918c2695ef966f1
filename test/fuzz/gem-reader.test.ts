/**
 * Fuzzing the .gem reader (readGem), its tar reader and its bounded gunzip: random bytes, edits of
 * valid gems, and well-formed archives around damaged gzip and YAML. Each input reads, or fails
 * with a QuarryError; nothing else is thrown.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { gunzipBounded } from '../../src/gem/gzip.ts';
import { readGem } from '../../src/gem/package.ts';
import { readTar } from '../../src/gem/tar.ts';
import { buildGem, buildTar, checksumsYaml, dataTarGz, gemspecYaml } from '../gem/support/ustar.ts';
import { makeGem } from '../support/make-gem.ts';
import { bytes, mutationsOf, onlyQuarryErrors, params, textMutationsOf, timeout } from './support.ts';

const GEMS = [
  makeGem({ name: 'plain', version: '1.0.0' }),
  makeGem({
    name: 'deps',
    version: '2.0.0.pre1',
    platform: 'x86_64-linux',
    deps: [['rack', '>= 1.0', '< 3']],
    devDeps: [['rake', '~> 13.0']],
    requiredRuby: ['>= 2.7'],
  }),
  buildGem(),
  buildGem({ checksums: null }),
];

/** Small limits, so that the size checks are reached by small inputs too. */
const SMALL = {
  limits: { maxGemSize: 64 * 1024, maxMetadataSize: 16 * 1024, expansionGraceSize: 4096, maxEntries: 8 },
};

const YAML = [gemspecYaml(), gemspecYaml({ version: '!ruby/object:Gem::Version\n  version: 1.0.a' })];

describe('fuzz: .gem reader', () => {
  it('random bytes', { timeout: timeout(3000) }, () => {
    fc.assert(
      fc.property(bytes(2048), (b) => {
        onlyQuarryErrors(() => readGem(b));
        onlyQuarryErrors(() => readGem(b, SMALL));
      }),
      params(3000),
    );
  });

  it('edits of valid gems', { timeout: timeout(3000) }, () => {
    fc.assert(
      fc.property(mutationsOf(GEMS), (b) => {
        onlyQuarryErrors(() => readGem(b));
        onlyQuarryErrors(() => readGem(b, SMALL));
      }),
      params(3000),
    );
  });

  it('valid archives around edited metadata (gzip, then YAML)', { timeout: timeout(2000) }, () => {
    const metadata = fc.oneof(
      mutationsOf(YAML.map((y) => gzipSync(y))),
      textMutationsOf(YAML, 10).map((y) => gzipSync(y)),
    );
    fc.assert(
      fc.property(metadata, fc.boolean(), (m, withChecksums) => {
        const gem = buildGem({ metadata: m, checksums: withChecksums ? 'auto' : null });
        onlyQuarryErrors(() => readGem(gem));
      }),
      params(2000),
    );
  });

  it('valid archives with edited checksums.yaml.gz', { timeout: timeout(1000) }, () => {
    const m = gzipSync(gemspecYaml());
    const d = dataTarGz();
    const yaml = checksumsYaml({ 'metadata.gz': m, 'data.tar.gz': d });
    fc.assert(
      fc.property(textMutationsOf([yaml], 8), (text) => {
        onlyQuarryErrors(() => readGem(buildGem({ metadata: m, data: d, checksums: text })));
      }),
      params(1000),
    );
  });
});

describe('fuzz: tar and gzip', () => {
  const entry = fc.record({
    name: fc.oneof(
      fc.constantFrom('metadata.gz', 'data.tar.gz', 'a/b', '../x', '/abs', 'x.sig'),
      fc.string({ maxLength: 100 }),
    ),
    data: fc.uint8Array({ maxLength: 1200 }).map((a) => Buffer.from(a)),
    type: fc.constantFrom('0', '0', '0', '1', '2', '5', 'x', 'L', '\0'),
    prefix: fc.oneof(fc.constant(''), fc.string({ maxLength: 20 })),
  });

  it('readTar: generated archives (valid checksums) and their edits', { timeout: timeout(3000) }, () => {
    const archive = fc.array(entry, { maxLength: 5 }).map((es) => {
      try {
        return buildTar(es.map((e) => ({ ...e, prefix: e.prefix || undefined })));
      } catch {
        // A field longer than the header allows: the writer refuses; use the bytes of the name.
        return Buffer.from(JSON.stringify(es.map((e) => e.name)));
      }
    });
    fc.assert(
      fc.property(fc.oneof(archive, mutationsOf(GEMS)), fc.boolean(), (b, regular) => {
        const r = onlyQuarryErrors(() => readTar(b, { maxEntries: 16, regularFilesOnly: regular }));
        if (Array.isArray(r)) {
          for (const e of r) {
            assert.ok(e.data.length === e.size && e.name.length > 0);
            assert.ok(!e.name.startsWith('/') && !e.name.split('/').includes('..'));
          }
        }
      }),
      params(3000),
    );
  });

  it('gunzipBounded: random bytes, edited gzip, bombs', { timeout: timeout(3000) }, () => {
    const texts = [Buffer.from(gemspecYaml()), Buffer.alloc(50_000, 0x20), Buffer.alloc(0)];
    const gz = fc.oneof(
      bytes(512),
      mutationsOf(texts.map((t) => gzipSync(t))),
      fc.constantFrom(...texts.map((t) => gzipSync(t))),
    );
    fc.assert(
      fc.property(
        gz,
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 300 }),
        (b, max, ratio) => {
          const out = onlyQuarryErrors(() =>
            gunzipBounded(b, 'x.gz', { maxOutput: max, maxRatio: ratio, graceSize: 1024 }),
          );
          if (Buffer.isBuffer(out)) {
            assert.ok(out.length <= max, `${out.length} bytes out, limit ${max}`);
            assert.ok(out.length <= 1024 || out.length <= b.length * ratio, 'ratio limit');
          }
        },
      ),
      params(3000),
    );
  });
});
