/** A one-line progress display on a TTY; silent elsewhere. */
export interface Progress {
  update(phase: string, done: number, total: number): void;
  done(): void;
}

export function progressFor(stream: NodeJS.WriteStream): Progress {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  let shown = false;
  return {
    update(phase, done, total) {
      const now = Date.now();
      if (done !== total && now - last < 80) return;
      last = now;
      shown = true;
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      stream.write(`\r\x1b[K${phase}: ${done}/${total} (${pct}%)`);
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
