/**
 * `quarry mirror --all` end to end (issue 12, "Done means" 6), against a `quarry serve` of about 1,000
 * generated gems (test/support/mirror-fixture.ts), changed as item 4 changes it (versions pushed and
 * one yanked), with Debian's RubyGems 3.3.
 *
 * `--all --latest 1`, then `--all --pre --platform '*'`: counts match the upstream's /versions, and
 * `gem install` of a sample works against the mirror.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  catalogRows,
  compareNumeric,
  mirrorRun,
  sorted,
  TIMEOUT,
  versionsFiles,
} from '../support/mirror-e2e.ts';
import { mirrorUpstream } from '../support/mirror-fixture.ts';
import type { GenGem } from '../support/mirror-upstream.ts';
import { describeRun } from '../support/ruby.ts';

describe('quarry mirror --all, end to end', () => {
  const e = mirrorUpstream({ changed: true });

  test(
    '6. --all --latest 1, then --all: the whole upstream; gem install from the mirror',
    TIMEOUT,
    async () => {
      const { current } = e;
      const m6 = join(e.root, 'm6');
      const stable = current.filter((g) => g.platform === 'ruby' && !/[a-z]/.test(g.version));
      const newest = new Map<string, GenGem>();
      for (const g of stable) {
        const have = newest.get(g.name);
        if (!have || compareNumeric(g.version, have.version) > 0) newest.set(g.name, g);
      }
      const latest = sorted([...newest.values()].map((g) => g.file));
      const first = await mirrorRun('quarry mirror --all --latest 1', [
        '--all',
        '--latest',
        '1',
        '--upstream',
        e.url,
        '--data',
        m6,
      ]);
      assert.deepEqual(sorted(first.fetched), latest);

      const total = versionsFiles(await (await e.upstream.fetch('/versions')).text());
      assert.deepEqual(
        total,
        sorted(current.map((g) => g.file)),
        "the upstream's /versions is the generated source",
      );
      // Every platform ('*') and prereleases: the whole upstream.
      const all = await mirrorRun('quarry mirror --all', [
        '--all',
        '--pre',
        '--platform',
        '*',
        '--upstream',
        e.url,
        '--data',
        m6,
      ]);
      assert.equal(all.fetched.length + all.present.length, total.length);
      assert.equal(all.present.length, latest.length);
      assert.deepEqual(
        catalogRows(m6).map((r) => r.file),
        total,
        'the catalog holds the whole upstream',
      );
      // The same run again: it completed, so only names changed upstream since are looked at (none).
      const allArgs = ['--all', '--pre', '--platform', '*', '--upstream', e.url, '--data', m6];
      const again = await mirrorRun('quarry mirror --all (again)', allArgs);
      assert.equal(again.changedSince?.names, 0);
      assert.deepEqual([again.planned, again.fetched.length, again.present.length], [0, 0, 0]);
      // --recheck looks at every name: everything is here.
      const rechecked = await mirrorRun('quarry mirror --all --recheck', [...allArgs, '--recheck']);
      assert.equal(rechecked.changedSince, null);
      assert.deepEqual(
        [rechecked.planned, rechecked.fetched.length, rechecked.present.length],
        [total.length, 0, total.length],
      );

      await e.withUpstreamStopped(async () => {
        const mirror = await e.serve(m6);
        // A gem with dependencies, one whose newest version is built for x86_64-linux, and one more.
        const withDeps = [...newest.values()].find((g) => g.deps.length >= 3)!;
        const native = current.find(
          (g) => g.platform === 'x86_64-linux' && newest.get(g.name)?.version === g.version,
        )!;
        const plain = [...newest.values()].find((g) => g.deps.length === 0 && g.name !== native.name)!;
        const s = e.sandbox();
        const r = await s.gem([
          'install',
          withDeps.name,
          native.name,
          plain.name,
          '--clear-sources',
          '--source',
          `${mirror.url}/`,
        ]);
        assert.equal(r.status, 0, describeRun('gem install (from the mirror)', r));
        const installed = readdirSync(join(s.gemHome, 'specifications')).map((f) =>
          f.replace(/\.gemspec$/, ''),
        );
        for (const want of [newest.get(withDeps.name)!.file, native.file, newest.get(plain.name)!.file]) {
          assert.ok(installed.includes(want), `${want} installed: ${installed.join(' ')}`);
        }
        assert.ok(installed.length > 3, 'dependencies installed too');
        await mirror.stop();
      });
    },
  );
});
