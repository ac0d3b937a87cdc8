// Removal: the teacher removes a student (after confirming); the student is told, the page does not
// reconnect, and the same link is refused afterwards ("blocked").

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'remove';
const env = new Env('classroom_remove');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('a removed student cannot rejoin with the same link', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Mr Dijkstra' });
  await inLesson(teacher, 'teacher in');
  const { page: ada, token } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  const adaId = await inLesson(ada, 'Ada in');
  let sockets = 0;
  ada.on('websocket', () => { sockets += 1; });

  await openTab(teacher, 'people');
  const row = teacher.locator(`[data-testid="person"][data-participant-id="${adaId}"]`);
  await row.getByTestId('person-remove').click();
  // Cancel first: nothing happens.
  await teacher.getByTestId('confirm-cancel').click();
  assert.equal(await row.count(), 1);
  await row.getByTestId('person-remove').click();
  await teacher.getByTestId('confirm-ok').click();

  await waitFor(() => ada.evaluate(() => window.lectern.state === 'removed'), { what: 'Ada removed' });
  assert.match(await ada.getByTestId('gate').textContent(), /You were removed from the lesson/);
  await waitFor(async () => (await row.count()) === 0, { what: 'Ada gone from the teacher\'s list' });
  // Observation window for a reconnect that must not happen (the first retry would come after 1 s).
  await ada.waitForTimeout(2500);
  assert.equal(sockets, 0, 'no new WebSocket after removal');

  // The same link again, in a fresh page: refused as blocked.
  const { page: again } = await openLesson(env, browser, { room: ROOM, token, label: 'Ada again' });
  await waitFor(() => again.evaluate(() => window.lectern.state === 'denied'), { what: 'rejoin denied' });
  assert.equal((await classroomOf(again)).reason, 'blocked');
  assert.match(await again.getByTestId('gate').textContent(), /cannot join this lesson again/i);
}));
