// A guest the teacher turned away opens the same shared link again in the same browser: the hub
// knows the browser (a cookie only /rtc sees) and refuses it for the rest of the lesson, with the
// page saying why; the teacher's lobby stays empty.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, joinUrl, openLesson, waitFor } from './harness.mjs';

const ROOM = 'guestblock';
const env = new Env('guest_block');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

async function giveName(page, name) {
  await page.getByTestId('guest-name').waitFor({ state: 'visible' });
  await page.getByTestId('guest-name').fill(name);
  await page.getByTestId('guest-join').click();
}

test('a denied guest coming back on the same link is refused for the lesson', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Hopper' });
  await inLesson(teacher, 'teacher in the lesson');

  const { page: guest, token } = await openLesson(env, browser, { room: ROOM, role: 'student', guest: true, label: 'guest' });
  await giveName(guest, 'Mallory');
  await waitFor(() => guest.evaluate(() => window.lectern.classroom && window.lectern.classroom.state === 'waiting'),
    { what: 'guest waiting' });
  const cookies = await guest.context().cookies();
  assert.ok(cookies.some((c) => c.name === 'lectern_browser' && c.httpOnly), `the browser was given its id: ${JSON.stringify(cookies)}`);

  await waitFor(async () => (await classroomOf(teacher)).lobby.length === 1, { what: 'Mallory in the teacher\'s lobby' });
  const entry = teacher.getByTestId('lobby-entry').filter({ hasText: 'Mallory' });
  await entry.getByTestId('deny').click();
  await waitFor(() => guest.evaluate(() => window.lectern.state === 'denied'), { what: 'guest denied' });

  // Same browser, same link, another name.
  const again = await guest.context().newPage();
  await again.goto(joinUrl(env.baseUrl, ROOM, token));
  await giveName(again, 'Not Mallory');
  await waitFor(() => again.evaluate(() => window.lectern.state === 'denied'), { what: 'the guest refused on coming back' });
  assert.equal((await classroomOf(again)).reason, 'blocked');
  assert.equal((await classroomOf(teacher)).lobby.length, 0, 'the teacher is not asked again');
}));
