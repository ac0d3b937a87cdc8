// The join link's token leaves the address bar once the page has read it, and a reload of the same
// tab still rejoins (the tab keeps it); a new tab without the link does not.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, waitFor } from './harness.mjs';

const env = new Env('address_bar');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('the token is taken out of the address bar and a reload rejoins', { timeout: 90000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page, token } = await openLesson(env, browser, { room: 'address-bar', role: 'teacher', name: 'Ada' });
  await inLesson(page);
  const shown = new URL(page.url());
  assert.equal(shown.searchParams.get('token'), null, `token still in ${page.url()}`);
  assert.equal(shown.pathname, '/join/address-bar');
  assert.ok(!page.url().includes(token.slice(0, 20)), 'no part of the token is shown');
  const first = await page.evaluate(() => window.lectern.self.participantId);

  await page.reload();
  await inLesson(page, 'rejoined after a reload');
  assert.equal(new URL(page.url()).searchParams.get('token'), null);
  assert.notEqual(await page.evaluate(() => window.lectern.self.participantId), undefined);
  assert.ok(first, 'was a participant before the reload');

  // Another tab of the same browser has no link: it asks for one.
  const other = await page.context().newPage();
  await other.goto(`${env.baseUrl}/join/address-bar`);
  await waitFor(() => other.evaluate(() => window.lectern && window.lectern.state === 'idle'),
    { what: 'the token form in a tab without the link', timeoutMs: 15000 });
  assert.equal(await other.locator('#token-entry').isVisible(), true);
}));
