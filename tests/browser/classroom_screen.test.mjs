// Screen sharing: a student shares (a third, sendonly video transceiver named by `screenMid`), the
// teacher receives it marked as a screen and shows it large; the teacher stops it and the student's
// page lets go of the capture.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, inboundStats, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'screen';
const env = new Env('classroom_screen');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('a student shares a screen and the teacher stops it', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Goldberg' });
  await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  const adaId = await inLesson(ada, 'Ada in');

  await ada.getByTestId('share-screen').click();
  await waitFor(async () => (await classroomOf(teacher)).screenSharer === adaId, { what: 'Ada is the sharer' });
  const screenMid = await waitFor(() => teacher.evaluate(() => window.lectern.tracks.find((t) => t.screen)?.mid),
    { what: 'a track marked screen at the teacher' });
  await waitFor(async () => (await inboundStats(teacher)).find((s) => s.mid === screenMid && s.framesDecoded > 10),
    { what: 'screen frames decoded at the teacher' });
  assert.equal(await teacher.getByTestId('screen').isVisible(), true, 'shown large');
  assert.match(await teacher.locator('#screen-caption').textContent(), /Ada's screen/);
  assert.equal(await teacher.getByTestId('share-screen').isDisabled(), true, 'one share at a time');
  assert.equal(await ada.getByTestId('share-screen').getAttribute('aria-pressed'), 'true');

  await openTab(teacher, 'people');
  await teacher.locator(`[data-testid="person"][data-participant-id="${adaId}"]`).getByTestId('person-stop-share').click();
  await waitFor(() => teacher.evaluate(() => !window.lectern.tracks.some((t) => t.screen)), { what: 'screen track gone at the teacher' });
  assert.equal(await teacher.getByTestId('screen').isVisible(), false);
  await waitFor(async () => (await ada.getByTestId('share-screen').getAttribute('aria-pressed')) === 'false', { what: 'Ada\'s button back to Share' });
  await waitFor(() => ada.evaluate(() => {
    const screen = window.lectern.publishPc.getTransceivers()[2];
    return screen && screen.sender.track === null && screen.currentDirection === 'inactive';
  }), { what: 'Ada\'s screen sender stopped and inactive' });
}));
