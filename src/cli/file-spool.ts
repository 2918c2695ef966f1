/**
 * The file names a --json report of `quarry mirror` or `quarry import` lists, kept in a temp file
 * rather than in memory (a whole source has millions), one `KIND NAME` line each, and written out
 * as JSON arrays at the end, a piece at a time.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class FileSpool {
  private readonly dir = mkdtempSync(join(tmpdir(), 'quarry-mirror-'));
  private readonly path = join(this.dir, 'files');
  private readonly fd = openSync(this.path, 'w');
  private buf: string[] = [];

  /**
   * @param write where the JSON goes (standard output)
   * @param pieceBytes how much JSON is gathered before it is written
   */
  constructor(
    private readonly write: (text: string) => void = (t) => {
      process.stdout.write(t);
    },
    private readonly pieceBytes = 65_536,
  ) {}

  add(kind: string, file: string): void {
    this.buf.push(`${kind} ${file}\n`);
    if (this.buf.length >= 512) this.drain();
  }

  private drain(): void {
    if (this.buf.length > 0) writeSync(this.fd, this.buf.join(''));
    this.buf = [];
  }

  /**
   * Writes `head` with the names of each kind as arrays under `keys[kind]` (in the order they were
   * added) and a newline, then removes the spool.
   */
  print(head: Record<string, unknown>, keys: Record<string, string>): void {
    this.drain();
    closeSync(this.fd);
    const json = JSON.stringify(head);
    let out = json.slice(0, -1);
    // A member is written already: the next one needs a comma (out may have been written out).
    let member = json !== '{}';
    for (const [kind, key] of Object.entries(keys)) {
      out += `${member ? ',' : ''}${JSON.stringify(key)}:[`;
      member = true;
      let first = true;
      for (const line of readLines(this.path)) {
        const at = line.indexOf(' ');
        if (line.slice(0, at) !== kind) continue;
        out += `${first ? '' : ','}${JSON.stringify(line.slice(at + 1))}`;
        first = false;
        if (out.length >= this.pieceBytes) {
          this.write(out);
          out = '';
        }
      }
      out += ']';
    }
    this.write(`${out}}\n`);
    this.remove();
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function* readLines(path: string): Generator<string> {
  const fd = openSync(path, 'r');
  const chunk = Buffer.alloc(1 << 20);
  let rest = '';
  try {
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) {
      const text = rest + chunk.toString('utf8', 0, n);
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      yield* lines;
    }
    if (rest !== '') yield rest;
  } finally {
    closeSync(fd);
  }
}
