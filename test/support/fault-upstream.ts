/**
 * A fault-injecting upstream for proxy tests: a node:http server on 127.0.0.1 that answers from an
 * origin (a real upstream harness through inject(), or captured bodies) and can be switched, for
 * every path or per path, to misbehave:
 *   hang       accept the request and never answer
 *   500        answer 500 Internal Server Error
 *   reset      reset the TCP connection (RST) without answering
 *   truncate   send the headers (Content-Length of the real body) and half the body, then close
 *   trickle    send the real headers, then the body a few bytes per second
 *   tamper     send the real answer with its body bytes changed (same length)
 * (for these three, a conditional or ranged request is answered in full, so there is a body to spoil)
 *   delay      send the real answer, after delayMs (for overlapping requests; not a fault)
 * It counts requests per path and TCP connections, and keeps the order of two kinds of events: a
 * request beginning, and the client giving up on one (closing or resetting its connection before the
 * answer was whole, as at a deadline). deadlinesInSequence() reads that order: it tells an answer that
 * waited on one deadline (or on several at once) from one that waited on a deadline and then started
 * another request, without a clock.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault = 'hang' | '500' | 'reset' | 'truncate' | 'trickle' | 'tamper' | 'delay';

export interface OriginResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Where good answers come from. */
export type Origin = (req: {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}) => Promise<OriginResponse>;

/** Something with Fastify's inject(), e.g. a test harness's app. */
interface Injectable {
  inject(o: {
    method: string;
    url: string;
    headers: Record<string, string>;
  }): PromiseLike<{ statusCode: number; headers: Record<string, unknown>; rawPayload: Buffer }>;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date']);

/** An origin that forwards to an in-process server (GET and HEAD; the headers that matter to caches). */
export function injectOrigin(app: Injectable): Origin {
  return async ({ method, path, headers }) => {
    const fwd: Record<string, string> = {};
    for (const k of ['range', 'if-none-match', 'if-modified-since', 'accept-encoding', 'authorization']) {
      const v = headers[k];
      if (typeof v === 'string') fwd[k] = v;
    }
    const r = await app.inject({ method, url: path, headers: fwd });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) {
      if (v === undefined || HOP.has(k)) continue;
      out[k] = Array.isArray(v) ? v.join(', ') : String(v);
    }
    return { status: r.statusCode, headers: out, body: r.rawPayload };
  };
}

/** An origin that serves captured bodies by path (200, or 404 for anything else). */
export function capturedOrigin(bodies: ReadonlyMap<string, Buffer>): Origin {
  return async ({ path }) => {
    const body = bodies.get(path);
    return body
      ? { status: 200, headers: { 'content-type': 'application/octet-stream' }, body }
      : { status: 404, headers: { 'content-type': 'text/plain' }, body: Buffer.from('not found\n') };
  };
}

/** Flips every byte in the middle of a body: same length, different SHA-256. */
export function tamperBytes(body: Buffer): Buffer {
  const out = Buffer.from(body);
  const from = Math.floor(out.length / 3);
  const to = Math.max(from + 1, Math.floor((2 * out.length) / 3));
  for (let i = from; i < to && i < out.length; i++) out[i] = out[i]! ^ 0xff;
  return out;
}

/** A request as the fault upstream saw it. */
export interface SeenRequest {
  /** Path with query. */
  path: string;
  /** Its fault, or null ('delay' is kept, though it is no fault). */
  fault: Fault | null;
  /** Its place in the upstream's sequence of events when it began. */
  began: number;
  /**
   * Its place in that sequence when the client was seen to give up on it (the connection closed or
   * reset by the client before the answer was whole), or null: answered, cut by the fault itself
   * (reset, truncate), or still open.
   */
  givenUp: number | null;
}

/** True for a request that met a fault ('delay' is none). */
export const faulted = (r: SeenRequest): boolean => r.fault !== null && r.fault !== 'delay';

/**
 * Deadlines waited on one after the other among the requests of one answer: for each faulted request
 * that began after another faulted request had been given up by the client, a line saying so. Empty
 * when the answer waited on one deadline at most in sequence (several at once are fine).
 */
export function deadlinesInSequence(requests: readonly SeenRequest[]): string[] {
  const bad = requests.filter(faulted);
  const out: string[] = [];
  for (const b of bad) {
    const before = bad.filter((a) => a.givenUp !== null && a.givenUp < b.began);
    if (before.length > 0) {
      const what = before.map((a) => `${a.path} (${a.fault})`).join(', ');
      out.push(`${b.path} (${b.fault}) began after the client gave up on ${what}`);
    }
  }
  return out;
}

export interface FaultUpstream {
  url: string;
  /** Requests by path (with query), counted as they arrive, faulted or not. */
  readonly requests: Map<string, number>;
  /** TCP connections accepted. */
  connections(): number;
  /** Requests seen for a path, or for every path that `match` accepts. */
  count(match: string | ((path: string) => boolean)): number;
  /** Sets the fault of one path (exact, without query), or of every path with '*'; null clears it. */
  set(path: string, fault: Fault | null): void;
  /** Clears every fault. */
  clear(): void;
  /** Forgets the counts. */
  resetCounts(): void;
  /** Every request so far, in the order they arrived (resetCounts() keeps them). */
  readonly seen: readonly SeenRequest[];
  /**
   * Resolves once no request is open: each was answered, cut by its fault, or given up by the client
   * (a hung request stays open until its client gives up, or until close()).
   */
  idle(): Promise<void>;
  /** Drops every open connection (hung ones included) and stops listening. */
  close(): Promise<void>;
}

export interface FaultOptions {
  /** Bytes per tick of a trickle (default 2). */
  trickleBytes?: number;
  /** Milliseconds between trickle ticks (default 250). */
  trickleMs?: number;
  /** Milliseconds a delayed answer waits (default 300). */
  delayMs?: number;
}

export async function startFaultUpstream(origin: Origin, o: FaultOptions = {}): Promise<FaultUpstream> {
  const faults = new Map<string, Fault>();
  const requests = new Map<string, number>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  const seen: SeenRequest[] = [];
  /** Requests neither answered nor cut nor given up, and what tells that their client gave up. */
  const open = new Map<SeenRequest, { req: IncomingMessage; res: ServerResponse }>();
  let events = 0;
  let closing = false;
  let idleWaiters: (() => void)[] = [];
  const settle = (r: SeenRequest, givenUp: boolean) => {
    if (!open.delete(r)) return;
    if (givenUp && !closing) r.givenUp = ++events;
    if (open.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };
  /**
   * Marks the open requests whose client is known to have gone, before a new request is recorded as
   * begun. It reads the sockets' state rather than waiting for their 'close' events, which come later
   * in the loop: a client that gives up on one request and then sends another (on an idle keep-alive
   * connection, read in the same turn of the loop) has its end of the first read before the second,
   * so the second is seen to begin after the first was given up.
   */
  const sweep = () => {
    for (const [r, { req, res }] of open) {
      if (req.socket.destroyed || req.socket.readableEnded || res.destroyed) settle(r, true);
    }
  };
  const trickleBytes = o.trickleBytes ?? 2;
  const trickleMs = o.trickleMs ?? 250;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const fault = faults.get(path.split('?')[0]!) ?? faults.get('*') ?? null;
    sweep();
    const seenAs: SeenRequest = { path, fault, began: ++events, givenUp: null };
    seen.push(seenAs);
    open.set(seenAs, { req, res });
    res.on('finish', () => settle(seenAs, false));
    res.on('close', () => settle(seenAs, true));
    /** The fault ends the request itself: no client gives it up. */
    const cut = () => settle(seenAs, false);
    if (fault === 'hang') return; // the socket stays open until the client gives up, or close()
    if (fault === 'reset') {
      cut();
      req.socket.resetAndDestroy();
      return;
    }
    if (fault === '500') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal Server Error\n');
      return;
    }
    if (fault === 'delay') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, o.delayMs ?? 300);
        timers.add(t);
      });
    }
    // A fault on the body needs a body: conditional and ranged requests are asked in full.
    const headers =
      fault === 'truncate' || fault === 'trickle' || fault === 'tamper'
        ? { ...req.headers, 'if-none-match': undefined, 'if-modified-since': undefined, range: undefined }
        : req.headers;
    const r = await origin({ method: req.method ?? 'GET', path, headers });
    const out = { ...r.headers, 'content-length': String(r.body.length) };
    if (fault === 'tamper') {
      res.writeHead(r.status, out);
      res.end(tamperBytes(r.body));
      return;
    }
    if (fault === 'truncate') {
      // Content-Length says the whole body; half of it is sent, then the connection closes.
      res.writeHead(r.status, out);
      cut();
      res.write(r.body.subarray(0, Math.floor(r.body.length / 2)), () => {
        req.socket.end();
        req.socket.destroySoon();
      });
      return;
    }
    if (fault === 'trickle') {
      res.writeHead(r.status, out);
      res.flushHeaders();
      let at = 0;
      const tick = setInterval(() => {
        if (res.destroyed || at >= r.body.length) {
          clearInterval(tick);
          timers.delete(tick);
          if (!res.destroyed) res.end();
          return;
        }
        res.write(r.body.subarray(at, at + trickleBytes));
        at += trickleBytes;
      }, trickleMs);
      timers.add(tick);
      return;
    }
    res.writeHead(r.status, out);
    res.end(req.method === 'HEAD' ? undefined : r.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(599, { 'content-type': 'text/plain' });
      res.end(`fault upstream: ${(e as Error).message}\n`);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    count(match) {
      let n = 0;
      for (const [p, c] of requests) if (typeof match === 'string' ? p === match : match(p)) n += c;
      return n;
    },
    set(path, fault) {
      if (fault === null) faults.delete(path);
      else faults.set(path, fault);
    },
    clear: () => faults.clear(),
    resetCounts: () => requests.clear(),
    seen,
    idle: () => new Promise<void>((resolve) => (open.size === 0 ? resolve() : idleWaiters.push(resolve))),
    async close() {
      closing = true;
      for (const r of [...open.keys()]) settle(r, false);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
