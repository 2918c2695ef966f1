/**
 * The web UI in a real browser: Debian's chromium driven by playwright-core (scripts/setup.mjs
 * installs it as root; a missing browser fails these tests). A Quarry with a proxy upstream (an
 * in-process upstream Quarry on loopback) serves the pages; screenshots go to test/.work/screenshots.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import type { Harness } from '../http/harness.ts';
import { push, startHarness } from '../http/harness.ts';
import { makeGem } from '../support/make-gem.ts';
import { HOSTILE } from './hostile.ts';

const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(here, '..', '.work', 'screenshots');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const listen = async (h: Harness) => {
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(h.app.server.address() as { port: number }).port}`;
};

describe('web UI in chromium', { timeout: 180_000 }, () => {
  let upstream: Harness;
  let h: Harness;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: run node scripts/setup.mjs as root (Debian package chromium)`,
    );
    mkdirSync(SHOTS, { recursive: true });
    upstream = await startHarness();
    assert.equal(
      (await push(upstream, makeGem({ name: 'upgem', version: '1.0.0', summary: 'From upstream' })))
        .statusCode,
      200,
    );
    const upUrl = await listen(upstream);
    h = await startHarness({ upstreams: [{ name: 'up', url: upUrl, timeout_ms: 2000, max_age_ms: 60_000 }] });
    base = await listen(h);
    // Fetched once through the proxy: cached.
    const cached = await fetch(`${base}/gems/upgem-1.0.0.gem`);
    assert.equal(cached.status, 200);
    await cached.arrayBuffer();
    for (const g of [
      makeGem({ name: 'rack', version: '2.0.0', summary: 'Web server interface' }),
      makeGem({
        name: 'sinatra',
        version: '3.0.0',
        summary: 'Classy web framework',
        deps: [['rack', '>= 2']],
      }),
      HOSTILE,
    ])
      assert.equal((await push(h, g)).statusCode, 200);
    context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'quarry-chromium-')), {
      executablePath: CHROMIUM,
      baseURL: base,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });
  after(async () => {
    await context?.close();
    await h?.close();
    await upstream?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  it('uploads a gem through the form', async () => {
    await page.goto('/upload');
    await page.getByLabel('API key').fill(h.pushKey);
    await page.getByLabel('Gem file (.gem)').setInputFiles({
      name: 'webby-1.2.0.gem',
      mimeType: 'application/octet-stream',
      buffer: makeGem({
        name: 'webby',
        version: '1.2.0',
        summary: 'A webby little gem',
        deps: [['rack', '>= 2']],
        devDeps: [['sinatra', '~> 3.0']],
        metadata: {
          source_code_uri: 'https://example.com/webby',
          changelog_uri: 'https://example.com/webby/CHANGES',
        },
      }),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText('Successfully registered gem: webby (1.2.0)').waitFor();
    await shot('upload-done');
  });

  it('says clearly why an upload with a bad key is refused', async () => {
    await page.goto('/upload');
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByLabel('Gem file (.gem)').setInputFiles({
      name: 'x.gem',
      mimeType: 'application/octet-stream',
      buffer: makeGem({ name: 'never', version: '1.0.0' }),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(String(await alert.textContent()), /Upload refused \(401\)/);
    await shot('upload-bad-key');
  });

  it('finds it by search and shows every section of its page', async () => {
    await page.goto('/');
    await shot('home');
    await page.getByLabel('Search gems').fill('webby');
    await page.getByLabel('Search gems').press('Enter');
    await page.waitForURL(/\/search\?q=webby/);
    await shot('search');
    await page.getByRole('link', { name: 'webby' }).first().click();
    await page.waitForURL(/\/gems\/webby$/);
    for (const h2 of [
      'Install',
      'About',
      'Links',
      'Runtime dependencies',
      'Development dependencies',
      'Reverse dependencies',
      'Versions',
    ])
      await page.getByRole('heading', { name: h2, exact: true }).waitFor();
    assert.equal(String(await page.locator('#gemfile-line').textContent()), 'gem "webby", "~> 1.2.0"');
    assert.equal(String(await page.locator('#install-line').textContent()), 'gem install webby');
    assert.equal(
      await page.getByRole('link', { name: 'Source code' }).getAttribute('href'),
      'https://example.com/webby',
    );
    assert.equal(await page.getByRole('link', { name: 'rack' }).first().getAttribute('href'), '/gems/rack');
    assert.equal(
      await page.getByRole('link', { name: 'sinatra' }).first().getAttribute('href'),
      '/gems/sinatra',
    );
    const row = page.locator('tr[data-version="webby-1.2.0"]');
    assert.match(String(await row.textContent()), /ruby/);
    assert.match(String(await row.textContent()), /hosted/);
    await shot('gem');
    await page.goto('/gems/rack');
    assert.match(
      String(await page.locator('section[aria-labelledby="rev-h"]').textContent()),
      /sinatra[\s\S]*webby/,
    );
    await page.goto('/gems/webby/versions/1.2.0');
    await shot('version');
  });

  it('yanks a version after a confirmation step and marks it', async () => {
    await page.goto('/gems/webby');
    await page.locator('tr[data-version="webby-1.2.0"]').getByRole('link', { name: /Yank/ }).click();
    await page.getByRole('heading', { name: /Yank webby 1\.2\.0\?/ }).waitFor();
    await shot('yank-confirm');
    await page.getByLabel('API key').fill(h.yankKey);
    await page.getByRole('button', { name: 'Yank 1.2.0' }).click();
    await page.waitForURL(/\/gems\/webby\?notice=yanked/);
    assert.match(String(await page.locator('tr[data-version="webby-1.2.0"]').textContent()), /yanked/);
    await shot('yanked');
  });

  it('marks a gem cached from the proxy upstream', async () => {
    await page.goto('/gems/upgem');
    const row = page.locator('tr[data-version="upgem-1.0.0"]');
    assert.match(String(await row.textContent()), /cached from up/);
    await shot('cached-gem');
  });

  it('shows hostile metadata inert', async () => {
    await page.goto('/gems/evil');
    await page.goto('/search?q=evil');
    await page.goto('/');
    assert.deepEqual(dialogs, []);
    assert.equal(await page.evaluate<number>("document.querySelectorAll('img, svg, iframe').length"), 0);
    await page.goto('/gems/evil');
    assert.equal(
      await page.evaluate<number>('[...document.links].filter((a) => !/^https?:/.test(a.href)).length'),
      0,
    );
    assert.match(
      String(await page.locator('.summary').first().textContent()),
      /<script>alert\("summary"\)<\/script>/,
    );
    await shot('hostile');
  });

  it('has no serious or critical axe violations, in light and dark mode', async () => {
    const pages = [
      '/',
      '/search?q=rack',
      '/gems/webby',
      '/gems/rack/versions/2.0.0',
      '/gems/upgem',
      '/upload',
      '/gems/rack/versions/2.0.0/yank',
      '/gems/evil',
      '/nowhere',
    ];
    const problems: string[] = [];
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const url of pages) {
        await page.goto(url);
        await page.evaluate(AXE);
        const found = await page.evaluate<{ id: string; impact: string; nodes: { target: string[] }[] }[]>(
          'axe.run().then((r) => r.violations)',
        );
        for (const v of found)
          if (v.impact === 'serious' || v.impact === 'critical')
            problems.push(
              `${scheme} ${url}: ${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
            );
      }
      await page.goto('/gems/webby');
      await shot(`gem-${scheme}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    assert.deepEqual(problems, []);
  });

  it('works by keyboard alone: search, open a gem, copy its Gemfile line, with visible focus', async () => {
    await page.goto('/');
    const focused = () =>
      page.evaluate<{
        id: string;
        text: string;
        tag: string;
        outline: string;
        width: string;
        href: string | null;
      } | null>(`(() => {
        const el = document.activeElement;
        if (!el) return null;
        const s = getComputedStyle(el);
        return { id: el.id, text: (el.textContent || '').trim(), tag: el.tagName,
          outline: s.outlineStyle, width: s.outlineWidth, href: el.getAttribute('href') };
      })()`);
    const tabTo = async (
      want: (f: NonNullable<Awaited<ReturnType<typeof focused>>>) => boolean,
      label: string,
    ) => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        const f = await focused();
        if (f && want(f)) {
          assert.notEqual(f.outline, 'none', `${label}: focus is visible`);
          assert.notEqual(f.width, '0px', `${label}: focus is visible`);
          return;
        }
      }
      assert.fail(`${label}: never reached by Tab`);
    };
    await tabTo((f) => f.id === 'site-q', 'search box');
    await page.keyboard.type('rack');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/search\?q=rack/);
    await tabTo((f) => f.href === '/gems/rack', 'first result');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/gems\/rack$/);
    await tabTo((f) => f.tag === 'BUTTON' && f.text === 'Copy' && f.id === '', 'copy button');
    // The first copy button is the gem install line; the next is the Gemfile line.
    await tabTo((f) => f.tag === 'BUTTON' && f.text === 'Copy', 'Gemfile copy button');
    await page.keyboard.press('Enter');
    await page.locator('button[data-copy="gemfile-line"][data-copied="true"]').waitFor();
    assert.equal(await page.evaluate<string>('navigator.clipboard.readText()'), 'gem "rack", "~> 2.0.0"');
    await shot('keyboard-copied');
  });
});
