/**
 * /versions revalidated by Range against an upstream that sends neither a digest nor an MD5 ETag
 * (a static tree behind a plain file server: ETag "mtime-size"): a rewritten file is taken whole,
 * never spliced onto our copy; a grown one is extended from its tail.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MemoryBlobStore } from '../../src/blobs/memory.ts';
import { openCatalog } from '../../src/catalog/open.ts';
import type { Catalog } from '../../src/catalog/types.ts';
import { UpstreamSource } from '../../src/services/upstream-source.ts';
import { UpstreamClient } from '../../src/upstream/client.ts';
import { upstreamAt } from '../http/harness.ts';

const M = 'd41d8cd98f00b204e9800998ecf8427e';
const line = (name: string) => `${name} 1.0.0 ${M}\n`;

describe('/versions by Range from an upstream with no digest and no MD5 ETag', () => {
  let body = Buffer.alloc(0);
  const ranges: string[] = [];
  let server: Server;
  let url = '';
  let catalog: Catalog;
  before(async () => {
    server = createServer((req, res) => {
      const etag = `"${body.length.toString(16)}-5f3a"`;
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      ranges.push(req.headers.range ?? 'none');
      if (m && Number(m[1]) < body.length) {
        const from = Number(m[1]);
        const to = m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
        res
          .writeHead(206, { etag, 'content-range': `bytes ${from}-${to}/${body.length}` })
          .end(body.subarray(from, to + 1));
      } else res.writeHead(200, { etag }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    catalog = await openCatalog('sqlite::memory:', () => new Date(), {});
  });
  after(async () => {
    await catalog?.close();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Our copy after the upstream moved from `v1` to `v2`, and the Range headers of the second read. */
  const revalidate = async (v1: string, v2: string) => {
    const source = new UpstreamSource({
      client: new UpstreamClient({ ...upstreamAt(url), max_age_ms: 0 }, {}),
      blobs: new MemoryBlobStore(),
      catalog,
      now: () => new Date(),
      offline: false,
    });
    try {
      body = Buffer.from(v1);
      assert.ok((await source.versions(true)).doc.body.equals(body));
      body = Buffer.from(v2);
      ranges.length = 0;
      return { copy: (await source.versions(true)).doc.body.toString(), ranges: [...ranges] };
    } finally {
      await source.close();
    }
  };

  it('extends our copy when the file grew', async () => {
    const v1 = `created_at: 2024-01-01T00:00:00Z\n---\n${line('aaa')}${line('bbb')}`;
    const got = await revalidate(v1, `${v1}${line('ccc')}`);
    assert.equal(got.copy, `${v1}${line('ccc')}`);
    assert.ok(
      got.ranges.every((r) => r.startsWith('bytes=')),
      got.ranges.join(' '),
    );
  });

  it('takes a rewrite whole: a new created_at with a newline where our copy ends', async () => {
    const v1 = `created_at: 2024-01-01T00:00:00Z\n---\n${line('aaa')}${line('bbb')}`;
    let v2 = 'created_at: 2024-02-01T00:00:00Z\n---\n';
    const name = 'r'.repeat(v1.length - v2.length - line('').length);
    v2 += `${line(name)}${line('new')}`;
    assert.equal(v2[v1.length - 1], '\n', 'the rewrite has a newline at our last byte');
    assert.equal((await revalidate(v1, v2)).copy, v2);
  });

  it('takes a rewrite whole: a new created_at, the same lines and more, in a file larger than the bytes asked for again', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => line(`gem${String(i).padStart(4, '0')}`)).join('');
    const v1 = `created_at: 2024-01-01T00:00:00Z\n---\n${lines}`;
    const v2 = `created_at: 2024-02-01T00:00:00Z\n---\n${lines}${line('new')}`;
    assert.ok(v1.length > 3 * 4096);
    const got = await revalidate(v1, v2);
    assert.equal(got.copy, v2);
    // The tail (its last 4 KiB asked for again), the head compared, then the whole file.
    assert.deepEqual(got.ranges, [`bytes=${v1.length - 4096}-`, 'bytes=0-4095', 'none']);
  });

  it('takes a rewrite whole: the same created_at, lines re-sorted, longer', async () => {
    const v1 = `created_at: 2024-01-01T00:00:00Z\n---\n${line('aaa')}${line('ccc')}`;
    const v2 = `created_at: 2024-01-01T00:00:00Z\n---\n${line('aaa')}${line('bbb')}${line('ccc')}`;
    assert.equal((await revalidate(v1, v2)).copy, v2);
  });
});
