/**
 * Failed key checks and sign-ins per client address: past `max` failures in a sliding window of
 * `windowMs`, that client's key checks and sign-ins are refused with 429 (and Retry-After) until
 * the window has moved on. Only failures count, so valid clients are never slowed. Memory is
 * bounded: at most `maxClients` addresses are tracked, the oldest dropped first.
 */
import { QuarryError } from '../errors.ts';

export interface FailureLimiterOptions {
  /** Failures allowed per window; 0 turns the limiter off. */
  max: number;
  windowMs: number;
  now: () => number;
  maxClients?: number;
}

export class FailureLimiter {
  /** Failure times per client, oldest first. */
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly o: FailureLimiterOptions) {}

  private recent(client: string, t: number): number[] {
    const list = this.failures.get(client);
    if (!list) return [];
    const from = t - this.o.windowMs;
    let i = 0;
    while (i < list.length && list[i]! <= from) i++;
    if (i > 0) list.splice(0, i);
    if (list.length === 0) this.failures.delete(client);
    return list;
  }

  /** Throws rate_limited when the client has used up its failures. Cheap; call before any work. */
  check(client: string): void {
    if (this.o.max <= 0) return;
    const t = this.o.now();
    const list = this.recent(client, t);
    if (list.length >= this.o.max) {
      const retryAfter = (list[0]! + this.o.windowMs - t) / 1000;
      throw new QuarryError(
        'rate_limited',
        `Too many failed authentication attempts from ${client}; try again in ${Math.max(1, Math.ceil(retryAfter))} s.`,
        { retryAfter },
      );
    }
  }

  /** Records one failure. */
  fail(client: string): void {
    if (this.o.max <= 0) return;
    const t = this.o.now();
    const list = this.recent(client, t);
    if (list.length === 0) {
      if (this.failures.size >= (this.o.maxClients ?? 100_000)) {
        const oldest = this.failures.keys().next().value;
        if (oldest !== undefined) this.failures.delete(oldest);
      }
      this.failures.set(client, list);
    }
    list.push(t);
  }

  /** Runs an authentication step: refused at once when limited; a 401 from it counts as a failure. */
  async guard<T>(client: string, fn: () => Promise<T> | T): Promise<T> {
    this.check(client);
    try {
      return await fn();
    } catch (e) {
      if (e instanceof QuarryError && e.code === 'unauthorized') this.fail(client);
      throw e;
    }
  }
}
