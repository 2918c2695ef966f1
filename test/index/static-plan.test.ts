/** What a full build and an update of the static index write. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planFullBuild, planUpdate } from '../../src/index/static-plan.ts';
import { parsedGem, plannerCorpus } from '../support/parsed-gems.ts';

const parsed = parsedGem;
const base = plannerCorpus();

test('update: a release touches versions, its info and specs, never the prerelease pair or unchanged names', () => {
  const full = planFullBuild(base, new Date(0));
  const versions = full.writes.find((w) => w.path === 'versions')!.body.toString();
  const plan = planUpdate(full.state, versions, [parsed({ name: 'a', version: '1.5' })], []);
  assert.deepEqual(
    plan.writes.map((w) => w.path),
    [
      'quick/Marshal.4.8/a-1.5.gemspec.rz',
      'info/a',
      'versions',
      'specs.4.8',
      'specs.4.8.gz',
      'latest_specs.4.8',
      'latest_specs.4.8.gz',
    ],
  );
  const info = plan.writes.find((w) => w.path === 'info/a')!.body.toString();
  assert.deepEqual(
    info.split('\n').map((l) => l.split(' ')[0]),
    ['---', '1.0', '1.0-java', '1.5', '2.0.pre', ''],
  );
  assert.equal(plan.names, 2);
});

test('update: a new name or a name losing its last file rewrites names; a removed prerelease the prerelease pair', () => {
  const full = planFullBuild(base, new Date(0));
  const versions = full.writes.find((w) => w.path === 'versions')!.body.toString();
  const added = planUpdate(full.state, versions, [parsed({ name: 'c', version: '0.1' })], []);
  assert.ok(added.writes.some((w) => w.path === 'names'));
  assert.equal(added.names, 3);
  const gone = planUpdate(full.state, versions, [], ['b-2.0.gem', 'a-2.0.pre.gem']);
  const paths = gone.writes.map((w) => w.path);
  assert.ok(paths.includes('names') && paths.includes('prerelease_specs.4.8.gz'));
  assert.equal(gone.writes.find((w) => w.path === 'names')!.body.toString(), '---\na\n');
  assert.deepEqual(gone.deletes, [
    'quick/Marshal.4.8/a-2.0.pre.gemspec.rz',
    'quick/Marshal.4.8/b-2.0.gemspec.rz',
  ]);
  assert.match(
    gone.writes.find((w) => w.path === 'versions')!.body.toString(),
    /\na -2\.0\.pre \w{32}\nb -2\.0 \w{32}\n$/,
  );
});
