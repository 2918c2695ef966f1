/**
 * A small keep-alive HTTP client for the benchmark: one connection, one request at a time, so push
 * latencies are the server's alone (no queueing behind other requests of ours).
 */
import { Agent, request } from 'node:http';

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface Client {
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, body: Buffer, headers: Record<string, string>): Promise<Response>;
  close(): void;
}

/** A client on one keep-alive connection to 127.0.0.1:port. */
export function client(port: number): Client {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: string, path: string, headers: Record<string, string>, body?: Buffer) =>
    new Promise<Response>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method, path, agent, headers, timeout: 120_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 120 s`)));
      req.end(body);
    });
  return {
    get: (path, headers = {}) => send('GET', path, headers),
    post: (path, body, headers) =>
      send('POST', path, { ...headers, 'Content-Length': String(body.length) }, body),
    close: () => agent.destroy(),
  };
}

/** GETs every path with `concurrency` connections; fails on a status other than 200. */
export async function getAll(
  port: number,
  paths: readonly string[],
  concurrency: number,
  onBody?: (path: string, body: Buffer) => void,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    const c = client(port);
    try {
      while (next < paths.length) {
        const path = paths[next++]!;
        const r = await c.get(path);
        if (r.status !== 200)
          throw new Error(
            `GET ${path} on port ${port}: status ${r.status}: ${r.body.toString().slice(0, 200)}`,
          );
        onBody?.(path, r.body);
      }
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** The p-th percentile (0-100) of a list of numbers, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}
