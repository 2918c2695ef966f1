/** A gem whose metadata holds HTML, script and javascript: URLs, and the check that a page shows it inert. */
import assert from 'node:assert/strict';
import { makeGem } from '../support/make-gem.ts';

export const HOSTILE = makeGem({
  name: 'evil',
  version: '1.0.0',
  summary: '<script>alert("summary")</script><img src=x onerror=alert(1)>',
  description: '<b onmouseover="alert(2)">bold</b><script>alert(3)</script>',
  authors: ['<script>alert("author")</script>', '"><svg onload=alert(4)>'],
  homepage: 'javascript:alert(5)',
  metadata: {
    source_code_uri: 'javascript:alert(6)',
    changelog_uri: 'data:text/html,<script>alert(7)</script>',
    bug_tracker_uri: 'https://example.com/bugs?a=1&b="><script>alert(8)</script>',
    documentation_uri: ' JaVaScRiPt:alert(9)',
  },
  deps: [['rack', '>= 1']],
});

/** No markup or script from the gem survives as markup. */
export function assertInert(body: string, label: string): void {
  assert.doesNotMatch(body, /<script>alert/i, label);
  assert.doesNotMatch(body, /<img src=x/i, label);
  assert.doesNotMatch(body, /<svg onload/i, label);
  assert.doesNotMatch(body, /<b onmouseover/i, label);
  assert.doesNotMatch(body, /href="\s*(javascript|data):/i, label);
  // Every <script> on the page is the server's own file.
  for (const m of body.matchAll(/<script\b[^>]*>/gi))
    assert.match(m[0], /src="\/assets\/quarry-[0-9a-f]+\.js"/, label);
}
