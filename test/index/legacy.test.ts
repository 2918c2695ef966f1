import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { legacyLists } from '../../src/index/legacy.ts';

const t = (name: string, version: string, platform = 'ruby') => ({ name, version, platform });

describe('legacy index lists', () => {
  const entries = [
    t('alpha', '1.1.0', 'x86_64-linux'),
    t('alpha', '2.0.0.pre1'),
    t('alpha', '1.0.0'),
    t('alpha', '1.1.0', 'java'),
    t('alpha', '0.9'),
    t('alpha', '1.1.0'),
    t('Zeta', '1.0'),
    t('beta', '0.2.0.rc1'),
    t('beta', '0.1.0'),
    t('gamma', '3.0', 'java'),
    t('onlypre', '1.0.a'),
  ];
  const lists = legacyLists(entries);

  it('puts releases in specs, ordered by name bytes, version, then ruby first', () => {
    assert.deepEqual(lists.specs, [
      t('Zeta', '1.0'),
      t('alpha', '0.9'),
      t('alpha', '1.0.0'),
      t('alpha', '1.1.0'),
      t('alpha', '1.1.0', 'java'),
      t('alpha', '1.1.0', 'x86_64-linux'),
      t('beta', '0.1.0'),
      t('gamma', '3.0', 'java'),
    ]);
  });

  it('puts versions with letters in prerelease_specs only', () => {
    assert.deepEqual(lists.prerelease, [
      t('alpha', '2.0.0.pre1'),
      t('beta', '0.2.0.rc1'),
      t('onlypre', '1.0.a'),
    ]);
  });

  it('keeps the highest release per name AND platform in latest_specs (as rubygems.org)', () => {
    assert.deepEqual(lists.latest, [
      t('Zeta', '1.0'),
      t('alpha', '1.1.0'),
      t('alpha', '1.1.0', 'java'),
      t('alpha', '1.1.0', 'x86_64-linux'),
      t('beta', '0.1.0'),
      t('gamma', '3.0', 'java'),
    ]);
  });

  it('compares versions as Gem::Version, not as strings', () => {
    const l = legacyLists([
      t('x', '1.9'),
      t('x', '1.10'),
      t('x', '1.2'),
      t('x', '1.10', 'java'),
      t('x', '1.9.1', 'java'),
    ]);
    assert.deepEqual(l.latest, [t('x', '1.10'), t('x', '1.10', 'java')]);
    assert.deepEqual(
      l.specs.map((s) => `${s.version}-${s.platform}`),
      ['1.2-ruby', '1.9-ruby', '1.9.1-java', '1.10-ruby', '1.10-java'],
    );
  });
});

describe('legacy index lists from entries already in index order', () => {
  it('match the lists of the unsorted path, equal versions (1.0, 1.0.0) included', () => {
    const entries = [
      t('a', '1'),
      t('a', '1.0'),
      t('a', '1.0.0'),
      t('a', '1.0.0', 'java'),
      t('a', '1.0.1.a'),
      t('b', '1.0'),
      t('b', '10'),
      t('b', '10.0.0'),
      t('c', '0.01'),
      t('c', '0.1'),
    ];
    const sorted = legacyLists(entries, { sorted: true });
    assert.deepEqual(sorted, legacyLists(entries));
    assert.deepEqual(sorted.latest, [t('a', '1'), t('a', '1.0.0', 'java'), t('b', '10'), t('c', '0.01')]);
  });
});
