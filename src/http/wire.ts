/**
 * The wire responder: hot reads answered straight on the server's sockets, below node:http.
 *
 * Every accepted connection starts here. While its requests are plain HTTP/1.1 GETs and HEADs
 * that the fast path (fast-reads.ts) takes, each arrives whole in the bytes read so far, and its
 * head parses cleanly, this module answers them itself: one write of prebuilt header lines and the
 * body, keep-alive, in order, pipelined requests included. The first request that is anything else
 * (another method, a body, HTTP/1.0, `Connection: close`, `Expect`, an upgrade, a duplicate or
 * malformed header, a head split over several reads or longer than 16 KiB, a route the fast path
 * leaves alone, an unexpected error) hands the connection to node:http with the unread bytes put
 * back, and node:http (then Fastify) owns it from there on, with all its checks and timeouts.
 *
 * Idle connections are closed after the server's keep-alive timeout, and at once when the server
 * starts closing; a connection waiting for an answer gets it, with `Connection: close`.
 */
import type { IncomingHttpHeaders, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Maybe } from '../util/maybe.ts';
import type { Answer } from './representation.ts';

/** The route table the responder serves: FastReads. */
export interface WireRoutes<M> {
  readonly closing: boolean;
  /** The route of a request, or null to hand the connection to node:http. */
  match(method: string, url: string, h: IncomingHttpHeaders): M | null;
  /** May throw; recover() maps what it throws. */
  answer(m: M, h: IncomingHttpHeaders): Maybe<Answer>;
  /** The answer to an expected error; null hands the connection to node:http. */
  recover(err: unknown): Answer | null;
  /** Metrics and the request log. */
  record(m: M, method: string, url: string, status: number, ua: string | undefined, t0: number): void;
}

/** A request head as this module takes it. */
export interface Head {
  method: string;
  url: string;
  /** Lower-case names; each name at most once. */
  headers: Record<string, string>;
}

/** node:http's default limit (--max-http-header-size); longer heads go to node:http, which says 431. */
export const MAX_HEAD = 16 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Control characters other than HTAB, which no header value may hold. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Origin-form targets of visible ASCII only. */
const TARGET = /^\/[\x21-\x7e]*$/;
/** Headers that ask for more than a plain exchange. */
const UNUSUAL = ['content-length', 'transfer-encoding', 'expect', 'upgrade'];

const isOws = (c: number): boolean => c === 0x20 || c === 0x09;

/**
 * Parses a request head (the text before the blank line, CRLF line ends) when it is a plain
 * HTTP/1.1 request this module may answer; null for anything node:http should judge.
 */
export function parseHead(text: string): Head | null {
  const lines = text.split('\r\n');
  const line = lines[0]!;
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  if (a <= 0 || b < 0 || line.slice(b + 1) !== 'HTTP/1.1') return null;
  const method = line.slice(0, a);
  const url = line.slice(a + 1, b);
  if (!TOKEN.test(method) || !TARGET.test(url)) return null;
  const headers: Record<string, string> = Object.create(null);
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    const colon = l.indexOf(':');
    if (colon <= 0) return null;
    const name = l.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name) || name in headers) return null;
    let s = colon + 1;
    let e = l.length;
    while (s < e && isOws(l.charCodeAt(s))) s++;
    while (e > s && isOws(l.charCodeAt(e - 1))) e--;
    const value = l.slice(s, e);
    if (CONTROL.test(value)) return null;
    headers[name] = value;
  }
  if (headers['host'] === undefined) return null;
  const connection = headers['connection'];
  if (connection !== undefined && connection.toLowerCase() !== 'keep-alive') return null;
  for (const h of UNUSUAL) if (headers[h] !== undefined) return null;
  return { method, url, headers };
}

/**
 * The status line and an Answer's header lines, formatted once per Answer (answers are reused),
 * kept on the answer itself: a WeakMap entry per answer costs the garbage collector more when most
 * answers live for one request (an /info from the body store).
 */
const HEAD = Symbol('wire head');
type Formatted = Answer & { [HEAD]?: string };

function headOf(a: Formatted): string {
  let s = a[HEAD];
  if (s === undefined) {
    s = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? 'Unknown'}\r\n`;
    for (const k in a.headers) {
      const v = a.headers[k]!;
      if (!TOKEN.test(k) || CONTROL.test(v)) throw new Error(`invalid response header ${k}`);
      s += `${k}: ${v}\r\n`;
    }
    a[HEAD] = s;
  }
  return s;
}

/** `Date: ...` for the current second. */
let dateSecond = -1;
let dateLine = '';
function dateHeader(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateLine;
}

const CRLF2 = Buffer.from('\r\n\r\n');

type Listener = (socket: Socket) => void;

export class Wire<M> {
  private readonly conns = new Set<Connection<M>>();
  private readonly sweeper: NodeJS.Timeout;
  readonly keepAlive: string;
  readonly close: string;

  /**
   * Takes over `server`'s connections; node:http gets the ones handed over.
   * keepAliveMs: the idle time after which a connection is closed (as node:http's keepAliveTimeout).
   */
  constructor(
    private readonly server: Server,
    readonly routes: WireRoutes<M>,
    readonly keepAliveMs: number,
  ) {
    const http = server.listeners('connection') as Listener[];
    if (http.length !== 1) throw new Error('wire: expected node:http’s one connection listener');
    this.httpConnection = http[0]!;
    server.removeListener('connection', this.httpConnection);
    server.on('connection', (socket: Socket) => this.conns.add(new Connection(this, socket)));
    this.keepAlive = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n\r\n`;
    this.close = 'connection: close\r\n\r\n';
    const every = Math.max(100, Math.min(1000, keepAliveMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every).unref();
    server.once('close', () => clearInterval(this.sweeper));
  }

  private readonly httpConnection: Listener;

  /** Gives a socket to node:http, with `unread` bytes put back in front of what comes next. */
  handOver(socket: Socket, unread: Buffer | null): void {
    if (unread) socket.unshift(unread);
    this.httpConnection.call(this.server, socket);
    socket.resume();
  }

  forget(c: Connection<M>): void {
    this.conns.delete(c);
  }

  /** Closes the connections that wait for no answer (the server is closing). */
  closeIdle(): void {
    for (const c of this.conns) c.closeIfIdle();
  }

  private sweep(): void {
    const before = performance.now() - this.keepAliveMs;
    for (const c of this.conns) c.closeIfIdle(before);
  }

  /** For tests: connections this module still owns. */
  get size(): number {
    return this.conns.size;
  }
}

class Connection<M> {
  /** Bytes read and not yet answered (the head of the request being answered included). */
  private buf: Buffer | null = null;
  /** An answer is on its way, or the socket's buffer is full: requests wait. */
  private busy = false;
  /** The client sent FIN. */
  private ended = false;
  private lastActive = performance.now();
  /** Waiting for the client to read what was sent (busy too). */
  private draining = false;

  constructor(
    private readonly wire: Wire<M>,
    private readonly socket: Socket,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.lastActive = performance.now();
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    if (!this.busy) this.pump();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    if (!this.busy) this.finish();
  };

  private readonly onError = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.wire.forget(this);
  };

  /**
   * Closes the connection unless an answer is being prepared. Given `before` (the sweep), only when
   * nothing moved since then: an idle connection, or a client that stopped reading its answers.
   */
  closeIfIdle(before?: number): void {
    if (this.busy && !(before !== undefined && this.draining)) return;
    if (before !== undefined && this.lastActive > before) return;
    this.socket.destroy();
  }

  /** Answers the complete requests read so far, in order. */
  private pump(): void {
    const routes = this.wire.routes;
    while (this.buf !== null && !this.busy) {
      const buf = this.buf;
      const end = buf.indexOf(CRLF2);
      if (end < 0 || end > MAX_HEAD) {
        this.handOver();
        return;
      }
      const head = parseHead(buf.toString('latin1', 0, end));
      const m = head && routes.match(head.method, head.url, head.headers);
      if (!head || !m) {
        this.handOver();
        return;
      }
      const t0 = performance.now();
      let a: Maybe<Answer> | null;
      try {
        a = routes.answer(m, head.headers);
      } catch (err) {
        a = routes.recover(err);
      }
      if (a === null) {
        this.handOver();
        return;
      }
      if (a instanceof Promise) {
        this.busy = true;
        this.socket.pause();
        a.then(
          (x) => this.answered(head, m, x, t0, end + 4),
          (err: unknown) => {
            const r = routes.recover(err);
            if (r) this.answered(head, m, r, t0, end + 4);
            else this.handOver();
          },
        );
        return;
      }
      if (!this.send(head, m, a, t0, end + 4)) return;
    }
    if (!this.busy) this.finish();
  }

  /** An answer that took a while: sends it, then goes on with what was read meanwhile. */
  private answered(head: Head, m: M, a: Answer, t0: number, used: number): void {
    this.busy = false;
    if (this.socket.destroyed) return;
    if (!this.send(head, m, a, t0, used)) return;
    this.socket.resume();
    this.pump();
  }

  /**
   * Writes one answer and drops its request's bytes. False when nothing more is to be read now
   * (the connection closes, or waits for the socket to drain).
   */
  private send(head: Head, m: M, a: Answer, t0: number, used: number): boolean {
    // A streamed body is node:http's job (backpressure, errors mid-body): it answers the request again.
    if (a.stream) {
      this.handOver();
      return false;
    }
    let text: string;
    try {
      text = headOf(a);
    } catch {
      this.handOver();
      return false;
    }
    const routes = this.wire.routes;
    const closing = routes.closing;
    const s = this.socket;
    s.cork();
    s.write(text + dateHeader() + (closing ? this.wire.close : this.wire.keepAlive), 'latin1');
    if (a.body !== null && a.body.length > 0 && head.method !== 'HEAD') s.write(a.body);
    s.uncork();
    routes.record(m, head.method, head.url, a.status, head.headers['user-agent'], t0);
    this.buf = used < this.buf!.length ? this.buf!.subarray(used) : null;
    this.lastActive = performance.now();
    if (closing) {
      this.buf = null;
      s.end();
      return false;
    }
    if (s.writableNeedDrain) {
      this.busy = true;
      this.draining = true;
      s.pause();
      s.once('drain', () => {
        this.busy = false;
        this.draining = false;
        this.lastActive = performance.now();
        s.resume();
        this.pump();
      });
      return false;
    }
    return true;
  }

  /** After the client's FIN, closes once nothing is left to answer. */
  private finish(): void {
    if (!this.ended) return;
    if (this.buf === null) this.socket.end();
    else this.socket.destroy();
  }

  /** Gives the connection to node:http with the bytes not answered yet. */
  private handOver(): void {
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('error', this.onError);
    s.removeListener('close', this.onClose);
    this.wire.forget(this);
    if (this.ended) {
      // Bytes cannot be put back after the end of the stream: node:http would see none of them.
      s.destroy();
      return;
    }
    s.pause();
    this.wire.handOver(s, this.buf);
    this.buf = null;
  }
}
