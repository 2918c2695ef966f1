/**
 * The wire responder (src/http/wire.ts) over raw sockets: pipelined and split requests, the hand
 * over to node:http (then Fastify) of anything unusual on the same connection, answers in request
 * order across slow and fast answers, Connection: close, half-close, and closing the server.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseHead, Wire } from '../../src/http/wire.ts';
import { makeGem } from '../support/make-gem.ts';
import type { Harness } from './harness.ts';
import { push, startHarness } from './harness.ts';

describe('parseHead', () => {
  const head = (...lines: string[]) => parseHead(lines.join('\r\n'));

  it('takes plain HTTP/1.1 requests, with lower-case names and values without surrounding blanks', () => {
    const h = head('GET /info/rake HTTP/1.1', 'Host: x', 'Range:  bytes=4- \t', 'If-None-Match: "a"');
    assert.equal(h?.method, 'GET');
    assert.equal(h?.url, '/info/rake');
    assert.deepEqual({ ...h?.headers }, { host: 'x', range: 'bytes=4-', 'if-none-match': '"a"' });
    assert.equal(head('HEAD /versions HTTP/1.1', 'host: x', 'connection: Keep-Alive')?.method, 'HEAD');
    assert.equal(head('GET / HTTP/1.1', 'Host:')?.headers['host'], '');
  });

  it('leaves anything unusual to node:http', () => {
    const cases: Record<string, string[]> = {
      'HTTP/1.0': ['GET / HTTP/1.0', 'Host: x'],
      'no Host': ['GET / HTTP/1.1'],
      'a header twice': ['GET / HTTP/1.1', 'Host: x', 'Range: bytes=1-', 'range: bytes=2-'],
      'Connection: close': ['GET / HTTP/1.1', 'Host: x', 'Connection: close'],
      'Connection: upgrade': ['GET / HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: h2c'],
      'a body': ['GET / HTTP/1.1', 'Host: x', 'Content-Length: 3'],
      chunked: ['GET / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'],
      Expect: ['GET / HTTP/1.1', 'Host: x', 'Expect: 100-continue'],
      'a folded line': ['GET / HTTP/1.1', 'Host: x', 'X-A: 1', ' 2'],
      'a space before the colon': ['GET / HTTP/1.1', 'Host : x'],
      'a control character': ['GET / HTTP/1.1', 'Host: x', 'X-A: a\x01b'],
      'an absolute target': ['GET http://x/versions HTTP/1.1', 'Host: x'],
      'a space in the target': ['GET /a b HTTP/1.1', 'Host: x'],
      'no version': ['GET /versions', 'Host: x'],
      'a bad method': ['G(T / HTTP/1.1', 'Host: x'],
      __proto__: ['GET / HTTP/1.1', 'Host: x', '__proto__: 1', '__proto__: 2'],
    };
    for (const [label, lines] of Object.entries(cases)) assert.equal(head(...lines), null, label);
  });
});

interface Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A raw client: writes bytes as given, reads responses by Content-Length. */
class Raw {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  closed = false;
  readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.waiting?.();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** The next `n` responses; `head` lists which of them answer HEAD (no body). */
  async read(n: number, head: boolean[] = []): Promise<Response[]> {
    const out: Response[] = [];
    while (out.length < n) {
      const r = this.take(head[out.length] ?? false);
      if (r) {
        out.push(r);
        continue;
      }
      if (this.closed) throw new Error(`connection closed after ${out.length} of ${n} responses`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
      this.waiting = null;
    }
    return out;
  }

  /** Resolves when the server closes the connection. */
  async ended(): Promise<void> {
    while (!this.closed)
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
  }

  get pending(): number {
    return this.buf.length;
  }

  private take(isHead: boolean): Response | null {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const [line, ...lines] = this.buf.toString('latin1', 0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const c = l.indexOf(':');
      headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
    }
    const status = Number(line!.split(' ')[1]);
    const length = isHead || status === 304 ? 0 : Number(headers['content-length'] ?? 0);
    if (this.buf.length < end + 4 + length) return null;
    const body = Buffer.from(this.buf.subarray(end + 4, end + 4 + length));
    this.buf = this.buf.subarray(end + 4 + length);
    return { status, headers, body };
  }
}

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

describe('wire responder', () => {
  let h: Harness;
  let port: number;
  /** Requests Fastify saw (over the socket). */
  const viaFastify: string[] = [];
  /** Requests node:http parsed (the wire responder's own answers never reach it). */
  const viaNodeHttp: string[] = [];
  const alpha = makeGem({ name: 'alpha', version: '1.0.0' });
  const beta = makeGem({ name: 'beta', version: '0.1.0' });
  let versions: Buffer;

  before(async () => {
    h = await startHarness();
    h.app.addHook('onRequest', async (req) => {
      if (req.headers['user-agent'] !== 'lightMyRequest') viaFastify.push(`${req.method} ${req.url}`);
    });
    for (const g of [alpha, beta]) assert.equal((await push(h, g)).statusCode, 200);
    versions = (await h.app.inject({ url: '/versions' })).rawPayload;
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    h.app.server.prependListener('request', (req) => viaNodeHttp.push(`${req.method} ${req.url}`));
    port = (h.app.server.address() as { port: number }).port;
  });
  after(() => h.close());

  it('answers pipelined requests in order on one connection, keep-alive', async () => {
    viaFastify.length = 0;
    viaNodeHttp.length = 0;
    const c = new Raw(port);
    c.write(
      get('/versions') + get('/info/alpha') + get('/info/nope') + get('/versions', 'Range: bytes=3-\r\n'),
    );
    const [v, info, nope, tail] = await c.read(4);
    assert.equal(v!.status, 200);
    assert.ok(v!.body.equals(versions));
    assert.equal(v!.headers['connection'], 'keep-alive');
    assert.match(v!.headers['keep-alive']!, /^timeout=\d+$/);
    assert.ok(!Number.isNaN(Date.parse(v!.headers['date']!)));
    assert.equal(info!.status, 200);
    assert.match(info!.body.toString(), /^---\n1\.0\.0 /);
    assert.equal(nope!.status, 404);
    assert.equal(tail!.status, 206);
    assert.ok(tail!.body.equals(versions.subarray(3)));
    c.write(`HEAD /versions HTTP/1.1\r\nHost: t\r\n\r\n${get('/names')}`);
    const [hd, names] = await c.read(2, [true]);
    assert.equal(hd!.headers['content-length'], String(versions.length));
    assert.equal(hd!.body.length, 0);
    assert.equal(names!.body.toString(), '---\nalpha\nbeta\n');
    assert.equal(c.pending, 0, 'no bytes beyond the answers');
    assert.deepEqual(viaFastify, []);
    assert.deepEqual(viaNodeHttp, [], 'the wire responder answered all of them');
    c.socket.destroy();
  });

  it('keeps answers in request order when one of them has to wait', async () => {
    // Each .gem body is read from storage the first time (an asynchronous answer).
    const c = new Raw(port);
    c.write(get('/gems/beta-0.1.0.gem') + get('/versions') + get('/gems/alpha-1.0.0.gem') + get('/names'));
    const [b, v, a, n] = await c.read(4);
    assert.ok(b!.body.equals(beta));
    assert.ok(v!.body.equals(versions));
    assert.ok(a!.body.equals(alpha));
    assert.equal(n!.status, 200);
    c.socket.destroy();
  });

  it('hands the connection to node:http at the first request it does not take, with its bytes', async () => {
    viaFastify.length = 0;
    viaNodeHttp.length = 0;
    const c = new Raw(port);
    const body = Buffer.alloc(70_000, 1);
    c.write(get('/info/alpha'));
    const [first] = await c.read(1);
    assert.equal(first!.status, 200);
    // A push of a body that is no gem, larger than one read, then more reads on the same socket.
    c.write(
      `POST /api/v1/gems HTTP/1.1\r\nHost: t\r\nAuthorization: ${h.pushKey}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    c.write(body.subarray(0, 1000));
    await new Promise((r) => setTimeout(r, 20));
    c.write(Buffer.concat([body.subarray(1000), Buffer.from(get('/info/beta') + get('/health'))]));
    const [pushed, info, health] = await c.read(3);
    assert.equal(pushed!.status, 422);
    assert.match(pushed!.body.toString(), /tar/);
    assert.equal(info!.status, 200);
    assert.match(info!.body.toString(), /^---\n0\.1\.0 /);
    assert.equal(health!.status, 200);
    // From the push on, node:http reads the connection; /info/beta was answered by the fast path
    // behind node:http, not by Fastify.
    assert.deepEqual(viaNodeHttp, ['POST /api/v1/gems', 'GET /info/beta', 'GET /health']);
    assert.deepEqual(viaFastify, ['POST /api/v1/gems', 'GET /health']);
    c.socket.destroy();
  });

  it('gives node:http a head that comes in pieces, and HTTP/1.0', async () => {
    viaNodeHttp.length = 0;
    const c = new Raw(port);
    c.write('GET /info/al');
    await new Promise((r) => setTimeout(r, 20));
    c.write('pha HTTP/1.1\r\nHost: t\r\n\r\n');
    const [split] = await c.read(1);
    assert.equal(split!.status, 200);
    assert.match(split!.body.toString(), /^---\n1\.0\.0 /);
    c.socket.destroy();
    const old = new Raw(port);
    old.write('GET /versions HTTP/1.0\r\n\r\n');
    const [r] = await old.read(1);
    assert.ok(r!.body.equals(versions));
    await old.ended();
    // Both were handed over: node:http parsed them (the wire responder answers neither).
    assert.deepEqual(viaNodeHttp, ['GET /info/alpha', 'GET /versions']);
  });

  it('closes after the answer on Connection: close and after the client’s FIN', async () => {
    const c = new Raw(port);
    c.write(get('/versions') + get('/names', 'Connection: close\r\n'));
    const [, names] = await c.read(2);
    assert.equal(names!.headers['connection'], 'close');
    await c.ended();
    const d = new Raw(port);
    d.socket.end(get('/gems/alpha-1.0.0.gem') + get('/names'));
    const [gem, n] = await d.read(2);
    assert.ok(gem!.body.equals(alpha));
    assert.equal(n!.status, 200);
    await d.ended();
  });

  it('closes idle connections when the server closes, and the close does not wait for them', async () => {
    const s = await startHarness();
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    const c = new Raw((s.app.server.address() as { port: number }).port);
    c.write(get('/versions'));
    assert.equal((await c.read(1))[0]!.status, 200);
    const t0 = Date.now();
    await s.close();
    await c.ended();
    assert.ok(Date.now() - t0 < 10_000, 'closed before the keep-alive timeout');
  });
});

describe('wire responder: timeouts', () => {
  // A bare node:http server with the responder and one route, and a short keep-alive timeout.
  const body = Buffer.alloc(64 * 1024, 120);
  const answer = {
    status: 200,
    headers: { 'content-type': 'text/plain', 'content-length': String(body.length) },
    body,
  };
  const routes = {
    closing: false,
    match: (method: string, url: string) => (method === 'GET' && url === '/big' ? 'big' : null),
    answer: () => answer,
    recover: () => null,
    record: () => {},
  };
  let server: Server;
  let port: number;

  before(async () => {
    server = createServer((_req, res) => res.end('via node:http\n'));
    new Wire(server, routes, 300);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('closes a connection idle for the keep-alive timeout', async () => {
    const c = new Raw(port);
    c.write(get('/big'));
    const [r] = await c.read(1);
    assert.equal(r!.body.length, body.length);
    const t0 = Date.now();
    await c.ended();
    assert.ok(Date.now() - t0 >= 200, 'not before the timeout');
  });

  it('stops reading from a client that does not read its answers, then closes it', async () => {
    const connections = () =>
      new Promise<number>((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    const c = new Raw(port);
    c.socket.pause();
    c.socket.on('error', () => {});
    // Far more answers than the sockets buffer: the responder waits for a drain that never comes.
    c.write(get('/big').repeat(2000));
    while ((await connections()) === 0) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    while ((await connections()) > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await connections(), 0, 'the server closed the stalled connection');
    assert.ok(Date.now() - t0 >= 200, 'not before the timeout');
    assert.ok(c.socket.readableLength + c.pending < body.length * 2000, 'it stopped answering');
  });

  it('hands other requests to node:http', async () => {
    const c = new Raw(port);
    c.write(get('/other'));
    const [r] = await c.read(1);
    assert.equal(r!.body.toString(), 'via node:http\n');
    c.socket.destroy();
  });
});
