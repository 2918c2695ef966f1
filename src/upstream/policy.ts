/**
 * Freshness and failure policy for upstream data, as pure functions of times in milliseconds
 * (a monotonic clock). No IO.
 */

/** Consecutive failures that open the breaker. */
export const BREAKER_FAILURES = 3;

export interface Breaker {
  failures: number;
  /** While now < openUntil, the upstream is not asked. */
  openUntil: number;
}

export const newBreaker = (): Breaker => ({ failures: 0, openUntil: Number.NEGATIVE_INFINITY });

export const breakerAllows = (b: Breaker, now: number): boolean => now >= b.openUntil;

export function breakerFailed(b: Breaker, now: number, failTimeoutMs: number): Breaker {
  const failures = b.failures + 1;
  return { failures, openUntil: failures >= BREAKER_FAILURES ? now + failTimeoutMs : b.openUntil };
}

export const breakerSucceeded = (_b: Breaker): Breaker => newBreaker();

/** Cached index data is fresh for maxAgeMs after it was fetched or revalidated. */
export const isFresh = (fetchedAt: number, now: number, maxAgeMs: number): boolean =>
  now - fetchedAt < maxAgeMs;

/** An upstream 404 is remembered this long (it may be published any minute). */
export const NOT_FOUND_TTL_MS = 60_000;

/** Glob over gem names: `*` matches any run of characters. */
export function nameMatches(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(name);
}

export const excluded = (patterns: readonly string[], name: string): boolean =>
  patterns.some((p) => nameMatches(p, name));
