/**
 * A client for one remote gem source (rubygems.org or any server of the protocol): keep-alive
 * connections from an undici pool, a deadline on every call (AbortSignal), conditional and ranged
 * GETs, Bundler-style credentials, and a breaker that stops asking a failing upstream for
 * fail_timeout_ms. Upstream trouble becomes a QuarryError: upstream_unavailable (503),
 * upstream_timeout (504) or upstream_bad_gateway (502).
 */
import { Pool } from 'undici';
import { QuarryError } from '../errors.ts';
import type { Breaker } from './policy.ts';
import { breakerAllows, breakerFailed, breakerSucceeded, newBreaker } from './policy.ts';

export interface UpstreamConfig {
  name: string;
  url: string;
  timeout_ms: number;
  max_age_ms: number;
  fail_timeout_ms: number;
  /** Gem-name globs never asked of this upstream. */
  exclude: string[];
  tls_verify: boolean;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface GetOptions {
  etag?: string | null;
  /** Ask for the bytes from this offset (Range: bytes=N-), up to `to` (inclusive) when given. */
  from?: number;
  to?: number;
  /** Largest body accepted. */
  maxBytes?: number;
}

/** Bundler's credential variable for a host: BUNDLE_ + host with '.' as '__' and '-' as '___', upper case. */
export const bundlerCredentialVar = (host: string): string =>
  `BUNDLE_${host.toUpperCase().replace(/-/g, '___').replace(/\./g, '__')}`;

/** Authorization for a URL: user:password in the URL, else BUNDLE_<HOST> from the environment. */
export function credentialsFor(url: URL, env: Readonly<Record<string, string | undefined>>): string | null {
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  const v = env[bundlerCredentialVar(url.hostname)];
  if (!v) return null;
  return `Basic ${Buffer.from(v.includes(':') ? v : `${v}:`).toString('base64')}`;
}

export class UpstreamClient {
  readonly name: string;
  readonly base: URL;
  private readonly pool: Pool;
  private readonly auth: string | null;
  private breaker: Breaker = newBreaker();
  /** Connections opened, for tests and metrics. */
  connections = 0;

  constructor(
    readonly config: UpstreamConfig,
    env: Readonly<Record<string, string | undefined>> = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.name = config.name;
    const url = new URL(config.url.endsWith('/') ? config.url : `${config.url}/`);
    this.auth = credentialsFor(url, env);
    url.username = '';
    url.password = '';
    this.base = url;
    this.pool = new Pool(url.origin, {
      connections: 16,
      keepAliveTimeout: 30_000,
      connect: { rejectUnauthorized: config.tls_verify, timeout: config.timeout_ms },
      headersTimeout: config.timeout_ms,
      bodyTimeout: config.timeout_ms,
    });
    this.pool.on('connect', () => {
      this.connections++;
    });
  }

  /** The upstream's URL for a path (no leading slash), for messages. */
  urlOf(path: string): string {
    return new URL(path, this.base).toString();
  }

  /** True while the breaker lets calls through. */
  available(): boolean {
    return breakerAllows(this.breaker, this.now());
  }

  /** Seconds until the breaker lets calls through again (for Retry-After). */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.breaker.openUntil - this.now()) / 1000));
  }

  /**
   * GET a path. Resolves with 2xx, 304, 404 and 416 answers (the caller decides); anything else,
   * a transport failure or the deadline rejects with a QuarryError and counts against the breaker.
   */
  async get(path: string, o: GetOptions = {}): Promise<UpstreamResponse> {
    if (!this.available()) {
      throw new QuarryError(
        'upstream_unavailable',
        `upstream ${this.name} failed recently; not asking it again for ${this.retryAfter()} s`,
        { retryAfter: this.retryAfter() },
      );
    }
    const headers: Record<string, string> = {
      'user-agent': 'Quarry (gem proxy)',
      'accept-encoding': 'identity',
    };
    if (this.auth) headers['authorization'] = this.auth;
    if (o.etag) headers['if-none-match'] = o.etag;
    if (o.from !== undefined) headers['range'] = `bytes=${o.from}-${o.to ?? ''}`;
    const url = new URL(path, this.base);
    const max = o.maxBytes ?? 512 * 1024 * 1024;
    let timedOut = false;
    try {
      const r = await this.exchange(url, headers, max, () => {
        timedOut = true;
      });
      const ok = (r.status >= 200 && r.status < 300) || [304, 404, 410, 416].includes(r.status);
      if (!ok) {
        throw new QuarryError('upstream_bad_gateway', `${url} answered ${r.status}`);
      }
      this.breaker = breakerSucceeded(this.breaker);
      return r;
    } catch (e) {
      this.breaker = breakerFailed(this.breaker, this.now(), this.config.fail_timeout_ms);
      if (e instanceof QuarryError) throw e;
      const err = e as { name?: string; code?: string; message?: string };
      if (timedOut || err.name === 'TimeoutError' || /Timeout/.test(err.code ?? '')) {
        throw new QuarryError('upstream_timeout', `${url}: no answer within ${this.config.timeout_ms} ms`, {
          cause: e,
        });
      }
      throw new QuarryError(
        'upstream_unavailable',
        `${url}: ${err.code ?? err.name ?? 'error'} ${err.message ?? ''}`.trim(),
        { cause: e, retryAfter: Math.max(1, Math.ceil(this.config.fail_timeout_ms / 1000)) },
      );
    }
  }

  /**
   * One GET through undici's dispatcher, the body gathered as it arrives: no response stream and
   * no async iteration per request (the client was a sixth of a mirror's main thread). The deadline
   * covers the whole exchange, headers and body, and is a timer cleared when the answer is in.
   * Rejects with the transport's error, or a QuarryError for a body over `max` or cut short.
   */
  private exchange(
    url: URL,
    headers: Record<string, string>,
    max: number,
    onTimeout: () => void,
  ): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      let abort: ((err?: Error) => void) | null = null;
      let late: Error | null = null;
      let settled = false;
      let status = 0;
      let declared = -1;
      let size = 0;
      const chunks: Buffer[] = [];
      const flat: Record<string, string> = {};
      const stop = (err: Error) => {
        if (abort) return abort(err);
        // Still waiting for a connection: answer now, and end the request when it gets one.
        late = err;
        settle(err);
      };
      const timer = setTimeout(() => {
        onTimeout();
        stop(new DOMException('the upstream deadline passed', 'TimeoutError'));
      }, this.config.timeout_ms);
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) return reject(err);
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        if (declared >= 0 && body.length !== declared) {
          return reject(
            new QuarryError(
              'upstream_bad_gateway',
              `${url}: truncated body (${body.length} of ${declared} bytes)`,
            ),
          );
        }
        resolve({ status, headers: flat, body });
      };
      this.pool.dispatch(
        { method: 'GET', path: url.pathname + url.search, headers },
        {
          onConnect: (a) => {
            abort = a;
            if (late) a(late);
          },
          onHeaders: (code, raw) => {
            if (code < 200) return true;
            status = code;
            for (let i = 0; i + 1 < raw.length; i += 2) {
              const k = raw[i]!.toString('latin1').toLowerCase();
              const v = raw[i + 1]!.toString('latin1');
              flat[k] = k in flat ? `${flat[k]}, ${v}` : v;
            }
            declared = Number(flat['content-length'] ?? -1);
            if (declared > max) {
              stop(
                new QuarryError('upstream_bad_gateway', `${url}: body of ${declared} bytes is over ${max}`),
              );
              return false;
            }
            return true;
          },
          onData: (chunk) => {
            size += chunk.length;
            if (size > max) {
              stop(new QuarryError('upstream_bad_gateway', `${url}: body is over ${max} bytes`));
              return false;
            }
            chunks.push(chunk);
            return true;
          },
          onComplete: () => settle(null),
          onError: (err) => settle(err),
        },
      );
    });
  }

  /** The Content-Length a HEAD request reports, or null. */
  async size(path: string): Promise<number | null> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { 'user-agent': 'Quarry (gem mirror)' };
    if (this.auth) headers['authorization'] = this.auth;
    const r = await this.pool.request({
      method: 'HEAD',
      path: url.pathname + url.search,
      headers,
      signal: AbortSignal.timeout(this.config.timeout_ms),
    });
    await r.body.dump();
    const n = Number(r.headers['content-length']);
    return r.statusCode === 200 && Number.isFinite(n) ? n : null;
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}
