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
  /** Ask for the bytes from this offset (Range: bytes=N-). */
  from?: number;
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
    if (o.from !== undefined) headers['range'] = `bytes=${o.from}-`;
    const url = new URL(path, this.base);
    // A timer cleared when the answer is in (AbortSignal.timeout's stays until it fires: thousands
    // of them alive in a mirror that asks a thousand things a second).
    const deadline = new AbortController();
    const signal = deadline.signal;
    const timer = setTimeout(
      () => deadline.abort(new DOMException('the upstream deadline passed', 'TimeoutError')),
      this.config.timeout_ms,
    );
    try {
      const r = await this.pool.request({ method: 'GET', path: url.pathname + url.search, headers, signal });
      const max = o.maxBytes ?? 512 * 1024 * 1024;
      const declared = Number(r.headers['content-length'] ?? -1);
      if (declared > max) {
        r.body.destroy();
        throw new QuarryError('upstream_bad_gateway', `${url}: body of ${declared} bytes is over ${max}`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of r.body) {
        size += (c as Buffer).length;
        if (size > max) {
          r.body.destroy();
          throw new QuarryError('upstream_bad_gateway', `${url}: body is over ${max} bytes`);
        }
        chunks.push(c as Buffer);
      }
      const body = Buffer.concat(chunks);
      if (declared >= 0 && body.length !== declared) {
        throw new QuarryError(
          'upstream_bad_gateway',
          `${url}: truncated body (${body.length} of ${declared} bytes)`,
        );
      }
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers))
        if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
      const ok = (r.statusCode >= 200 && r.statusCode < 300) || [304, 404, 410, 416].includes(r.statusCode);
      if (!ok) {
        throw new QuarryError('upstream_bad_gateway', `${url} answered ${r.statusCode}`);
      }
      this.breaker = breakerSucceeded(this.breaker);
      return { status: r.statusCode, headers: flat, body };
    } catch (e) {
      this.breaker = breakerFailed(this.breaker, this.now(), this.config.fail_timeout_ms);
      if (e instanceof QuarryError) throw e;
      const err = e as { name?: string; code?: string; message?: string };
      if (signal.aborted || err.name === 'TimeoutError' || /Timeout/.test(err.code ?? '')) {
        throw new QuarryError('upstream_timeout', `${url}: no answer within ${this.config.timeout_ms} ms`, {
          cause: e,
        });
      }
      throw new QuarryError(
        'upstream_unavailable',
        `${url}: ${err.code ?? err.name ?? 'error'} ${err.message ?? ''}`.trim(),
        { cause: e, retryAfter: Math.max(1, Math.ceil(this.config.fail_timeout_ms / 1000)) },
      );
    } finally {
      clearTimeout(timer);
    }
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
