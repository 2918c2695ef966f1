/**
 * Fuzzing the wire responder's request head parser (parseHead): for any text it returns a Head it
 * may answer, or null (node:http then judges the request); it never throws. What it returns holds
 * no byte node:http would refuse.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseHead } from '../../src/http/wire.ts';
import { params, textMutationsOf, timeout } from './support.ts';

const HEADS = [
  'GET /versions HTTP/1.1\r\nHost: localhost:9292\r\nUser-Agent: bundler/2.4\r\nAccept-Encoding: gzip\r\nIf-None-Match: "abc"',
  'HEAD /info/rack HTTP/1.1\r\nhost: x\r\nRange: bytes=100-\r\nConnection: keep-alive',
  'GET /gems/rack-3.0.0.gem HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nAccept: */*',
];

const piece = fc.constantFrom(
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  ':',
  'Host: x',
  'Content-Length: 5',
  'Transfer-Encoding: chunked',
  'Connection: close',
  'Expect: 100-continue',
  'HTTP/1.1',
  'HTTP/1.0',
  'GET',
  '/',
  '\u0000',
  '\u007f',
  'é',
  '%00',
);
const built = fc
  .array(fc.oneof(piece, fc.string({ maxLength: 6 })), { maxLength: 40 })
  .map((p) => p.join(''));

describe('fuzz: wire request head parser', () => {
  it('returns a clean Head or null, and never throws', { timeout: timeout(5000) }, () => {
    fc.assert(
      fc.property(fc.oneof(textMutationsOf(HEADS, 6), built, fc.string({ maxLength: 200 })), (text) => {
        const h = parseHead(text);
        if (h === null) return;
        assert.match(h.method, /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/);
        assert.match(h.url, /^\/[\x21-\x7e]*$/);
        assert.ok(h.headers['host'] !== undefined, 'a Head has a Host');
        for (const [k, v] of Object.entries(h.headers)) {
          assert.equal(k, k.toLowerCase());
          assert.doesNotMatch(v, /[\x00-\x08\x0a-\x1f\x7f]/, `${k}: ${JSON.stringify(v)}`);
          assert.equal(v, v.trim().length === v.length ? v : v.replace(/^[ \t]+|[ \t]+$/g, ''));
        }
        for (const k of ['content-length', 'transfer-encoding', 'expect', 'upgrade']) {
          assert.equal(h.headers[k], undefined, `${k} goes to node:http`);
        }
      }),
      params(5000),
    );
  });
});
