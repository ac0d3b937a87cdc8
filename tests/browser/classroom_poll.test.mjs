// Polls: the teacher asks, three students answer, the teacher's live results add up, and after
// "Close and share results" the students see the same numbers.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'poll';
const env = new Env('classroom_poll');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

const votes = (page) => page.getByTestId('poll-results').locator('[data-testid="poll-result"]')
  .evaluateAll((els) => els.map((el) => Number(el.dataset.votes)));

test('a poll answered by three students, closed and shared', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Mr Knuth' });
  await inLesson(teacher, 'teacher in');
  const students = [];
  for (const name of ['Ada', 'Grace', 'Linus']) students.push((await openLesson(env, browser, { room: ROOM, name })).page);
  for (const page of students) await inLesson(page, 'student in');

  await openTab(teacher, 'polls');
  await teacher.getByTestId('poll-question-input').fill('Which sorting algorithm is stable?');
  const options = teacher.getByTestId('poll-option-input');
  await options.nth(0).fill('Quicksort');
  await options.nth(1).fill('Merge sort');
  await teacher.getByTestId('poll-add-option').click();
  await options.nth(2).fill('Heapsort');
  await teacher.getByTestId('poll-start').click();

  const pollId = await waitFor(async () => (await classroomOf(teacher)).poll?.id, { what: 'poll open at the teacher' });
  const choices = [0, 1, 1];
  for (const [i, page] of students.entries()) {
    await waitFor(async () => (await classroomOf(page)).poll?.id === pollId, { what: `student ${i} got the poll` });
    await openTab(page, 'polls');
    await page.getByTestId('poll-option').nth(choices[i]).check();
    await page.getByTestId('poll-submit').click();
    await waitFor(async () => JSON.stringify((await classroomOf(page)).myAnswer) === JSON.stringify([choices[i]]),
      { what: `student ${i}'s answer recorded` });
    // Results are the teacher's until shared.
    assert.equal((await classroomOf(page)).pollResults, null);
  }

  await waitFor(async () => (await votes(teacher)).join() === '1,2,0', { what: 'teacher live results 1,2,0' });
  assert.equal((await classroomOf(teacher)).pollResults.respondents, 3);

  await teacher.getByTestId('poll-close-share').click();
  for (const page of students) {
    await waitFor(async () => (await votes(page)).join() === '1,2,0', { what: 'student sees shared results' });
    assert.equal((await classroomOf(page)).poll.open, false);
    assert.match(await page.getByTestId('poll-status').textContent(), /closed/i);
    assert.equal(await page.getByTestId('poll-answer').count(), 0, 'no answer form on a closed poll');
  }
  // The teacher can start the next poll.
  await teacher.getByTestId('poll-create').waitFor({ state: 'visible' });
}));
