/**
 * The upstream client against a loopback server that misbehaves on purpose: deadlines (also for a
 * request still waiting for one of the pool's connections), bodies over the limit, bodies cut short,
 * and repeated headers.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isQuarryError } from '../../src/errors.ts';
import { UpstreamClient } from '../../src/upstream/client.ts';
import { upstreamAt } from '../http/harness.ts';

describe('upstream client', () => {
  let url = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    if (path === '/hang') return; // never answers
    if (path === '/big') {
      res.writeHead(200, { 'content-length': '2048' });
      return res.end(Buffer.alloc(2048));
    }
    if (path === '/big-chunked') {
      res.writeHead(200);
      res.write(Buffer.alloc(1024));
      return res.end(Buffer.alloc(1024));
    }
    if (path === '/cut') {
      res.writeHead(200, { 'content-length': '100' });
      res.write(Buffer.alloc(10));
      return setImmediate(() => res.socket?.destroy());
    }
    if (path === '/ok') {
      res.setHeader('x-many', ['a', 'b']);
      res.writeHead(200, { etag: '"e"' });
      return res.end('hello');
    }
    res.writeHead(404);
    res.end('no');
  });
  const client = (timeout_ms = 300) =>
    new UpstreamClient({ ...upstreamAt(url, 'test'), timeout_ms, max_age_ms: 60_000 });

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('answers the body, the status and the headers (repeated ones joined)', async () => {
    const c = client();
    const r = await c.get('ok');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello');
    assert.equal(r.headers['etag'], '"e"');
    assert.equal(r.headers['x-many'], 'a, b');
    assert.equal((await c.get('missing')).status, 404);
    await c.close();
  });

  it('times out every request past the deadline, those waiting for a connection too', async () => {
    const c = client(300);
    // The pool has 16 connections: the last four wait for one that never frees.
    const all = await Promise.allSettled(Array.from({ length: 20 }, () => c.get('hang')));
    for (const r of all) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason;
      assert.ok(isQuarryError(e) && e.code === 'upstream_timeout', String(e));
    }
    await c.close();
  });

  it('refuses a body over the limit, declared or not', async () => {
    const c = client();
    for (const path of ['big', 'big-chunked']) {
      await assert.rejects(
        c.get(path, { maxBytes: 1500 }),
        (e: unknown) => isQuarryError(e) && e.code === 'upstream_bad_gateway' && /over 1500/.test(e.message),
      );
    }
    assert.equal((await c.get('big', { maxBytes: 4096 })).body.length, 2048);
    await c.close();
  });

  it('fails a body cut short as the upstream being unavailable or bad, never as an answer', async () => {
    const c = client();
    await assert.rejects(
      c.get('cut'),
      (e: unknown) =>
        isQuarryError(e) && (e.code === 'upstream_unavailable' || e.code === 'upstream_bad_gateway'),
    );
    await c.close();
  });
});
