// Raised hands: three students raise in order, the teacher sees that order (and, with the chime on,
// hears each new hand), one lowers their own, and the teacher lowers the rest at once.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'hands';
const env = new Env('classroom_hands');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

const queueNames = (page) => page.getByTestId('hand-queue').locator('[data-testid="hand"] .who').allTextContents();

test('the hand queue keeps raising order; lower own and lower all', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Mr Turing' });
  await inLesson(teacher, 'teacher in');
  const names = ['Ada', 'Grace', 'Linus'];
  const students = [];
  for (const name of names) {
    const { page } = await openLesson(env, browser, { room: ROOM, name });
    students.push(page);
  }
  for (const [i, page] of students.entries()) await inLesson(page, `${names[i]} in`);
  await openTab(teacher, 'people');

  // The chime is off for teachers until they turn it on; the choice is remembered.
  const chime = teacher.getByRole('switch', { name: 'Chime on raised hand' });
  assert.equal(await chime.isChecked(), false, 'teachers start with the chime off');
  await chime.focus();
  await teacher.keyboard.press('Space');
  assert.equal(await chime.isChecked(), true, 'the toggle works from the keyboard');
  assert.equal(await teacher.evaluate(() => localStorage.getItem('lectern.chime.teacher')), 'on');
  assert.equal((await classroomOf(teacher)).chimes, 0);

  for (const [i, page] of students.entries()) {
    await page.getByTestId('hand-toggle').click();
    await waitFor(async () => (await classroomOf(teacher)).hands.length === i + 1, { what: `${i + 1} hands at the teacher` });
    // The student's own page learns of the hand from its own update, which may come after the teacher's.
    await waitFor(async () => (await page.getByTestId('hand-toggle').getAttribute('aria-pressed')) === 'true',
      { what: `student ${i + 1}'s hand button pressed` });
  }
  assert.deepEqual((await classroomOf(teacher)).hands.map((h) => h.name), names);
  assert.deepEqual(await queueNames(teacher), names, 'the queue on screen is in raising order');
  await waitFor(async () => (await classroomOf(teacher)).chimes === names.length, { what: 'one chime per new hand' });

  // Grace lowers her own hand.
  await students[1].getByTestId('hand-toggle').click();
  await waitFor(async () => (await queueNames(teacher)).join() === 'Ada,Linus', { what: 'Grace gone from the queue' });
  await waitFor(() => students[1].evaluate(() => !window.lectern.classroom.handRaised), { what: 'Grace sees her hand down' });
  assert.equal((await classroomOf(teacher)).chimes, names.length, 'a lowered hand does not chime');
  await waitFor(async () => /raise hand/i.test(await students[1].getByTestId('hand-toggle').textContent()),
    { what: 'Grace offered to raise her hand again' });

  // The teacher lowers all.
  await teacher.getByTestId('lower-all-hands').click();
  await waitFor(async () => (await classroomOf(teacher)).hands.length === 0, { what: 'queue empty' });
  assert.equal(await teacher.getByTestId('hand').count(), 0);
  for (const page of [students[0], students[2]]) {
    await waitFor(() => page.evaluate(() => !window.lectern.classroom.handRaised), { what: 'hand lowered at the student' });
    await waitFor(async () => (await page.getByTestId('hand-toggle').getAttribute('aria-pressed')) === 'false',
      { what: 'hand button released at the student' });
  }
}));
