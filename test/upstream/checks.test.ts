/** The checks of what an upstream sends for a ranged /versions (pure functions). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { extendedBody } from '../../src/upstream/checks.ts';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha256b64 = (b: Buffer) => createHash('sha256').update(b).digest('base64');

describe('extendedBody', () => {
  const cur = Buffer.from('created_at: 2024-01-01T00:00:00Z\n---\na 1.0.0 m1\n');
  const grown = Buffer.from(`${cur.toString()}b 1.0.0 m2\n`);
  const part = grown.subarray(cur.length - 1);
  const range = `bytes ${cur.length - 1}-${grown.length - 1}/${grown.length}`;

  it('appends a tail that starts at our last byte, with or without an ETag or digest', () => {
    const extras: Record<string, string>[] = [
      {},
      { etag: `"${md5(grown)}"` },
      { etag: 'W/"abc"' },
      { etag: '"5f3a-1c"' },
      { 'repr-digest': `sha-256=:${sha256b64(grown)}:` },
    ];
    for (const extra of extras) {
      const got = extendedBody(cur, part, { 'content-range': range, ...extra });
      assert.ok(got?.equals(grown), JSON.stringify(extra));
    }
  });

  it('refuses a tail of another file: MD5 ETag or digest not the result, wrong range, wrong first byte', () => {
    // The same size and created_at, other lines (rewritten): the result is not the upstream's file.
    const rewritten = Buffer.from(`${cur.toString().replace('a 1.0.0', 'z 1.0.0')}b 1.0.0 m2\n`);
    for (const [label, p, headers] of [
      ['MD5 ETag of the rewritten file', part, { 'content-range': range, etag: `"${md5(rewritten)}"` }],
      [
        'digest of the rewritten file',
        part,
        { 'content-range': range, 'repr-digest': `sha-256=:${sha256b64(rewritten)}:` },
      ],
      [
        'range not at our last byte',
        part,
        { 'content-range': `bytes ${cur.length}-${grown.length}/${grown.length + 1}` },
      ],
      [
        'total length not the result',
        part,
        { 'content-range': `bytes ${cur.length - 1}-${grown.length - 1}/${grown.length + 5}` },
      ],
      ['first byte not our last', Buffer.from(`x${part.subarray(1).toString()}`), { 'content-range': range }],
      ['no Content-Range', part, {}],
    ] as const) {
      assert.equal(extendedBody(cur, Buffer.from(p), { ...headers }), null, label);
    }
  });
});
