// Chat: a late joiner gets the history; markup in a message is shown as text and never becomes an
// element; a private message reaches only its two ends. The student view fits a 360 px screen.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'chat';
const env = new Env('classroom_chat');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

const HOSTILE = '<img src=x onerror="window.__pwned=1"><b>bold</b> https://example.com';
const texts = (page) => page.getByTestId('chat-log').locator('[data-testid="chat-message"] .text').allTextContents();

async function say(page, text, to = '') {
  await openTab(page, 'chat');
  await page.getByTestId('chat-to').selectOption(to);
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-input').press('Enter');
}

test('a late joiner sees the history, as plain text', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Hamilton' });
  const teacherId = await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  await inLesson(ada, 'Ada in');

  await say(ada, 'Hello class');
  await waitFor(async () => (await texts(teacher)).includes('Hello class'), { what: 'teacher got Ada\'s message' });
  await say(teacher, HOSTILE);
  await waitFor(async () => (await texts(ada)).includes(HOSTILE), { what: 'Ada got the teacher\'s message' });
  // Ada writes privately to the teacher.
  await say(ada, 'Can I leave early?', String(teacherId));
  await waitFor(async () => (await texts(teacher)).includes('Can I leave early?'), { what: 'teacher got the private message' });

  // Grace joins late, on a phone.
  const { page: grace } = await openLesson(env, browser, { room: ROOM, name: 'Grace', viewport: { width: 360, height: 740 } });
  await inLesson(grace, 'Grace in');
  await openTab(grace, 'chat');
  await waitFor(async () => (await texts(grace)).length >= 2, { what: 'history shown to the late joiner' });
  assert.deepEqual(await texts(grace), ['Hello class', HOSTILE], 'room history in order, without the private message');
  const log = grace.getByTestId('chat-log');
  assert.equal(await log.locator('img').count(), 0, 'no <img> injected');
  assert.equal(await log.locator('.text b').count(), 0, 'no <b> injected');
  assert.equal(await log.locator('.text a').count(), 0, 'links are not made clickable');
  assert.equal(await grace.evaluate(() => window.__pwned), undefined);
  assert.equal(await teacher.evaluate(() => window.__pwned), undefined);

  // The private message is marked as such at both ends.
  const priv = teacher.getByTestId('chat-message').filter({ hasText: 'Can I leave early?' });
  assert.match(await priv.textContent(), /privately to you/);
  assert.match(await ada.getByTestId('chat-message').filter({ hasText: 'Can I leave early?' }).textContent(), /privately to Ms Hamilton/);

  // 360 px: no sideways scrolling with the panels open.
  assert.ok(await grace.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scroll at 360 px');
}));
