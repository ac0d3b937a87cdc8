// Consent (issue 21): while a lesson is recorded every page shows the red "Recording" badge, and
// someone waiting in the lobby sees it before they enter. The hub's policy here is `on_request`
// (LECTERN_RECORDING_DEFAULT): the teacher starts and stops it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

process.env.LECTERN_RECORDING_DEFAULT = 'on_request';

const ROOM = 'recorded';
const env = new Env('recording_consent');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

const recording = (page) => page.evaluate(() => window.lectern.recording === true);
const badgeShown = (page) => page.getByTestId('recording-badge').isVisible();

test('every page shows the badge while recording and a joiner sees it before entering', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Hopper' });
  await inLesson(teacher, 'teacher in the lesson');
  const { page: ada } = await openLesson(env, browser, { room: ROOM, role: 'student', name: 'Ada' });
  await inLesson(ada, 'Ada in the lesson');
  assert.equal(await badgeShown(ada), false, 'not recording yet');
  assert.equal(await ada.getByTestId('recording-toggle').isVisible(), false, 'students have no switch');

  const toggle = teacher.getByTestId('recording-toggle');
  await toggle.waitFor({ state: 'visible' });
  assert.equal((await toggle.textContent()).trim(), 'Start recording');
  await toggle.click();
  for (const [page, who] of [[teacher, 'teacher'], [ada, 'Ada']]) {
    await waitFor(() => recording(page), { what: `${who} told the lesson is recorded` });
    await page.getByTestId('recording-badge').waitFor({ state: 'visible' });
  }
  assert.match(await ada.getByTestId('recording-badge').textContent(), /Recording/);
  await waitFor(async () => (await toggle.textContent()).trim() === 'Stop recording', { what: 'the switch says stop' });

  // A guest waits in the lobby: the badge is there before a teacher lets them in.
  const { page: guest } = await openLesson(env, browser, { room: ROOM, role: 'student', guest: true, label: 'guest' });
  await guest.getByTestId('guest-name').fill('Grace');
  await guest.getByTestId('guest-join').click();
  await waitFor(() => guest.evaluate(() => window.lectern.classroom && window.lectern.classroom.state === 'waiting'),
    { what: 'guest waiting' });
  await guest.getByTestId('recording-badge').waitFor({ state: 'visible' });
  assert.equal(await guest.evaluate(() => window.lectern.state), 'waiting', 'told while still outside');

  await openTab(teacher, 'people');
  const entry = teacher.getByTestId('lobby-entry').filter({ hasText: 'Grace' });
  await entry.waitFor({ state: 'visible' });
  await entry.getByTestId('admit').click();
  await inLesson(guest, 'guest admitted');
  assert.equal(await badgeShown(guest), true, 'still shown inside');

  await toggle.click();
  for (const [page, who] of [[teacher, 'teacher'], [ada, 'Ada'], [guest, 'guest']]) {
    await waitFor(async () => !(await recording(page)) && !(await badgeShown(page)), { what: `${who}: badge gone` });
  }
}));
