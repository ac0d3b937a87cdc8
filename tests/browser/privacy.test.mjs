// The lesson's view mode (issue 22): with "students see each other" off, a student's page receives
// no other student's camera (not offered at all; withdrawn when switched off mid-lesson), while the
// teacher still gets every camera and students still get the teacher's. Enforced by the hub's
// forwarding, not by hiding tiles.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const env = new Env('privacy');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

/** Whose cameras the page's subscribe connection carries now (lectern.tracks, from the hub's offers). */
const cameras = (page) => page.evaluate(() => window.lectern.tracks
  .filter((t) => t.kind === 'video' && !t.screen).map((t) => t.participantId).sort((a, b) => a - b));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function setSeeEachOther(teacher, on) {
  await openTab(teacher, 'room');
  const box = teacher.getByTestId('policy-studentsSeeEachOther');
  await waitFor(async () => !(await box.isDisabled()), { what: 'the switch ready' });
  if ((await box.isChecked()) !== on) await box.click();
  await waitFor(() => teacher.evaluate((on) => window.lectern.classroom.policy?.studentsSeeEachOther === on, on), { what: `policy studentsSeeEachOther=${on}` });
}

test('students see only the teacher and the room: no other student\'s camera reaches a student', { timeout: 180000 }, () => env.diagnose(async () => {
  const room = 'privacy';
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room, role: 'teacher', name: 'Ms Hamilton' });
  const teacherId = await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room, name: 'Ada' });
  const { page: grace } = await openLesson(env, browser, { room, name: 'Grace' });
  const adaId = await inLesson(ada, 'Ada in');
  const graceId = await inLesson(grace, 'Grace in');
  // Today's default: everyone sees everyone.
  await waitFor(async () => same(await cameras(ada), [teacherId, graceId]) && same(await cameras(teacher), [adaId, graceId]), { what: 'all cameras flowing' });

  // Switched off mid-lesson: the students' cameras are withdrawn from each other, not from the teacher.
  await setSeeEachOther(teacher, false);
  await waitFor(async () => same(await cameras(ada), [teacherId]) && same(await cameras(grace), [teacherId]), { what: 'each student left with the teacher\'s camera only' });
  assert.deepEqual(await cameras(teacher), [adaId, graceId], 'the teacher still sees both');

  // A student joining now is never offered the others' cameras, and hers reaches only the teacher.
  const { page: bea } = await openLesson(env, browser, { room, name: 'Bea' });
  const beaId = await inLesson(bea, 'Bea in');
  await waitFor(async () => same(await cameras(teacher), [adaId, graceId, beaId]), { what: 'the teacher gets Bea\'s camera' });
  await waitFor(async () => same(await cameras(bea), [teacherId]), { what: 'Bea gets the teacher\'s camera' });
  // Bea's subscribe connection carries the other students' audio, never their video.
  const beaTracks = await bea.evaluate(() => window.lectern.tracks);
  assert.ok(beaTracks.some((t) => t.participantId === adaId && t.kind === 'audio'), 'Bea hears Ada');
  assert.ok(!beaTracks.some((t) => t.participantId !== teacherId && t.kind === 'video'), 'no student video offered to Bea');
  for (const p of [ada, grace]) assert.deepEqual(await cameras(p), [teacherId], 'Bea\'s camera did not reach the other students');

  // Back on: everyone sees everyone again.
  await setSeeEachOther(teacher, true);
  await waitFor(async () => same(await cameras(ada), [teacherId, graceId, beaId]), { what: 'Ada sees the other students again' });
}));
