/** The --json report's file lists, spooled to a temp file and written out a piece at a time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FileSpool } from '../../src/cli/file-spool.ts';

/** Spools `files` and prints with pieces of `piece` bytes; returns what was written and how. */
function printed(files: [string, string][], head: Record<string, unknown>, piece: number) {
  const pieces: string[] = [];
  const spool = new FileSpool((t) => pieces.push(t), piece);
  for (const [kind, file] of files) spool.add(kind, file);
  spool.print(head, { fetched: 'fetched', present: 'present' });
  return { text: pieces.join(''), pieces: pieces.length };
}

describe('FileSpool', () => {
  const files: [string, string][] = Array.from({ length: 1300 }, (_, i) => [
    i % 3 === 0 ? 'present' : 'fetched',
    `gem-${i}.0.${'x'.repeat(i % 7)}`,
  ]);
  const want = (head: Record<string, unknown>) => ({
    ...head,
    fetched: files.filter(([k]) => k === 'fetched').map(([, f]) => f),
    present: files.filter(([k]) => k === 'present').map(([, f]) => f),
  });

  it('writes one JSON object whatever the piece size, with or without a head (a piece may end an array)', () => {
    // [piece size, whether the ~20 KB of JSON takes more than one write]
    for (const head of [{ planned: 1300, failed: [] }, {}])
      for (const [piece, many] of [
        [1, true],
        [7, true],
        [16, true],
        [33, true],
        [100, true],
        [1000, true],
        [65_536, false],
      ] as const) {
        const { text, pieces } = printed(files, head, piece);
        assert.ok(text.endsWith('}\n'));
        assert.deepEqual(JSON.parse(text), want(head), `piece ${piece}, head ${JSON.stringify(head)}`);
        assert.equal(pieces > 1, many, `${pieces} writes of at most ~${piece} bytes`);
      }
  });

  it('lists nothing as empty arrays', () => {
    assert.deepEqual(JSON.parse(printed([], {}, 1).text), { fetched: [], present: [] });
  });
});
