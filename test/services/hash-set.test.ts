import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hashSet } from '../../src/util/hash-set.ts';

it('says yes to every name it holds (a false yes is allowed, a false no never)', () => {
  const names = Array.from({ length: 20_000 }, (_, i) => `gem-${i}`);
  const has = hashSet(names);
  for (const n of names) assert.equal(has(n), true, n);
  let falseYes = 0;
  for (let i = 0; i < 20_000; i++) if (has(`other-${i}`)) falseYes++;
  // 20,000 hashes of 2^32: a false yes about once in 200,000 asks.
  assert.ok(falseYes <= 3, `${falseYes} false matches`);
  assert.equal(hashSet([])('x'), false);
});
