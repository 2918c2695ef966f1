/**
 * A plain static file server for tests, behaving like a simple nginx over a directory:
 * GET and HEAD only, Content-Length, Content-Type application/octet-stream, 404 for missing files,
 * no ETag, no Last-Modified, no Range, no compression. A directory answers 200 with an empty body
 * (so RubyGems' `HEAD /` compact-index probe succeeds, as it would against an autoindex).
 * Every request is recorded so tests can assert which endpoints a client used.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';

export interface RecordedRequest {
  method: string;
  /** The decoded path, without the query string. */
  path: string;
  /** The raw request target, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  status: number;
}

export interface StaticServer {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:40123/`. */
  url: string;
  port: number;
  /** Every request so far, in arrival order. */
  requests: RecordedRequest[];
  /** Forget the recorded requests (e.g. between two client runs). */
  clearRequests(): void;
  /** Recorded requests whose path matches. */
  requested(match: string | RegExp, method?: string): RecordedRequest[];
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** Called with each request as it is answered (e.g. to trace a client while debugging). */
  onRequest?: (r: RecordedRequest) => void;
}

export async function startStaticServer(root: string, opts: StaticServerOptions = {}): Promise<StaticServer> {
  const base = resolve(root);
  const requests: RecordedRequest[] = [];

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    let path = url.split('?')[0] ?? '/';
    const record = (status: number) => {
      const r: RecordedRequest = { method, path, url, headers: req.headers, status };
      requests.push(r);
      opts.onRequest?.(r);
    };
    const finish = (status: number, headers: Record<string, string | number> = {}) => {
      record(status);
      res.writeHead(status, headers);
      res.end();
    };
    // Consume any request body so the connection can be reused.
    req.resume();

    if (method !== 'GET' && method !== 'HEAD') {
      finish(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
      return;
    }
    try {
      path = decodeURIComponent(path);
    } catch {
      finish(400, { 'Content-Length': 0 });
      return;
    }
    const file = resolve(base, `.${path}`);
    if (file !== base && !file.startsWith(base + sep)) {
      finish(404, { 'Content-Length': 0 });
      return;
    }
    let size: number;
    try {
      const st = statSync(file);
      if (st.isDirectory()) {
        finish(200, { 'Content-Type': 'text/html', 'Content-Length': 0 });
        return;
      }
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      finish(404, { 'Content-Type': 'text/html', 'Content-Length': 0 });
      return;
    }
    record(200);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    if (method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  });

  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolvePromise());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    requested: (match, method) =>
      requests.filter(
        (r) =>
          (method === undefined || r.method === method) &&
          (typeof match === 'string' ? r.path === match : match.test(r.path)),
      ),
    close: () =>
      new Promise<void>((resolvePromise, reject) => {
        server.close((e) => (e ? reject(e) : resolvePromise()));
        server.closeAllConnections();
      }),
  };
}
