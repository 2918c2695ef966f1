/** One flight per key: concurrent callers of the same key share the promise of the first. */
export class SingleFlight {
  private readonly flights = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const cur = this.flights.get(key) as Promise<T> | undefined;
    if (cur) return cur;
    const p = fn().finally(() => this.flights.delete(key));
    this.flights.set(key, p);
    return p;
  }
}
