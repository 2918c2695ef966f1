/**
 * `quarry mirror NAMES` end to end (issue 12, "Done means" 1), with the real CLI, real `quarry serve`
 * processes on loopback, and Debian's RubyGems 3.3 and Bundler 2.3. The upstream is a `quarry serve`
 * of about 1,000 generated gems (test/support/mirror-fixture.ts); expected closures are computed by
 * RubyGems itself from the generator's data, not by src/index/closure.ts.
 *
 * Three named gems (one with a requirement): `--dry-run --exclude DEP` lists the closure without DEP
 * and stores nothing; then exactly their runtime closure is fetched; with the upstream stopped,
 * `bundle install` of a Gemfile naming them succeeds against the mirror.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  ALL_PLATFORMS,
  catalogCount,
  catalogRows,
  lockedFiles,
  mirrorRun,
  nameOf,
  quarry,
  sorted,
  TIMEOUT,
  versionsFiles,
} from '../support/mirror-e2e.ts';
import { mirrorUpstream, pickRoots } from '../support/mirror-fixture.ts';
import { expectedClosure } from '../support/mirror-upstream.ts';
import { describeRun } from '../support/ruby.ts';

describe('quarry mirror NAMES, end to end', () => {
  const e = mirrorUpstream();

  test(
    '1. three named gems: exactly their runtime closure; bundle install from the mirror alone',
    TIMEOUT,
    async () => {
      const { current } = e;
      const m1 = join(e.root, 'm1');
      const roots1 = pickRoots(current);
      const closure1 = expectedClosure(current, { roots: roots1 });

      const inClosure = new Set(closure1.map((f) => nameOf(f, current)));
      const everything = expectedClosure(current, {
        roots: roots1,
        platforms: ALL_PLATFORMS.split(','),
        pre: true,
      });
      assert.ok(closure1.length >= 20, `a real tree: ${closure1.join(' ')}`);
      assert.ok(
        everything.some((f) => /-(java|x86_64-linux)$/.test(f)),
        'the closure has gems with platform variants, which the default (ruby) leaves out',
      );
      assert.ok(
        everything.some((f) => /\d\.(rc|beta|pre)/.test(f)),
        'the closure has gems with prereleases, left out without --pre',
      );
      assert.ok(
        current.some((g) => inClosure.has(g.name) && g.devDeps.length > 0),
        'some gem of the closure has a development dependency, never followed',
      );
      assert.ok(
        [...inClosure].some((n) => closure1.filter((f) => nameOf(f, current) === n).length > 1),
        'some dependency is taken at more than one version',
      );

      const args = roots1.flat();
      // --dry-run with a dependency excluded: the list without it (nor what only it needs), no
      // failure, nothing stored.
      const dep = closure1.map((f) => nameOf(f, current)!).find((n) => !roots1.some(([r]) => r === n))!;
      const dry = await quarry([
        'mirror',
        ...args,
        '--exclude',
        dep,
        '--dry-run',
        '--upstream',
        e.url,
        '--data',
        m1,
      ]);
      assert.equal(dry.status, 0, describeRun('quarry mirror --dry-run --exclude', dry));
      const listed = dry.stdout.split('\n').flatMap((l) => /^would fetch (\S+)\.gem$/.exec(l)?.[1] ?? []);
      assert.deepEqual(sorted(listed), expectedClosure(current, { roots: roots1, exclude: [dep] }));
      assert.match(
        dry.stdout,
        new RegExp(`^would fetch ${listed.length} gems \\(\\d+\\.\\d MB\\); 0 already here$`, 'm'),
      );
      assert.match(dry.stderr, new RegExp(`excluded: ${dep}`));
      assert.equal(catalogCount(m1), 0, 'a dry run stores nothing');

      const report = await mirrorRun('quarry mirror NAMES', [...args, '--upstream', e.url, '--data', m1]);
      assert.deepEqual(sorted(report.fetched), closure1);
      assert.deepEqual(report.present, []);
      const rows = catalogRows(m1);
      assert.deepEqual(
        rows.map((r) => r.file),
        closure1,
        'the catalog holds the closure and nothing else',
      );
      assert.ok(
        rows.every((r) => r.origin === 'mirror:127-0-0-1'),
        'recorded as mirrored from the upstream',
      );
      assert.ok(!closure1.some((f) => f.includes('-dev-')), 'no development dependency');

      await e.withUpstreamStopped(async () => {
        const mirror = await e.serve(m1);
        assert.deepEqual(versionsFiles(await (await mirror.fetch('/versions')).text()), closure1);
        const s = e.sandbox();
        const app = join(s.root, 'app');
        mkdirSync(app);
        const gemLines = roots1.map(
          ([n, ...req]) => `gem ${[n, ...req].map((x) => JSON.stringify(x)).join(', ')}`,
        );
        writeFileSync(join(app, 'Gemfile'), `source "${mirror.url}/"\n\n${gemLines.join('\n')}\n`);
        const r = await s.bundle(['install', '--jobs', '4'], {
          cwd: app,
          env: { BUNDLE_PATH: join(s.root, 'bundle') },
        });
        assert.equal(r.status, 0, describeRun('bundle install (upstream stopped)', r));
        const locked = lockedFiles(readFileSync(join(app, 'Gemfile.lock'), 'utf8'));
        for (const [n] of roots1)
          assert.ok(
            locked.some((f) => nameOf(f, current) === n),
            `${n} is locked`,
          );
        for (const f of locked) assert.ok(closure1.includes(f), `locked ${f} is one of the mirrored gems`);
        await mirror.stop();
      });
    },
  );
});
