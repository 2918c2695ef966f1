/** The pure part of `quarry publish`: headers, phases, the diff against a bucket listing, the state. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readGem } from '../../src/gem/package.ts';
import type { DesiredObject, RemoteObject } from '../../src/index/publish-plan.ts';
import {
  diffObjects,
  headersFor,
  PUBLISH_STATE_LAYOUT,
  parsePublishState,
  phaseOf,
  stateBody,
  versionsNames,
} from '../../src/index/publish-plan.ts';
import { planFullBuild } from '../../src/index/static-plan.ts';
import { makeGem } from '../support/make-gem.ts';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const obj = (key: string, body: string, previous?: string): DesiredObject => ({
  key,
  size: Buffer.byteLength(body),
  md5: md5(body),
  ...(previous !== undefined && { previousMd5: previous }),
});

test('headers: immutable gems and quick specs, short-lived text and Marshal indexes, never an encoding', () => {
  assert.deepEqual(headersFor('gems/a-1.0-java.gem'), {
    contentType: 'application/octet-stream',
    cacheControl: 'public, max-age=31536000, immutable',
  });
  assert.deepEqual(headersFor('quick/Marshal.4.8/a-1.0.gemspec.rz'), headersFor('gems/a-1.0.gem'));
  for (const k of ['specs.4.8', 'specs.4.8.gz', 'latest_specs.4.8.gz', 'prerelease_specs.4.8']) {
    assert.deepEqual(headersFor(k), {
      contentType: 'application/octet-stream',
      cacheControl: 'public, max-age=60',
    });
  }
  for (const k of ['versions', 'names', 'info/a']) {
    assert.deepEqual(headersFor(k), {
      contentType: 'text/plain; charset=utf-8',
      cacheControl: 'public, max-age=60',
    });
  }
  assert.equal(
    phaseOf('gems/sha256/ab/abc.gem'),
    null,
    'content-addressed server blobs are not part of the layout',
  );
  assert.equal(phaseOf('quarry/other.json'), null);
  assert.throws(() => headersFor('index.html'), /not a key of the static layout/);
});

test('diff: new, changed and unchanged objects in safe order; stale layout keys deleted in reverse', () => {
  const remote = new Map<string, RemoteObject>([
    ['versions', { size: 3, md5: md5('old') }],
    ['names', { size: 4, md5: md5('same') }],
    ['gems/big-1.0.gem', { size: 3, md5: null }], // multipart: the store cannot tell its MD5
    ['gems/gone-1.0.gem', { size: 1, md5: 'x' }],
    ['quick/Marshal.4.8/gone-1.0.gemspec.rz', { size: 1, md5: 'x' }],
    ['info/gone', { size: 1, md5: 'x' }],
    ['info/kept', { size: 1, md5: 'x' }],
    ['gems/sha256/aa/other.gem', { size: 1, md5: 'x' }],
  ]);
  const desired = [
    obj('specs.4.8.gz', 'list'),
    obj('versions', 'new'),
    obj('names', 'same'),
    obj('gems/big-1.0.gem', 'big', md5('big')),
    obj('info/a', 'info'),
    obj('gems/a-1.0.gem', 'gem'),
    obj('quick/Marshal.4.8/a-1.0.gemspec.rz', 'rz'),
  ];
  const d = diffObjects(desired, remote, new Set(['info/kept']));
  assert.deepEqual(
    d.uploads.map((u) => `${u.phase} ${u.object.key} ${u.reason}`),
    [
      'gem gems/a-1.0.gem new',
      'quick quick/Marshal.4.8/a-1.0.gemspec.rz new',
      'info info/a new',
      'versions versions changed',
      'legacy specs.4.8.gz new',
    ],
  );
  assert.deepEqual(d.unchanged.map((o) => o.key).sort(), ['gems/big-1.0.gem', 'names']);
  assert.deepEqual(d.deletes, ['info/gone', 'quick/Marshal.4.8/gone-1.0.gemspec.rz', 'gems/gone-1.0.gem']);

  // Without a recorded MD5, an object the store cannot hash is uploaded again.
  const again = diffObjects([obj('gems/big-1.0.gem', 'big')], remote);
  assert.equal(again.uploads.length, 1);
  assert.throws(() => diffObjects([obj('names', 'a'), obj('names', 'b')], remote), /planned twice/);
});

test('versionsNames reads every name with a line, yanked or not', () => {
  const body = 'created_at: 2024-01-01T00:00:00Z\n---\nb 1.0 aa\na 1.0,2.0 bb\nb -1.0 cc\n';
  assert.deepEqual(versionsNames(body), ['a', 'b']);
  assert.deepEqual(versionsNames('garbage'), []);
});

test('state: stable bytes that parse back; unusable states say why', () => {
  const g = makeGem({ name: 'a', version: '1.0' });
  const pkg = readGem(g);
  const plan = planFullBuild([{ file: 'a-1.0.gem', spec: pkg.spec, sha256: pkg.sha256 }], new Date(0));
  const body = stateBody(plan.state, new Map([['a-1.0.gem', md5('x')]]));
  assert.ok(body.equals(stateBody(plan.state, new Map([['a-1.0.gem', md5('x')]]))));
  const parsed = parsePublishState(body);
  assert.notEqual(typeof parsed, 'string');
  assert.deepEqual(parsed, JSON.parse(gunzipSync(body).toString()));

  assert.match(parsePublishState(Buffer.from('{')) as string, /not gzipped JSON/);
  assert.match(parsePublishState(gzipSync('{')) as string, /not gzipped JSON/);
  assert.match(
    parsePublishState(gzipSync(JSON.stringify({ layout: PUBLISH_STATE_LAYOUT + 1 }))) as string,
    new RegExp(`has layout ${PUBLISH_STATE_LAYOUT + 1}, not ${PUBLISH_STATE_LAYOUT}`),
  );
  const broken = JSON.parse(gunzipSync(body).toString());
  broken.index.files[0].sha256 = 5;
  assert.match(parsePublishState(gzipSync(JSON.stringify(broken))) as string, /malformed file entry/);
});
