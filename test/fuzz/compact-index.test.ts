/**
 * Fuzzing the compact index parsers (compact-parse.ts): random and edited bodies parse or fail
 * with a QuarryError; bodies written by compact.ts read back to what was written.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Constraint } from '../../src/gem/spec.ts';
import { infoLine, versionsBody } from '../../src/index/compact.ts';
import {
  liveVersions,
  packedLiveVersions,
  parseInfoFile,
  parseVersionsFile,
} from '../../src/index/compact-parse.ts';
import type { IndexEntry } from '../../src/index/entry.ts';
import { bytes, mutationsOf, onlyQuarryErrors, params, textMutationsOf, timeout } from './support.ts';

const GOLDEN = fileURLToPath(new URL('../fixtures/golden/expected/', import.meta.url));
const VERSIONS = readFileSync(`${GOLDEN}versions`, 'utf8');
const INFOS = readdirSync(`${GOLDEN}info`).map((f) => readFileSync(`${GOLDEN}info/${f}`, 'utf8'));

const gemName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/);
const version = fc.stringMatching(/^[0-9]{1,3}(\.[0-9a-z]{1,3}){0,3}$/);
const platform = fc.oneof(fc.constant('ruby'), fc.stringMatching(/^[a-z0-9_]{1,8}(-[a-z0-9_]{1,8}){0,2}$/));
const constraint: fc.Arbitrary<Constraint> = fc.record({
  op: fc.constantFrom('=', '!=', '>', '<', '>=', '<=', '~>'),
  version,
});
const requirement = fc.array(constraint, { minLength: 1, maxLength: 3 });
const md5 = fc.stringMatching(/^[0-9a-f]{32}$/);
const sha = fc.stringMatching(/^[0-9a-f]{64}$/);

const entry: fc.Arbitrary<IndexEntry> = fc.record({
  name: gemName,
  version,
  platform,
  sha256: sha,
  dependencies: fc.array(fc.record({ name: gemName, requirement }), { maxLength: 4 }),
  requiredRubyVersion: requirement,
  requiredRubygemsVersion: requirement,
  createdAt: fc.constantFrom('2024-01-01T00:00:00Z', '1999-12-31T23:59:59Z'),
});

describe('fuzz: compact index parsers', () => {
  it('random and edited bodies: parsed or a QuarryError', { timeout: timeout(4000) }, () => {
    const body = fc.oneof(
      bytes(400),
      fc.string({ maxLength: 200 }),
      mutationsOf([Buffer.from(VERSIONS), ...INFOS.map((i) => Buffer.from(i))]),
      textMutationsOf([VERSIONS, ...INFOS]),
    );
    fc.assert(
      fc.property(body, (b) => {
        const v = onlyQuarryErrors(() => parseVersionsFile(b));
        if (!(v instanceof Error)) onlyQuarryErrors(() => liveVersions(v));
        onlyQuarryErrors(() => parseInfoFile(b, 'x'));
      }),
      params(4000),
    );
  });

  it('what versionsBody writes reads back', { timeout: timeout(2000) }, () => {
    const line = fc
      .record({
        name: gemName,
        tokens: fc.array(
          fc
            .tuple(fc.boolean(), version, platform)
            .map(([y, v, p]) => `${y ? '-' : ''}${p === 'ruby' ? v : `${v}-${p}`}`),
          { minLength: 1, maxLength: 4 },
        ),
        infoMd5: md5,
      })
      .map((l) => ({ ...l }));
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 8 }),
        fc.date({ noInvalidDate: true, min: new Date(0) }),
        (lines, d) => {
          const parsed = parseVersionsFile(versionsBody(d, lines));
          assert.equal(parsed.createdAt, d.toISOString().replace(/\.\d{3}Z$/, 'Z'));
          const sorted = [...lines].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
          assert.deepEqual(parsed.lines, sorted);
        },
      ),
      params(2000),
    );
  });

  it('packed live versions equal the lines applied in order (yanks, re-pushes, repeats)', {
    timeout: timeout(2000),
  }, () => {
    // Few names and versions, so that names repeat, tokens repeat, and yanks hit live versions.
    const token = fc
      .tuple(fc.boolean(), fc.constantFrom('1.0', '1.1', '2.0.pre'), fc.constantFrom('ruby', 'java'))
      .map(([y, v, p]) => `${y ? '-' : ''}${p === 'ruby' ? v : `${v}-${p}`}`);
    const NAMES = ['a', 'b_c', 'rack', 'rack-test', 'Rails', 'z'];
    const line = fc.record({
      name: fc.constantFrom(...NAMES),
      tokens: fc.array(token, { minLength: 1, maxLength: 5 }),
      infoMd5: md5,
    });
    // A base (each name once, by name, as a rebuilt /versions starts) and then changes in any order:
    // the sorted run and what follows it are held differently.
    const base = fc
      .uniqueArray(line, { selector: (l) => l.name, maxLength: NAMES.length })
      .map((ls) => [...ls].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)));
    fc.assert(
      fc.property(
        base,
        fc.array(line, { maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 200 }),
        fc.boolean(),
        (head, tail, nonAscii, asBytes, chunk, bom) => {
          const lines = [...head, ...tail];
          // A leading byte-order mark is skipped, as a whole-body decode skips it.
          const text = `${bom ? '\ufeff' : ''}created_at: 2024-01-01T00:00:00Z\n${nonAscii ? 'note: café→ü\n' : ''}---\n${lines
            .map((l) => `${l.name} ${l.tokens.join(',')} ${l.infoMd5}\n`)
            .join('')}`;
          const body = asBytes ? Buffer.from(text, 'utf8') : text;
          const expected = liveVersions(parseVersionsFile(body));
          // Decoded `chunk` bytes at a time (at line ends), as a large body is.
          const packed = packedLiveVersions(body, chunk);
          assert.equal(packed.createdAt, '2024-01-01T00:00:00Z');
          assert.equal(packed.bodyStart, parseVersionsFile(body).bodyStart);
          assert.deepEqual([...packed.live], [...expected]);
          assert.equal(packed.live.size, expected.size);
          for (const name of [...NAMES, 'nope', '0', '~']) {
            assert.equal(packed.live.has(name), expected.has(name));
            assert.deepEqual(packed.live.get(name), expected.get(name));
          }
        },
      ),
      params(3000),
    );
  });

  it('what infoLine writes reads back', { timeout: timeout(3000) }, () => {
    fc.assert(
      fc.property(entry, fc.boolean(), (e, withCreatedAt) => {
        const [l] = parseInfoFile(`---\n${infoLine(e, { createdAt: withCreatedAt })}\n`);
        assert.ok(l);
        assert.equal(l.version, e.version);
        assert.equal(l.platform, e.platform);
        assert.equal(l.checksum, e.sha256);
        assert.equal(l.createdAt, withCreatedAt ? e.createdAt : undefined);
        const written = (r: Constraint[]) => r.map((c) => `${c.op} ${c.version}`).sort();
        assert.deepEqual(
          l.dependencies.map((d) => [d.name, [...d.requirements].sort()]).sort(),
          e.dependencies.map((d) => [d.name, written(d.requirement)]).sort(),
        );
      }),
      params(3000),
    );
  });
});
