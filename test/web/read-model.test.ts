/** The read model (CatalogReadModel) and the JSON API's search and activity, through the HTTP app. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Harness } from '../http/harness.ts';
import { push, startHarness, yank } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';

describe('read model', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    const gems = [
      makeGem({ name: 'rack', version: '1.0.0', summary: 'A modular web server interface' }),
      makeGem({ name: 'rack', version: '2.0.0', summary: 'A modular Ruby webserver interface' }),
      makeGem({ name: 'rack-test', version: '0.1.0', deps: [['rack', '>= 1.0']] }),
      makeGem({ name: 'myrack', version: '1.0.0', devDeps: [['rack', '~> 2.0']] }),
      makeGem({
        name: 'sinatra',
        version: '3.0.0',
        summary: 'Classy web framework',
        deps: [['rack', '>= 2']],
      }),
      makeGem({ name: 'gone', version: '1.0.0', deps: [['rack', '>= 1']], summary: 'rack thing' }),
      makeGem({ name: 'pct_100', version: '1.0.0', summary: '100% pure' }),
    ];
    for (const g of gems) assert.equal((await push(h, g)).statusCode, 200);
    assert.equal((await yank(h, 'gem_name=gone&version=1.0.0')).statusCode, 200);
  });
  after(() => h.close());

  const model = () => h.services.readModel;

  it('searches: exact name, then prefix, then substring, then summary words; yanked gems hidden', async () => {
    const r = await model().searchGems('rack', 0, 10);
    assert.deepEqual(
      r.items.map((g) => g.name),
      ['rack', 'rack-test', 'myrack'],
    );
    assert.equal(r.total, 3);
    assert.equal(r.items[0]!.number, '2.0.0');
    assert.equal(r.items[0]!.summary, 'A modular Ruby webserver interface');
    const words = await model().searchGems('web FRAMEWORK', 0, 10);
    assert.deepEqual(
      words.items.map((g) => g.name),
      ['sinatra'],
    );
    const paged = await model().searchGems('rack', 1, 1);
    assert.deepEqual(
      paged.items.map((g) => g.name),
      ['rack-test'],
    );
    assert.equal(paged.total, 3);
    // LIKE's own characters are literal.
    assert.deepEqual(
      (await model().searchGems('%', 0, 10)).items.map((g) => g.name),
      ['pct_100'],
    );
    assert.deepEqual(
      (await model().searchGems('_', 0, 10)).items.map((g) => g.name),
      ['pct_100'],
    );
  });

  it('counts matches up to a limit: past it, the total is the limit and says there are more', async () => {
    const capped = await model().searchGems('rack', 0, 1, 2);
    assert.deepEqual([capped.total, capped.more, ...capped.items.map((g) => g.name)], [2, true, 'rack']);
    const second = await model().searchGems('rack', 1, 1, 2);
    assert.deepEqual([second.total, second.more, ...second.items.map((g) => g.name)], [2, true, 'rack-test']);
    const exact = await model().searchGems('rack', 0, 1, 3);
    assert.deepEqual([exact.total, exact.more], [3, false]);
    // A first page that is not full holds every match: exact whatever the limit.
    const whole = await model().searchGems('rack', 0, 10, 2);
    assert.deepEqual([whole.total, whole.more, whole.items.length], [3, false, 3]);
  });

  it('lists reverse dependencies of live versions, recent pushes and counts', async () => {
    const rev = await model().reverseDependencies('rack', 0, 10);
    assert.deepEqual(rev.items, [
      { name: 'myrack', type: 'development' },
      { name: 'rack-test', type: 'runtime' },
      { name: 'sinatra', type: 'runtime' },
    ]);
    const recent = await model().recentVersions(3);
    assert.deepEqual(
      recent.map((v) => `${v.name}-${v.number}`),
      ['pct_100-1.0.0', 'sinatra-3.0.0', 'myrack-1.0.0'],
    );
    assert.deepEqual(await model().gemCounts(), { hosted: 5, mirrored: 0, cached: 0 });
  });

  it('answers /api/v1/search.json and the activity lists in rubygems.org shapes', async () => {
    const r = await h.app.inject('/api/v1/search.json?query=rack');
    assert.equal(r.statusCode, 200);
    const body = r.json() as Record<string, unknown>[];
    assert.deepEqual(
      body.map((g) => g['name']),
      ['rack', 'rack-test', 'myrack'],
    );
    assert.equal(body[0]!['version'], '2.0.0');
    assert.equal(typeof body[0]!['downloads'], 'number');
    assert.deepEqual((await h.app.inject('/api/v1/search.json?query=rack&page=2')).json(), []);
    const latest = (await h.app.inject('/api/v1/activity/latest.json')).json() as Record<string, unknown>[];
    assert.equal(latest[0]!['name'], 'pct_100');
    assert.ok(!latest.some((g) => g['name'] === 'gone'));
    const updated = (await h.app.inject('/api/v1/activity/just_updated.json')).json() as Record<
      string,
      unknown
    >[];
    assert.deepEqual(
      updated.slice(0, 2).map((g) => `${g['name']}-${g['version']}`),
      ['pct_100-1.0.0', 'sinatra-3.0.0'],
    );
  });
});
