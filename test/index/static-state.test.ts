/** The static index's state: a snapshot that reads back, and an append-only log of updates. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planFullBuild, planUpdate } from '../../src/index/static-plan.ts';
import type { LoadedState } from '../../src/index/static-state.ts';
import {
  applyLog,
  logBlock,
  logFollows,
  logHeader,
  parseState,
  serializeState,
} from '../../src/index/static-state.ts';
import { parsedGem, plannerCorpus } from '../support/parsed-gems.ts';

const parsed = parsedGem;
const base = plannerCorpus();
const full = planFullBuild(base, new Date(Date.UTC(2024, 0, 1)));
const versionsOf = (p: typeof full) => p.writes.find((w) => w.path === 'versions')!.body.toString();

test('snapshot: lines that parse back to the same state, in index order', () => {
  const text = serializeState(full.state, 'id1');
  assert.match(text, /^quarry-index-state 2\nsnapshot id1\nversions_created_at 2024-01-01T00:00:00Z\n/);
  assert.deepEqual(
    full.state.files.map((f) => f.file),
    ['a-1.0.gem', 'a-1.0-java.gem', 'a-2.0.pre.gem', 'b-2.0.gem'],
  );
  assert.deepEqual(parseState(text), { state: full.state, id: 'id1', logBlocks: 0 });
  const b = full.state.files.at(-1)!;
  assert.equal(b.info, `2.0 a:< 3&>= 1|checksum:${b.sha256}`);
});

test('snapshot: unusable texts say why', () => {
  const text = serializeState(full.state, 'id1');
  assert.equal(parseState(''), 'index state is not readable');
  assert.equal(parseState(text.replace('state 2', 'state 1')), 'index state layout 1 is not 2');
  assert.equal(parseState(text.replace(/versions_md5 .*\n/, '')), 'index state header is incomplete');
  assert.equal(parseState(text.slice(0, -3)), 'index state is truncated');
  assert.equal(parseState(text.replace('a-1.0.gem\t', 'a-1.0.gem ')), 'index state has a malformed line');
});

test('log: snapshot plus logged updates equals the state the updates planned', () => {
  const loaded = parseState(serializeState(full.state, 'snap')) as LoadedState;
  const u1 = planUpdate(full.state, versionsOf(full), [parsed({ name: 'c', version: '0.1' })], ['a-1.0.gem']);
  const u2 = planUpdate(u1.state, versionsOf(u1), [parsed({ name: 'a', version: '1.0' })], ['c-0.1.gem']);
  const log = logHeader('snap') + logBlock(u1.change!, u1.state) + logBlock(u2.change!, u2.state);
  assert.match(
    log,
    /^quarry-index-log 2 snap\n-\ta-1\.0\.gem\n\+\tc-0\.1\.gem\tc\t0\.1\truby\t\w{64}\t0\.1 \|checksum:\w{64}\ncommit \d+ \w{32}\n/,
  );
  assert.ok(logFollows(log, 'snap'));
  assert.ok(!logFollows(log, 'other'));
  const applied = applyLog(loaded, log) as LoadedState;
  assert.equal(applied.logBlocks, 2);
  assert.deepEqual(applied.state, u2.state);
  const once = applyLog(loaded, logHeader('snap') + logBlock(u1.change!, u1.state)) as LoadedState;
  assert.deepEqual(once.state, u1.state);
});

test('log: an unfinished or malformed block is refused; an empty log changes nothing', () => {
  const loaded = parseState(serializeState(full.state, 'snap')) as LoadedState;
  const u1 = planUpdate(full.state, versionsOf(full), [], ['b-2.0.gem']);
  const block = logBlock(u1.change!, u1.state);
  assert.equal(applyLog(loaded, logHeader('snap')), loaded);
  assert.equal(
    applyLog(loaded, logHeader('snap') + block.slice(0, -1)),
    'index state log ends in an unfinished update',
  );
  assert.equal(
    applyLog(loaded, logHeader('snap') + block.replace(/commit .*\n/, '')),
    'index state log ends in an unfinished update',
  );
  assert.equal(
    applyLog(loaded, `${logHeader('snap')}?\tx\n${block}`),
    'index state log has a malformed line',
  );
  assert.equal(applyLog(loaded, logHeader('other') + block), 'index state log belongs to another snapshot');
});
