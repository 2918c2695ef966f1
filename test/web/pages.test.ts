/** The web UI through inject(): pages, escaping of hostile gem metadata, CSRF, security headers. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Harness } from '../http/harness.ts';
import { push, startHarness } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';
import { assertInert, HOSTILE } from './hostile.ts';

const HTML = { accept: 'text/html' };

const csrfFrom = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
const cookieFrom = (setCookie: string | string[] | undefined) => {
  const c = Array.isArray(setCookie) ? setCookie.join(';') : (setCookie ?? '');
  return /quarry_csrf=([^;]+)/.exec(c)?.[1];
};

describe('web UI pages', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    assert.equal(
      (await push(h, makeGem({ name: 'rack', version: '2.0.0', summary: 'Web server interface' })))
        .statusCode,
      200,
    );
    assert.equal((await push(h, HOSTILE)).statusCode, 200);
  });
  after(() => h.close());

  it('renders home, search, gem, version, upload and yank pages with security headers', async () => {
    for (const url of [
      '/',
      '/search?q=rack',
      '/gems/rack',
      '/gems/rack/versions/2.0.0',
      '/upload',
      '/gems/rack/versions/2.0.0/yank',
    ]) {
      const r = await h.app.inject({ url, headers: HTML });
      assert.equal(r.statusCode, 200, url);
      assert.match(String(r.headers['content-type']), /^text\/html/, url);
      const csp = String(r.headers['content-security-policy']);
      assert.match(csp, /script-src 'self'/, url);
      assert.doesNotMatch(csp, /unsafe-inline/, url);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', url);
      assert.equal(r.headers['x-frame-options'], 'DENY', url);
      assert.match(r.body, /<main id="main"/, url);
    }
    const home = await h.app.inject({ url: '/', headers: HTML });
    assert.match(home.body, /gem sources --add http:\/\/localhost(:\d+)?\//);
    assert.match(home.body, /bundle config mirror\.https:\/\/rubygems\.org/);
    const gem = await h.app.inject({ url: '/gems/rack', headers: HTML });
    assert.match(gem.body, /gem &quot;rack&quot;, &quot;~&gt; 2\.0\.0&quot;/);
    assert.match(gem.body, /gem install rack/);
  });

  it('keeps gem clients on plain text: HEAD / and a 404 without Accept: text/html', async () => {
    const head = await h.app.inject({ method: 'HEAD', url: '/' });
    assert.equal(head.statusCode, 200);
    assert.equal((await h.app.inject('/')).body, 'Quarry gem server\n');
    const miss = await h.app.inject('/nothing-here');
    assert.equal(miss.statusCode, 404);
    assert.equal(miss.body, 'Not found: /nothing-here\n');
    const page = await h.app.inject({ url: '/nothing-here', headers: HTML });
    assert.equal(page.statusCode, 404);
    assert.match(page.body, /<h1>Not found<\/h1>/);
    const gem = await h.app.inject({ url: '/gems/no-such-gem', headers: HTML });
    assert.equal(gem.statusCode, 404);
    assert.match(gem.body, /No gem named no-such-gem/);
  });

  it('shows hostile gem metadata inert on every page', async () => {
    for (const url of [
      '/',
      '/search?q=evil',
      '/search?q=script',
      '/gems/evil',
      '/gems/evil/versions/1.0.0',
      '/gems/evil/versions/1.0.0/yank',
      '/gems/rack',
      '/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E',
    ]) {
      const r = await h.app.inject({ url, headers: HTML });
      assert.equal(r.statusCode, 200, url);
      assertInert(r.body, url);
    }
    const page = (await h.app.inject({ url: '/gems/evil', headers: HTML })).body;
    assert.match(page, /&lt;script&gt;alert\(&quot;summary&quot;\)&lt;\/script&gt;/);
    assert.match(
      page,
      /href="https:\/\/example\.com\/bugs\?a=1&amp;b=%22%3E%3Cscript%3Ealert\(8\)%3C\/script%3E"/,
    );
    const feed = await h.app.inject('/feed.atom');
    assert.equal(feed.statusCode, 200);
    assert.doesNotMatch(feed.body, /<script>/);
    assert.match(feed.body, /&lt;script&gt;/);
  });

  it('refuses form posts without the CSRF token, and takes them with it', async () => {
    const form = await h.app.inject({ url: '/gems/rack/versions/2.0.0/yank', headers: HTML });
    const token = csrfFrom(form.body)!;
    const cookie = cookieFrom(form.headers['set-cookie'])!;
    assert.ok(token && cookie && token === cookie);
    const post = (payload: string, cookieHeader?: string) =>
      h.app.inject({
        method: 'POST',
        url: '/gems/rack/versions/2.0.0/yank',
        headers: {
          ...HTML,
          'content-type': 'application/x-www-form-urlencoded',
          ...(cookieHeader ? { cookie: cookieHeader } : {}),
        },
        payload,
      });
    const noCookie = await post(`_csrf=${token}&api_key=${h.yankKey}`);
    assert.equal(noCookie.statusCode, 403);
    assert.match(noCookie.body, /CSRF/);
    const wrong = await post(`_csrf=${'x'.repeat(43)}&api_key=${h.yankKey}`, `quarry_csrf=${cookie}`);
    assert.equal(wrong.statusCode, 403);
    const badKey = await post(`_csrf=${token}&api_key=nope`, `quarry_csrf=${cookie}`);
    assert.equal(badKey.statusCode, 401);
    assert.match(badKey.body, /Yank refused/);
    assert.equal((await h.app.inject('/gems/rack-2.0.0.gem')).statusCode, 200, 'nothing yanked yet');
    const ok = await post(`_csrf=${token}&api_key=${h.yankKey}`, `quarry_csrf=${cookie}`);
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/gems/rack?notice=yanked');
    const after = await h.app.inject({ url: '/gems/rack', headers: HTML });
    assert.match(after.body, /class="badge yanked">yanked/);
    // Unyank restores it.
    const unyank = await h.app.inject({
      method: 'POST',
      url: '/gems/rack/versions/2.0.0/unyank',
      headers: {
        ...HTML,
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `quarry_csrf=${cookie}`,
      },
      payload: `_csrf=${token}&api_key=${h.yankKey}`,
    });
    assert.equal(unyank.statusCode, 303);
    assert.equal((await h.app.inject('/gems/rack-2.0.0.gem')).statusCode, 200);
  });

  it('uploads through the form with the push checks, and says why a bad key is refused', async () => {
    const form = await h.app.inject({ url: '/upload', headers: HTML });
    const token = csrfFrom(form.body)!;
    const upload = (key: string, gem: Buffer) => {
      const boundary = 'quarry-test-boundary';
      const part = (name: string, value: string) =>
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
      const payload = Buffer.concat([
        Buffer.from(part('_csrf', token) + part('api_key', key)),
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="gem"; filename="x.gem"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        ),
        gem,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return h.app.inject({
        method: 'POST',
        url: '/upload/form',
        headers: {
          ...HTML,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          cookie: `quarry_csrf=${token}`,
        },
        payload,
      });
    };
    const bad = await upload('wrong-key', makeGem({ name: 'formgem', version: '1.0.0' }));
    assert.equal(bad.statusCode, 401);
    assert.match(bad.body, /Upload refused/);
    assert.match(bad.body, /role="alert"/);
    const ok = await upload(h.pushKey, makeGem({ name: 'formgem', version: '1.0.0' }));
    assert.equal(ok.statusCode, 200, ok.body);
    assert.match(ok.body, /Successfully registered gem: formgem \(1\.0\.0\)/);
    const again = await upload(
      h.pushKey,
      makeGem({ name: 'formgem', version: '1.0.0', summary: 'other bytes' }),
    );
    assert.equal(again.statusCode, 409);
  });
});

describe('web UI with protected reads', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ auth: { protected_reads: true } });
  });
  after(() => h.close());

  it('asks for a key first and shows nothing before', async () => {
    const home = await h.app.inject({ url: '/', headers: HTML });
    assert.equal(home.statusCode, 303);
    assert.equal(home.headers.location, '/signin');
    for (const url of ['/search?q=a', '/gems/rack', '/feed.atom']) {
      const r = await h.app.inject({ url, headers: HTML });
      assert.ok(r.statusCode === 303 || r.statusCode === 401, url);
    }
    assert.equal((await h.app.inject({ method: 'HEAD', url: '/' })).statusCode, 401);
    const signin = await h.app.inject({ url: '/signin', headers: HTML });
    const token = csrfFrom(signin.body)!;
    const post = await h.app.inject({
      method: 'POST',
      url: '/signin',
      headers: {
        ...HTML,
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `quarry_csrf=${token}`,
      },
      payload: `_csrf=${token}&api_key=${h.readKey}`,
    });
    assert.equal(post.statusCode, 303);
    const key = /quarry_key=([^;]+)/.exec(String(post.headers['set-cookie']))![1];
    const after = await h.app.inject({ url: '/', headers: { ...HTML, cookie: `quarry_key=${key}` } });
    assert.equal(after.statusCode, 200);
    assert.match(after.body, /hosted gems/);
  });
});
