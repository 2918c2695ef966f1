/**
 * `quarry import` of a Gem in a Box data folder end to end (issue 12, "Done means" 5), with the real
 * CLI and gems of the generated source of the mirror tests (test/support/mirror-upstream.ts).
 *
 * A folder with broken files, killed midway and run again: every gem once in the catalog, the broken
 * files named, exit status 1.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  catalogCount,
  catalogRows,
  jsonRun,
  killWhen,
  quarry,
  sorted,
  spawnQuarry,
  TIMEOUT,
  tempFilesUnder,
} from '../support/mirror-e2e.ts';
import { buildGem, generateGems } from '../support/mirror-upstream.ts';
import { ensureBuilt } from '../support/quarry.ts';
import { describeRun } from '../support/ruby.ts';

describe('quarry import, end to end', () => {
  let root: string;

  before(() => {
    ensureBuilt();
    root = mkdtempSync(join(tmpdir(), 'quarry-mirror-e2e-'));
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test(
    '5. quarry import of a Gem in a Box folder, killed midway: every gem once, broken files named, exit 1',
    TIMEOUT,
    async () => {
      // Gem in a Box keeps its gems in DATA/gems, beside its own indexes (not .gem files).
      const gib = join(root, 'geminabox', 'data');
      const gemsDir = join(gib, 'gems');
      mkdirSync(gemsDir, { recursive: true });
      mkdirSync(join(gib, 'quick', 'Marshal.4.8'), { recursive: true });
      writeFileSync(join(gib, 'specs.4.8.gz'), Buffer.from('not read'));
      writeFileSync(join(gib, 'quick', 'Marshal.4.8', 'x-1.0.gemspec.rz'), Buffer.from('not read'));
      const good = generateGems({ count: 1000 }).slice(0, 400);
      for (const g of good) writeFileSync(join(gemsDir, `${g.file}.gem`), buildGem(g));
      const broken = ['broken-1.0.0.gem', 'truncated-2.0.0.gem'];
      writeFileSync(join(gemsDir, broken[0]!), Buffer.from('this is not a gem\n'.repeat(40)));
      // Cut inside data.tar.gz, as an interrupted download would be.
      const whole = buildGem({
        ...good[0]!,
        name: 'truncated',
        version: '2.0.0',
        file: 'truncated-2.0.0',
        payload: 20_000,
      });
      writeFileSync(join(gemsDir, broken[1]!), whole.subarray(0, Math.floor(whole.length / 2)));

      const m5 = join(root, 'm5');
      const args = ['import', gib, '--data', m5];
      // Killed once a random share (20-70%) of the gems is in.
      const target = Math.ceil(good.length * (0.2 + Math.random() * 0.5));
      const first = spawnQuarry(args);
      assert.ok(await killWhen(first, async () => catalogCount(m5) >= target), 'killed before the end');
      await first.done;
      const stored = catalogCount(m5);
      assert.ok(stored > 0 && stored < good.length, `killed midway (${stored} of ${good.length} in)`);

      // Run again (human output): the rest goes in, the broken files are named, exit status 1.
      const run = await quarry(args);
      assert.equal(run.status, 1, describeRun('quarry import with broken files', run));
      for (const b of broken) {
        assert.match(run.stderr, new RegExp(`quarry: failed: \\S*/${b.replace(/\./g, '\\.')}: `), run.stderr);
      }
      const counts = /^imported (\d+), already present (\d+), failed (\d+)$/m.exec(run.stdout);
      assert.ok(counts, run.stdout);
      assert.deepEqual(
        counts.slice(1).map(Number),
        [good.length - stored, stored, broken.length],
        `the rest imported, the ${stored} stored before the kill already present`,
      );
      const rows = catalogRows(m5);
      assert.deepEqual(
        rows.map((r) => r.file),
        sorted(good.map((g) => g.file)),
        'every gem once in the catalog',
      );
      assert.ok(rows.every((r) => r.origin === 'import'));
      assert.deepEqual(tempFilesUnder(m5), []);

      // And once more, with --json: nothing new, the same two files refused.
      const { report, run: third } = await jsonRun<{
        imported: string[];
        present: string[];
        failed: { file: string; reason: string }[];
      }>('quarry import (third)', args);
      assert.equal(third.status, 1);
      assert.deepEqual([report.imported.length, report.present.length], [0, good.length]);
      assert.deepEqual(
        report.failed.map((f) => f.file),
        broken.map((b) => join(gemsDir, b)),
      );
      assert.equal(catalogCount(m5), good.length);
    },
  );
});
