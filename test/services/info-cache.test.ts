/** The /info caching tiers of IndexView: a hot set of objects, an off-heap store behind it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Representation } from '../../src/services/index-bodies.ts';
import { InfoStore, represent } from '../../src/services/index-bodies.ts';
import { InfoCache } from '../../src/services/info-cache.ts';

const rep = (text: string): Representation => represent(Buffer.from(text), new Date('2024-01-02T03:04:05Z'));
const same = (a: Representation | null | undefined, b: Representation): boolean =>
  a?.body.equals(b.body) === true &&
  a.md5 === b.md5 &&
  a.sha256 === b.sha256 &&
  a.modified.getTime() === b.modified.getTime();

describe('InfoCache', () => {
  it('keeps what it is given, a never-published name as null, and forgets on delete and clear', () => {
    const c = new InfoCache(4, new InfoStore(1 << 20, 1 << 16));
    const a = rep('---\n1.0 |checksum:a\n');
    assert.equal(c.get('a'), undefined);
    assert.equal(c.keep('a', a), a);
    assert.equal(c.keep('nope', null), null);
    assert.equal(c.get('a'), a, 'from the hot set: the same object');
    assert.equal(c.get('nope'), null);
    c.delete('a');
    assert.equal(c.get('a'), undefined);
    assert.equal(c.get('nope'), null);
    c.clear();
    assert.equal(c.get('nope'), undefined);
  });

  it('past the hot set, serves from the store, and promotes a body asked for twice', () => {
    const c = new InfoCache(3, new InfoStore(1 << 20, 1 << 16));
    const reps = ['a', 'b', 'c', 'd'].map((n) => rep(`---\n${n} 1.0 |checksum:${n}\n`));
    for (const [i, r] of reps.entries()) c.keep('abcd'[i]!, r);
    // d came with the hot set full: stored only. Served from the store, as a new object.
    const d1 = c.get('d');
    assert.ok(same(d1, reps[3]!) && d1 !== reps[3]);
    // Asked again: promoted, the same object from then on; a (the oldest) leaves the hot set...
    const d2 = c.get('d');
    assert.ok(same(d2, reps[3]!));
    assert.equal(c.get('d'), d2);
    // ...but not the store: still served, with its bytes and digests.
    const a = c.get('a');
    assert.ok(same(a, reps[0]!) && a !== reps[0]);
    assert.equal(c.get('b'), reps[1]);
  });

  it('holds a body too large for the store in the hot set alone', () => {
    const c = new InfoCache(1, new InfoStore(1 << 16, 1024));
    const big = rep(`---\n${'x'.repeat(600)}\n`);
    const small = rep('---\n1.0 |checksum:s\n');
    c.keep('big', big);
    assert.equal(c.get('big'), big);
    // The next one, with the hot set full, is stored only; asked for twice it takes the only hot
    // place, and the large body, which no store holds, is gone.
    c.keep('small', small);
    assert.equal(c.get('big'), big);
    assert.ok(same(c.get('small'), small));
    assert.ok(same(c.get('small'), small));
    assert.equal(c.get('big'), undefined);
  });
});
