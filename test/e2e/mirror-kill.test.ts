/**
 * `quarry mirror --all` killed and run again, end to end (issue 12, "Done means" 3), against a
 * `quarry serve` of about 1,000 generated gems (test/support/mirror-fixture.ts), changed as item 4
 * changes it (versions pushed and one yanked).
 *
 * Runs killed with SIGKILL at random moments, then run to the end: no temp file anywhere,
 * `quarry verify` clean, and every .gem served equals the upstream's /info checksum.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { mapLimit } from '../../src/util/atomic-fs.ts';
import {
  ALL_PLATFORMS,
  catalogCount,
  catalogRows,
  infoChecksums,
  jsonRun,
  killWhen,
  mirrorRun,
  sha256,
  sorted,
  spawnQuarry,
  TIMEOUT,
  tempFilesUnder,
  versionsFiles,
} from '../support/mirror-e2e.ts';
import { mirrorUpstream } from '../support/mirror-fixture.ts';
import { describeRun } from '../support/ruby.ts';

describe('quarry mirror --all, killed and run again, end to end', () => {
  const e = mirrorUpstream({ changed: true });

  test(
    '3. killed with SIGKILL at random moments and run again: complete, no partial file, sha256 of the upstream',
    TIMEOUT,
    async () => {
      const { upstream } = e;
      const m3 = join(e.root, 'm3');
      const args = [
        'mirror',
        '--all',
        '--pre',
        '--platform',
        ALL_PLATFORMS,
        '--upstream',
        e.url,
        '--data',
        m3,
      ];
      const total = versionsFiles(await (await upstream.fetch('/versions')).text());
      // The first run is killed after a random delay (while it starts or reads the index), the
      // next ones once a random number of gems more is stored (while downloading and recording).
      const kills: string[] = [];
      for (let i = 0; i < 4; i++) {
        const target = catalogCount(m3) + Math.ceil(total.length * (0.05 + Math.random() * 0.2));
        const delay = Math.round(200 + Math.random() * 500);
        const run = spawnQuarry(args);
        const killed =
          i === 0
            ? await killWhen(run, async () => true, delay)
            : await killWhen(run, async () => catalogCount(m3) >= target);
        const r = await run.done;
        if (!killed) break; // it finished first
        assert.equal(r.signal, 'SIGKILL', describeRun('killed mirror', r));
        kills.push(
          i === 0 ? `after ${delay} ms (${catalogCount(m3)} stored)` : `at ${catalogCount(m3)} stored`,
        );
      }
      assert.ok(kills.length >= 3, `killed ${kills.length} times: ${kills.join(', ')}`);
      const last = await mirrorRun(`quarry mirror --all after kills at ${kills.join(', ')}`, args.slice(1));
      assert.equal(last.fetched.length + last.present.length, total.length, 'complete');
      assert.ok(last.present.length > 0, `went on where the killed runs stopped (${kills.join(', ')})`);

      assert.deepEqual(tempFilesUnder(m3), [], 'no temp file left anywhere in the data folder');
      const { report: verify, run: verifyRun } = await jsonRun<{
        ok: boolean;
        referenced: number;
        problems: unknown[];
        orphans: unknown[];
        tempFiles: unknown[];
      }>('quarry verify', ['verify', '--data', m3]);
      assert.equal(verifyRun.status, 0, describeRun('quarry verify', verifyRun));
      assert.equal(verify.ok, true);
      assert.deepEqual(
        [verify.problems, verify.orphans, verify.tempFiles],
        [[], [], []],
        JSON.stringify(verify),
      );
      assert.equal(verify.referenced, total.length);
      assert.deepEqual(
        catalogRows(m3).map((r) => r.file),
        total,
      );

      // Every .gem the mirror serves has the upstream's /info checksum.
      const expected = new Map<string, string>();
      const names = sorted(new Set(e.current.map((g) => g.name)));
      await mapLimit(names, 16, async (n) => {
        for (const [f, sum] of infoChecksums(n, await (await upstream.fetch(`/info/${n}`)).text()))
          expected.set(f, sum);
      });
      assert.deepEqual(sorted(expected.keys()), total);
      const mirror = await e.serve(m3);
      const wrong: string[] = [];
      await mapLimit(total, 16, async (f) => {
        const r = await mirror.fetch(`/gems/${f}.gem`);
        const body = Buffer.from(await r.arrayBuffer());
        if (r.status !== 200 || sha256(body) !== expected.get(f)) wrong.push(`${f} (${r.status})`);
      });
      assert.deepEqual(wrong, []);
      await mirror.stop();
    },
  );
});
