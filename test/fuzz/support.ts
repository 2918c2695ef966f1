/**
 * Shared pieces of the property-based fuzz tests (fast-check inside node:test).
 *
 * Every parser of outside input must either return or throw a QuarryError with a message; any
 * other exception (a TypeError, a RangeError, an assertion) is a bug. Inputs are bounded in size
 * so a run cannot hang on a huge case; node:test's timeout catches a parser that loops.
 *
 * Runs per property: FUZZ_RUNS (scripts/fuzz.mjs sets a large one), else the `ci` count given.
 * FUZZ_SEED replays a failure (fast-check prints the seed and the path of a failing case).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { QuarryError } from '../../src/errors.ts';

/** The number of runs for one property: FUZZ_RUNS when set, else `ci`. */
export function runs(ci: number): number {
  const env = Number(process.env['FUZZ_RUNS']);
  return Number.isInteger(env) && env > 0 ? env : ci;
}

/** fast-check parameters for one property. */
export function params(ci: number): fc.Parameters<unknown> {
  const seed = Number(process.env['FUZZ_SEED']);
  return { numRuns: runs(ci), ...(Number.isInteger(seed) ? { seed } : {}) };
}

/** Node's test timeout for a fuzz test: generous when FUZZ_RUNS asks for many runs. */
export const timeout = (ci: number): number => Math.max(120_000, runs(ci) * 20);

/**
 * Runs `fn`; passes if it returns or throws a QuarryError with a non-empty one-line message.
 * Anything else fails the property with the thrown value.
 */
export function onlyQuarryErrors<T>(fn: () => T): T | QuarryError {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof QuarryError)) {
      throw new Error(`not a QuarryError: ${(e as Error)?.stack ?? String(e)}`);
    }
    assert.ok(e.message.length > 0, 'a QuarryError with an empty message');
    // A wrapper that turns a programming error into a QuarryError hides a bug: look inside.
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof TypeError || cause instanceof ReferenceError) {
      throw new Error(`a QuarryError wrapping ${cause.stack ?? cause}`);
    }
    assert.ok(e.message.length < 2000, `a message of ${e.message.length} characters`);
    return e;
  }
}

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'copy'; from: number; to: number; length: number };

/** One random edit; positions are fractions of the input's length. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.constantFrom(0, 0x20, 0x30, 0x7f, 0x80, 0xff),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    kind: fc.constant('copy' as const),
    from: fc.nat(),
    to: fc.nat(),
    length: fc.integer({ min: 1, max: 600 }),
  }),
);

/** Applies the edits in order to a copy of `base`. */
export function mutate(base: Uint8Array, edits: readonly Mutation[]): Buffer {
  let b = Buffer.from(base);
  for (const m of edits) {
    const n = b.length;
    if (n === 0) break;
    switch (m.kind) {
      case 'flip': {
        const i = m.at % n;
        b[i] = b[i]! ^ (1 << m.bit);
        break;
      }
      case 'set':
        b[m.at % n] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, m.at % n);
        break;
      case 'insert': {
        const i = m.at % (n + 1);
        b = Buffer.concat([b.subarray(0, i), m.bytes, b.subarray(i)]);
        break;
      }
      case 'delete': {
        const i = m.at % n;
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.length)]);
        break;
      }
      case 'copy': {
        const from = m.from % n;
        const to = m.to % n;
        const piece = Buffer.from(b.subarray(from, from + m.length));
        piece.copy(b, to);
        break;
      }
    }
  }
  return b;
}

/** Inputs made by editing one of `bases` a few times. */
export const mutationsOf = (bases: readonly Uint8Array[], maxEdits = 6): fc.Arbitrary<Buffer> =>
  fc
    .tuple(fc.constantFrom(...bases), fc.array(mutation, { minLength: 1, maxLength: maxEdits }))
    .map(([base, edits]) => mutate(base, edits));

/** Text made by editing one of `bases` (as UTF-8 bytes, decoded leniently). */
export const textMutationsOf = (bases: readonly string[], maxEdits = 6): fc.Arbitrary<string> =>
  mutationsOf(
    bases.map((s) => Buffer.from(s, 'utf8')),
    maxEdits,
  ).map((b) => b.toString('utf8'));

/** Random bytes up to `max` long. */
export const bytes = (max = 4096): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
