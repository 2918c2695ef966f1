/**
 * `quarry mirror --lockfile` end to end (issue 12, "Done means" 2), against a `quarry serve` of about
 * 1,000 generated gems (test/support/mirror-fixture.ts), with Debian's RubyGems 3.3 and Bundler 2.3.
 *
 * With a Gemfile.lock written by `bundle lock`: exactly the locked gems are fetched; then, upstream
 * stopped, `bundle install --frozen` of that lockfile through `bundle config mirror.UPSTREAM`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { catalogRows, lockedFiles, mirrorRun, show, sorted, TIMEOUT } from '../support/mirror-e2e.ts';
import { mirrorUpstream, pickRoots } from '../support/mirror-fixture.ts';
import { describeRun, expectSuccess } from '../support/ruby.ts';

describe('quarry mirror --lockfile, end to end', () => {
  const e = mirrorUpstream();

  test(
    '2. --lockfile: exactly the locked gems; bundle install --frozen of that lockfile from the mirror',
    TIMEOUT,
    async () => {
      const { current } = e;
      // Two gems not named in item 1, whose locked versions include a platform gem (x86_64-linux).
      const taken = new Set(pickRoots(current).map(([n]) => n));
      const native = current.filter((g) => g.platform === 'x86_64-linux' && !/[a-z]/.test(g.version));
      const newestStable = (n: string) =>
        current.filter((g) => g.name === n && g.platform === 'ruby' && !/[a-z]/.test(g.version)).at(-1)
          ?.version;
      const nativeNewest = native.find((g) => !taken.has(g.name) && newestStable(g.name) === g.version);
      assert.ok(nativeNewest, 'the source has a gem whose newest version is also built for x86_64-linux');
      const other = current.find(
        (g) =>
          !taken.has(g.name) &&
          g.name !== nativeNewest.name &&
          g.deps.length >= 2 &&
          !g.name.includes('-dev-'),
      )!;
      const s = e.sandbox();
      const app = join(s.root, 'app');
      mkdirSync(app);
      const upstreamSource = `${e.url}/`;
      writeFileSync(
        join(app, 'Gemfile'),
        `source "${upstreamSource}"\n\ngem "${nativeNewest.name}"\ngem "${other.name}"\n`,
      );
      expectSuccess('bundle lock (against the upstream)', await s.bundle(['lock'], { cwd: app }));
      const lockText = readFileSync(join(app, 'Gemfile.lock'), 'utf8');
      const locked = lockedFiles(lockText);
      assert.ok(locked.includes(nativeNewest.file), `the lock has ${nativeNewest.file}:\n${lockText}`);
      assert.ok(locked.length >= 3, lockText);

      const lockfile = join(app, 'Gemfile.lock');
      const m2 = join(e.root, 'm2');
      const report = await mirrorRun('quarry mirror --lockfile', [
        '--lockfile',
        lockfile,
        '--upstream',
        e.url,
        '--data',
        m2,
      ]);
      assert.deepEqual(sorted(report.fetched), locked);
      assert.deepEqual(
        catalogRows(m2).map((r) => r.file),
        locked,
        'the catalog holds the locked gems and nothing else',
      );

      await e.withUpstreamStopped(async () => {
        const mirror = await e.serve(m2);
        const fresh = e.sandbox();
        const app2 = join(fresh.root, 'app');
        mkdirSync(app2);
        copyFileSync(join(app, 'Gemfile'), join(app2, 'Gemfile'));
        copyFileSync(lockfile, join(app2, 'Gemfile.lock'));
        expectSuccess(
          'bundle config mirror',
          await fresh.bundle(['config', 'set', '--global', `mirror.${upstreamSource}`, `${mirror.url}/`]),
        );
        const mark = await mirror.mark();
        const r = await fresh.bundle(['install'], {
          cwd: app2,
          env: { BUNDLE_PATH: join(fresh.root, 'bundle'), BUNDLE_FROZEN: 'true' },
        });
        const reqs = await mirror.requestsSince(mark);
        assert.equal(
          r.status,
          0,
          `${describeRun('bundle install --frozen (upstream stopped)', r)}\n${show(reqs)}`,
        );
        assert.equal(readFileSync(join(app2, 'Gemfile.lock'), 'utf8'), lockText, 'the lockfile is unchanged');
        const abi = readdirSync(join(fresh.root, 'bundle', 'ruby'))[0]!;
        const cached = sorted(
          readdirSync(join(fresh.root, 'bundle', 'ruby', abi, 'cache')).map((f) => f.replace(/\.gem$/, '')),
        );
        assert.deepEqual(cached, locked, 'Bundler installed the locked gems, from the mirror');
        await mirror.stop();
      });
    },
  );
});
