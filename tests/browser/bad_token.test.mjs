// A garbage token ends in a clear message, state 'failed', and no reconnect loop.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, joinUrl, waitFor } from './harness.mjs';

const env = new Env('bad_token');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('a garbage token shows the invalid-link message and does not retry', { timeout: 60000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'student');
  let sockets = 0;
  page.on('websocket', () => { sockets += 1; });

  await page.goto(joinUrl(env.baseUrl, 'some-room', 'not-a-jwt.garbage.x'));
  await waitFor(() => page.evaluate(() => window.lectern && window.lectern.state === 'failed'),
    { timeoutMs: 15000, what: "window.lectern.state === 'failed'" });
  const status = await page.locator('#status').textContent();
  assert.match(status, /invalid or expired/i);
  assert.equal(await page.locator('#status').isVisible(), true);

  // No reconnect loop: the first retry would come after 1 s, so watch for 2.5 s (an observation
  // window for something that must NOT happen, not a wait for something that should).
  await page.waitForTimeout(2500);
  assert.equal(sockets, 1, 'exactly one WebSocket was opened');
  assert.equal(await page.evaluate(() => window.lectern.state), 'failed');
}));
