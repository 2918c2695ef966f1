/**
 * A value now, or a promise of it. Hot read paths answer cache hits synchronously, so a request
 * served from memory takes no microtask round trips; a caller that `await`s the result need not care.
 */
export type Maybe<T> = T | Promise<T>;

/** Applies f to the value, at once when it is there, after it settles otherwise. */
export function then<T, U>(value: Maybe<T>, f: (v: T) => Maybe<U>): Maybe<U> {
  return value instanceof Promise ? value.then(f) : f(value);
}
