// The room passcode: the teacher sets one; a guest on the shared link without it, or with a wrong
// one, is refused and asked again (name kept); with the right one the guest waits in the lobby and
// the teacher admits them. A student with a personal link never needs it, and the hub never sends
// the passcode to anyone.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, joinUrl, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'passcode';
const PASSCODE = 'maple-7';
const env = new Env('classroom_passcode');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

/** Every frame the hub sent to `page`, for the "never sent" check. */
function recordReceived(page) {
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
  return frames;
}

/** A personal link's page, recorded from its first socket (opened while the page loads: boot.js). */
async function openRecorded(browser, { role, name }) {
  const page = await env.newPage(browser, name);
  const frames = recordReceived(page);
  await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role, name })));
  return { page, frames };
}

test('guests need the teacher\'s passcode; personal links do not', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher, frames: teacherFrames } = await openRecorded(browser, { role: 'teacher', name: 'Ms Lovelace' });
  await inLesson(teacher, 'teacher in the lesson');

  await openTab(teacher, 'room');
  assert.match(await teacher.getByTestId('passcode-status').textContent(), /no passcode/i);
  assert.equal(await teacher.getByTestId('passcode-clear').isVisible(), false, 'nothing to clear yet');
  await teacher.getByLabel(/new passcode/i).fill(PASSCODE);
  await teacher.getByTestId('passcode-save').click();
  await waitFor(async () => (await classroomOf(teacher)).policy.passcodeRequired === true,
    { what: 'passcodeRequired at the teacher' });
  assert.match(await teacher.getByTestId('passcode-status').textContent(), /a passcode is set/i);
  assert.equal(await teacher.getByTestId('passcode-input').inputValue(), '', 'the field empties once the hub confirms');
  assert.equal(await teacher.getByTestId('passcode-clear').isVisible(), true);

  // A guest who leaves the passcode empty is refused and asked again, with the name kept.
  const { page: guest } = await openLesson(env, browser, { room: ROOM, role: 'student', guest: true, label: 'guest' });
  const guestFrames = recordReceived(guest);
  let sockets = 0;
  guest.on('websocket', () => { sockets += 1; });
  await guest.getByTestId('guest-name').waitFor({ state: 'visible' });
  assert.equal(await guest.getByTestId('guest-passcode').isVisible(), true, 'a passcode field next to the name');
  await guest.getByTestId('guest-name').fill('Charles');
  await guest.getByTestId('guest-join').click();
  await waitFor(() => guest.evaluate(() => window.lectern.state === 'passcode'), { what: 'guest asked for the passcode' });
  assert.equal((await classroomOf(guest)).reason, 'wrongPasscode');
  assert.equal(sockets, 1);
  await guest.getByTestId('guest-passcode').waitFor({ state: 'visible' });
  assert.match(await guest.getByTestId('guest-error').textContent(), /wrong passcode, try again/i);
  assert.equal(await guest.getByTestId('guest-name').inputValue(), 'Charles');
  assert.equal(await guest.getByTestId('guest-passcode').getAttribute('aria-invalid'), 'true');
  assert.equal((await classroomOf(teacher)).lobby.length, 0, 'a refused guest never reaches the lobby');

  // Submitting the second form without a passcode is caught in the page: no socket.
  await guest.getByTestId('guest-join').click();
  assert.match(await guest.getByTestId('guest-error').textContent(), /enter the room passcode/i);
  assert.equal(sockets, 1);

  // A wrong passcode: refused again, on a new socket.
  await guest.getByTestId('guest-passcode').fill('maple-8');
  await guest.getByTestId('guest-join').click();
  await waitFor(() => guest.evaluate(() => window.lectern.state === 'passcode'), { what: 'refused again' });
  assert.equal(sockets, 2);
  assert.match(await guest.getByTestId('guest-error').textContent(), /wrong passcode/i);

  // The right one: the guest waits in the lobby (guests always do) until the teacher admits them.
  await guest.getByTestId('guest-passcode').fill(` ${PASSCODE} `);
  await guest.getByTestId('guest-join').click();
  await waitFor(() => guest.evaluate(() => window.lectern.classroom.state === 'waiting'), { what: 'guest waiting' });
  await openTab(teacher, 'people');
  const entry = teacher.getByTestId('lobby-entry').filter({ hasText: 'Charles' });
  await entry.waitFor({ state: 'visible' });
  await entry.getByTestId('admit').click();
  await inLesson(guest, 'guest admitted');
  assert.equal((await classroomOf(guest)).policy.passcodeRequired, true);

  // A personal link goes straight in, passcode or not.
  const { page: ada, frames: adaFrames } = await openRecorded(browser, { role: 'student', name: 'Ada' });
  await inLesson(ada, 'personal-token student in without a passcode');
  assert.equal(await ada.getByTestId('guest-name').isVisible(), false);

  // The teacher clears it; everyone is told only that none is required now.
  await openTab(teacher, 'room');
  await teacher.getByTestId('passcode-clear').click();
  await waitFor(async () => (await classroomOf(ada)).policy.passcodeRequired === false, { what: 'cleared at Ada' });
  // The teacher's page learns of the cleared passcode from its own update, which may come after Ada's.
  await waitFor(async () => /no passcode/i.test(await teacher.getByTestId('passcode-status').textContent()),
    { what: 'no passcode in the teacher\'s status' });

  for (const [who, frames] of [['teacher', teacherFrames], ['guest', guestFrames], ['Ada', adaFrames]]) {
    assert.ok(frames.length > 0, `${who} received frames`);
    assert.ok(frames.every((f) => !f.includes(PASSCODE)), `the hub never sent the passcode to ${who}`);
  }
}));
