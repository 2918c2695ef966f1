/**
 * Later runs of `quarry mirror NAMES` end to end (issue 12, "Done means" 4), against a `quarry serve`
 * of about 1,000 generated gems (test/support/mirror-fixture.ts), each request of which is logged.
 *
 * Item 1's closure is mirrored first; then new versions and a yank upstream: a second run GETs only
 * the new .gem files (the upstream's request log) and reads /versions with a Range; `--sync-yanks`
 * then yanks the yanked one here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { catalogRows, mirrorRun, show, sorted, TIMEOUT, versionsFiles } from '../support/mirror-e2e.ts';
import { changeUpstream, mirrorUpstream, pickRoots } from '../support/mirror-fixture.ts';
import { expectedClosure } from '../support/mirror-upstream.ts';

describe('quarry mirror NAMES again, after changes upstream, end to end', () => {
  const e = mirrorUpstream();

  test(
    '4. new versions and a yank upstream: a later run fetches only the new ones; --sync-yanks yanks',
    TIMEOUT,
    async () => {
      const m1 = join(e.root, 'm1');
      const roots1 = pickRoots(e.current);
      const closure1 = expectedClosure(e.current, { roots: roots1 });
      const first = await mirrorRun('quarry mirror NAMES', [
        ...roots1.flat(),
        '--upstream',
        e.url,
        '--data',
        m1,
      ]);
      assert.deepEqual(sorted(first.fetched), closure1, 'the closure of item 1 is mirrored first');
      assert.ok(closure1.length > 0, 'item 1 ran first');

      // New versions: of a root (within its requirement), of a dependency in the closure, and of a
      // gem outside it (not to be fetched). A yank: an older version of a dependency in the closure.
      const { rootNew, depNew, outsideNew, yanked } = await changeUpstream(e, roots1, closure1);
      const { upstream } = e;

      const closure = expectedClosure(e.current, { roots: roots1 });
      const expectedNew = closure.filter((f) => !closure1.includes(f));
      assert.ok(
        expectedNew.includes(rootNew.file) && expectedNew.includes(depNew.file),
        expectedNew.join(' '),
      );
      assert.ok(!closure.includes(outsideNew.file));

      // The second run, without --sync-yanks: only the new versions.
      let mark = await upstream.mark();
      const second = await mirrorRun('quarry mirror (second run)', [
        ...roots1.flat(),
        '--upstream',
        e.url,
        '--data',
        m1,
      ]);
      let reqs = await upstream.requestsSince(mark);
      const gets = reqs.filter((r) => r.method === 'GET' && r.path.startsWith('/gems/'));
      assert.deepEqual(
        sorted(gets.map((r) => r.path.slice('/gems/'.length).replace(/\.gem$/, ''))),
        expectedNew,
        `only the new versions are downloaded, once each:\n${show(reqs)}`,
      );
      assert.deepEqual(sorted(second.fetched), expectedNew);
      assert.deepEqual(second.yanked, []);
      const versionsReqs = reqs.filter((r) => r.path === '/versions');
      assert.ok(
        versionsReqs.length === 1 && versionsReqs[0]!.status === 206,
        `/versions is read from where the stored copy ends (Range, 206):\n${show(reqs)}`,
      );
      const infos = reqs.filter((r) => r.path.startsWith('/info/')).map((r) => r.path.slice('/info/'.length));
      assert.deepEqual(
        sorted(new Set(infos)),
        sorted(new Set([rootNew.name, depNew.name])),
        `/info is asked again only for the names that changed:\n${show(reqs)}`,
      );
      assert.ok(
        !catalogRows(m1).find((r) => r.file === yanked.file)!.yanked,
        'not yanked without --sync-yanks',
      );

      // The third run, with --sync-yanks: nothing to download, the yanked version yanked here.
      mark = await upstream.mark();
      const third = await mirrorRun('quarry mirror --sync-yanks', [
        ...roots1.flat(),
        '--sync-yanks',
        '--upstream',
        e.url,
        '--data',
        m1,
      ]);
      reqs = await upstream.requestsSince(mark);
      assert.deepEqual(show(reqs.filter((r) => r.path.startsWith('/gems/'))), '', 'nothing downloaded');
      assert.deepEqual(third.fetched, []);
      assert.deepEqual(third.yanked, [yanked.file]);
      const rows = catalogRows(m1);
      assert.ok(rows.find((r) => r.file === yanked.file)!.yanked, `${yanked.file} is yanked here`);
      assert.deepEqual(sorted(rows.filter((r) => !r.yanked).map((r) => r.file)), closure);
      const mirror = await e.serve(m1);
      assert.deepEqual(versionsFiles(await (await mirror.fetch('/versions')).text()), closure);
      assert.equal((await mirror.fetch(`/gems/${yanked.file}.gem`)).status, 404);
      await mirror.stop();
    },
  );
});
