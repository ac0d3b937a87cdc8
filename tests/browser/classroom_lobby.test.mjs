// The lobby: with "everyone waits" on, a student with a personal link waits until the teacher admits
// them; a guest on a shared link gives a name, waits, is denied, sees why, and does not reconnect.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'lobby';
const env = new Env('classroom_lobby');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('teacher admits a waiting student and denies a guest', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Hopper' });
  await inLesson(teacher, 'teacher in the lesson');

  await openTab(teacher, 'room');
  await teacher.getByTestId('policy-everyoneWaits').check();
  await waitFor(async () => (await classroomOf(teacher)).policy.everyoneWaits === true,
    { what: 'policy everyoneWaits on at the teacher' });

  // A student with a personal link now waits.
  const { page: ada } = await openLesson(env, browser, { room: ROOM, role: 'student', name: 'Ada' });
  await waitFor(() => ada.evaluate(() => window.lectern.state === 'waiting' && window.lectern.classroom.state === 'waiting'),
    { what: 'Ada waiting in the lobby' });
  await ada.getByTestId('gate').waitFor({ state: 'visible' });
  assert.match(await ada.getByTestId('gate').textContent(), /teacher will let you in soon/i);
  assert.equal(await ada.locator('#side').isVisible(), false, 'no lesson panels while waiting');

  await openTab(teacher, 'people');
  const adaEntry = teacher.getByTestId('lobby-entry').filter({ hasText: 'Ada' });
  await adaEntry.waitFor({ state: 'visible' });
  await adaEntry.getByTestId('admit').click();
  await inLesson(ada, 'Ada admitted');
  assert.equal(await ada.getByTestId('gate').isVisible(), false);
  await waitFor(async () => (await classroomOf(teacher)).lobby.length === 0, { what: 'lobby empty after admit' });
  await waitFor(async () => (await teacher.getByTestId('person').filter({ hasText: 'Ada' }).count()) === 1,
    { what: 'Ada in the teacher\'s participant list' });

  // A guest on a shared link: asked for a name first, then waits, then is denied.
  const { page: guest } = await openLesson(env, browser, { room: ROOM, role: 'student', guest: true, label: 'guest' });
  let sockets = 0;
  guest.on('websocket', () => { sockets += 1; });
  await guest.getByTestId('guest-name').waitFor({ state: 'visible' });
  assert.equal(await guest.evaluate(() => window.lectern.state), 'connecting', 'no socket before the name is given');
  await guest.getByTestId('guest-name').fill('Bobby Tables');
  await guest.getByTestId('guest-join').click();
  await waitFor(() => guest.evaluate(() => window.lectern.classroom && window.lectern.classroom.state === 'waiting'),
    { what: 'guest waiting' });

  const bobEntry = teacher.getByTestId('lobby-entry').filter({ hasText: 'Bobby Tables' });
  await bobEntry.waitFor({ state: 'visible' });
  assert.match(await bobEntry.textContent(), /guest/);
  await bobEntry.getByTestId('deny').click();

  await waitFor(() => guest.evaluate(() => window.lectern.state === 'denied'), { what: 'guest denied' });
  assert.equal((await classroomOf(guest)).reason, 'deniedByTeacher');
  assert.match(await guest.getByTestId('gate').textContent(), /did not let you in/i);
  // No reconnect: the first retry would come after 1 s; watch for 2.5 s (an observation window for
  // something that must NOT happen, not a wait for something that should).
  await guest.waitForTimeout(2500);
  assert.equal(sockets, 1, 'exactly one WebSocket was opened');
  assert.equal(await guest.evaluate(() => window.lectern.state), 'denied');
  // The teacher's lobby update comes on the teacher's own socket, in no set order with the guest's.
  await waitFor(async () => (await classroomOf(teacher)).lobby.length === 0, { what: 'lobby empty after deny' });
}));
