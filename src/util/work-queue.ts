/** A FIFO that a producer fills and `workers` drain; the producer waits while it is full. */
export class WorkQueue<T> {
  private items: T[] = [];
  private head = 0;
  private closed = false;
  private takers: ((v: T | undefined) => void)[] = [];
  private room: (() => void)[] = [];

  get size(): number {
    return this.items.length - this.head;
  }

  push(v: T): void {
    const t = this.takers.shift();
    if (t) t(v);
    else this.items.push(v);
  }

  /** Resolves once the queue has room (fewer than `max` waiting). */
  async roomFor(max: number): Promise<void> {
    while (this.size >= max) await new Promise<void>((r) => this.room.push(r));
  }

  close(): void {
    this.closed = true;
    for (const t of this.takers.splice(0)) t(undefined);
  }

  /** The next item, or undefined once closed and empty. */
  take(): Promise<T | undefined> | T | undefined {
    if (this.head < this.items.length) {
      const v = this.items[this.head]!;
      this.items[this.head++] = undefined as T;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.room.shift()?.();
      return v;
    }
    if (this.closed) return undefined;
    return new Promise((r) => this.takers.push(r));
  }
}
