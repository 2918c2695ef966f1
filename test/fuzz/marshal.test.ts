/**
 * Fuzzing the Marshal reader: random bytes, edits of the dumps Quarry writes (spec tuples, quick
 * specs, dependency records), and generated values. Each input loads or fails with a
 * QuarryError('marshal'); and a value written by our writer reads back to the same bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { QuarryError } from '../../src/errors.ts';
import { readGem } from '../../src/gem/package.ts';
import { load } from '../../src/marshal/reader.ts';
import {
  dumpDependencyRecords,
  dumpQuickSpec,
  dumpSpecTuples,
  loadDependencyRecords,
  loadSpecTuples,
} from '../../src/marshal/rubygems.ts';
import type { RValue } from '../../src/marshal/types.ts';
import { float, hash, obj, str, sym, userDefined, userMarshal } from '../../src/marshal/types.ts';
import { dump } from '../../src/marshal/writer.ts';
import { makeGem } from '../support/make-gem.ts';
import { bytes, mutationsOf, onlyQuarryErrors, params, timeout } from './support.ts';

const spec = readGem(
  makeGem({ name: 'q', version: '1.2.3.rc1', platform: 'java', deps: [['r', '~> 1.0', '!= 1.0.3']] }),
).spec;

const DUMPS = [
  dumpSpecTuples([
    { name: 'a', version: '1.0', platform: 'ruby' },
    { name: 'b', version: '2.0.pre', platform: 'x86_64-linux' },
  ]),
  dumpQuickSpec(spec),
  dumpDependencyRecords([{ name: 'a', number: '1.0', platform: 'ruby', dependencies: [['b', '>= 0']] }]),
];

const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
const className = fc.constantFrom('Gem::Version', 'Gem::Specification', 'Object', 'Time', 'A::B');

/** Values our writer writes: every kind the reader returns. */
const value: fc.Arbitrary<RValue> = fc.letrec<{ v: RValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
    fc.string({ maxLength: 20 }),
    fc.string({ maxLength: 10 }).map((s) => str(s, 'binary')),
    fc.string({ maxLength: 10 }).map((s) => str(s, 'ascii')),
    name.map(sym),
    fc.double().map(float),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(tie('v'), tie('v')), { maxLength: 3 }).map((e) => hash(e)),
    fc
      .tuple(
        className,
        fc.array(
          fc.tuple(
            name.map((n) => `@${n}`),
            tie('v'),
          ),
          { maxLength: 3 },
        ),
      )
      .map(([c, ivars]) => obj(c, ivars)),
    fc.tuple(className, tie('v')).map(([c, d]) => userMarshal(c, d)),
    fc.tuple(className, fc.uint8Array({ maxLength: 12 })).map(([c, b]) => userDefined(c, b)),
  ),
})).v;

describe('fuzz: Marshal reader', () => {
  it('random bytes (with and without the 4.8 header)', { timeout: timeout(5000) }, () => {
    fc.assert(
      fc.property(bytes(256), fc.boolean(), (b, header) => {
        const input = header ? Buffer.concat([Buffer.from([4, 8]), b]) : b;
        onlyQuarryErrors(() => load(input));
        onlyQuarryErrors(() => load(input, { maxDepth: 4, maxLength: 16, maxObjects: 32 }));
      }),
      params(5000),
    );
  });

  it("edits of Quarry's own dumps, through load and the RubyGems readers", { timeout: timeout(5000) }, () => {
    fc.assert(
      fc.property(mutationsOf(DUMPS), (b) => {
        onlyQuarryErrors(() => load(b));
        onlyQuarryErrors(() => loadSpecTuples(b));
        onlyQuarryErrors(() => loadDependencyRecords(b));
      }),
      params(5000),
    );
  });

  it('generated values: dump, load, dump gives the same bytes; edits of them fail cleanly', {
    timeout: timeout(3000),
  }, () => {
    fc.assert(
      fc.property(value, fc.array(fc.nat(), { maxLength: 3 }), (v, flips) => {
        let bytesOut: Buffer;
        try {
          bytesOut = dump(v);
        } catch (e) {
          // The writer may refuse a value (e.g. nested too deeply), but only with a QuarryError.
          assert.ok(e instanceof QuarryError, String(e));
          return;
        }
        const back = load(bytesOut);
        assert.ok(dump(back).equals(bytesOut), 'dump(load(x)) differs from x');
        const edited = Buffer.from(bytesOut);
        for (const f of flips) edited[f % edited.length] = edited[f % edited.length]! ^ 0x55;
        onlyQuarryErrors(() => load(edited));
      }),
      params(3000),
    );
  });
});
