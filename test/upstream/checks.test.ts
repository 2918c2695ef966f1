/** The checks of what an upstream sends for a ranged /versions (pure functions). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { extendedBody, vouchedFor } from '../../src/upstream/checks.ts';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha256b64 = (b: Buffer) => createHash('sha256').update(b).digest('base64');

describe('extendedBody', () => {
  const cur = Buffer.from('created_at: 2024-01-01T00:00:00Z\n---\na 1.0.0 m1\nc 1.0.0 m3\n');
  const grown = Buffer.from(`${cur.toString()}b 1.0.0 m2\n`);
  /** The answer to a Range from `start`. */
  const answer = (file: Buffer, start: number) => ({
    part: file.subarray(start),
    range: `bytes ${start}-${file.length - 1}/${file.length}`,
  });

  it('appends a tail whose first bytes repeat the end of our copy (one byte, or more), with or without an ETag or digest', () => {
    const extras: Record<string, string>[] = [
      {},
      { etag: `"${md5(grown)}"` },
      { etag: `"${md5(grown).toUpperCase()}"` },
      { etag: 'W/"abc"' },
      { etag: '"5f3a-1c"' },
      { 'repr-digest': `sha-256=:${sha256b64(grown)}:` },
    ];
    for (const start of [cur.length - 1, cur.length - 11, 0])
      for (const extra of extras) {
        const { part, range } = answer(grown, start);
        const got = extendedBody(cur, part, { 'content-range': range, ...extra });
        assert.ok(got?.equals(grown), `from ${start}: ${JSON.stringify(extra)}`);
      }
  });

  it('refuses a tail of another file: repeated bytes not ours, MD5 ETag or digest not the result, a range outside our copy', () => {
    // The same size and created_at, our last line changed, one added: a rewrite.
    const rewritten = Buffer.from(`${cur.toString().replace('c 1.0.0 m3', 'c 1.0.1 m3')}b 1.0.0 m2\n`);
    const from11 = answer(rewritten, cur.length - 11);
    const from1 = answer(rewritten, cur.length - 1);
    const ours = answer(grown, cur.length - 1);
    for (const [label, part, headers] of [
      ['repeated bytes of the rewritten file differ', from11.part, { 'content-range': from11.range }],
      [
        'MD5 ETag of the rewritten file',
        from1.part,
        { 'content-range': from1.range, etag: `"${md5(rewritten)}"` },
      ],
      [
        'digest of the rewritten file',
        from1.part,
        { 'content-range': from1.range, 'repr-digest': `sha-256=:${sha256b64(rewritten)}:` },
      ],
      [
        'range starting past our copy',
        grown.subarray(cur.length),
        { 'content-range': `bytes ${cur.length}-${grown.length - 1}/${grown.length}` },
      ],
      [
        'total length not the result',
        ours.part,
        { 'content-range': `bytes ${cur.length - 1}-${grown.length - 1}/${grown.length + 5}` },
      ],
      [
        'first byte not our last',
        Buffer.from(`x${ours.part.subarray(1).toString()}`),
        { 'content-range': ours.range },
      ],
      ['no Content-Range', ours.part, {}],
    ] as const) {
      assert.equal(extendedBody(cur, Buffer.from(part), { ...headers }), null, label);
    }
  });

  it('a digest or an MD5-shaped ETag vouches for the whole file; other ETags do not', () => {
    assert.ok(vouchedFor({ etag: `"${'a'.repeat(32)}"` }));
    assert.ok(vouchedFor({ etag: `"${'A'.repeat(32)}"` }));
    assert.ok(vouchedFor({ 'repr-digest': `sha-256=:${sha256b64(grown)}:` }));
    for (const etag of ['"5f3a-1c"', `W/"${'a'.repeat(32)}"`, `"${'a'.repeat(31)}"`, ''])
      assert.equal(vouchedFor({ etag }), false, etag);
  });
});
