// The static pages: served from the binary, no secrets, usable at 360 px, token form when the link
// has no token.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env } from './harness.mjs';

const env = new Env('pages');
let page;

before(() => env.diagnose(async () => {
  await env.startHub();
  const browser = await env.launchBrowser();
  page = await env.newPage(browser, 'visitor');
  await page.setViewportSize({ width: 360, height: 740 });
}));
after(() => env.close());

const noHorizontalScroll = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

test('home page explains Lectern and offers the join form', () => env.diagnose(async () => {
  const res = await page.goto(`${env.baseUrl}/`);
  assert.equal(res.status(), 200);
  assert.match(await page.locator('h1').textContent(), /class/i);
  assert.equal(await page.getByLabel('Join link or token').count(), 1);
  assert.ok(await noHorizontalScroll(), 'no horizontal scrolling at 360 px');
  // A pasted link takes the visitor to its join page.
  await page.getByLabel('Join link or token').fill(`${env.baseUrl}/join/room-1?token=abc`);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.waitForURL(/\/join\/room-1\?token=abc$/);
}));

test('join page without a token asks for the link', () => env.diagnose(async () => {
  await page.goto(`${env.baseUrl}/join/room-7`);
  await page.locator('#token-form').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#token-room').textContent(), 'room-7');
  assert.equal(await page.locator('#call').isVisible(), false);
  assert.ok(await noHorizontalScroll(), 'no horizontal scrolling at 360 px');
  await page.getByLabel('Join link or token').fill('tok123');
  await page.getByRole('button', { name: 'Join' }).click();
  await page.waitForURL(/\/join\/room-7\?token=tok123$/);
}));

test('assets are served with their content types', () => env.diagnose(async () => {
  for (const [name, type] of [['app.js', /javascript/], ['style.css', /text\/css/]]) {
    const res = await fetch(`${env.baseUrl}/assets/${name}`);
    assert.equal(res.status, 200, name);
    assert.match(res.headers.get('content-type') || '', type, name);
  }
  assert.equal((await fetch(`${env.baseUrl}/assets/nope.js`)).status, 404);
}));
