// Screen sharing: a student shares (a third, sendonly video transceiver named by `screenMid`), the
// teacher receives it marked as a screen and shows it large; the teacher stops it and the student's
// page lets go of the capture.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, inboundStats, joinUrl, openLesson, openTab, waitFor } from './harness.mjs';

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

test('a student who clicks Share screen before their camera is sent still shares their screen', { timeout: 120000 }, () => env.diagnose(async () => {
  const room = 'screen-early';
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room, role: 'teacher', name: 'Mr Hamming' });
  await inLesson(teacher, 'teacher in');
  // Grace's page never sees the room's first frame decoded (its stats hide it), so her camera's
  // connection waits the longest the app allows (app.js ROOM_FIRST_MAX_MS): the click comes first.
  const page = await env.newPage(browser, 'Grace');
  await page.addInitScript(() => {
    const native = RTCPeerConnection.prototype.getStats;
    RTCPeerConnection.prototype.getStats = async function getStats(...args) {
      const stats = await native.apply(this, args);
      const out = new Map();
      stats.forEach((s, id) => out.set(id, s.type === 'inbound-rtp' ? { ...s, framesDecoded: 0 } : s));
      return out;
    };
  });
  await page.goto(joinUrl(env.baseUrl, room, env.mintToken({ room, role: 'student', name: 'Grace' })));
  const graceId = await inLesson(page, 'Grace in');
  assert.equal(await page.evaluate(() => window.lectern.publishPc), null, 'no publish connection yet when she clicks');

  await page.getByTestId('share-screen').click();
  await waitFor(async () => (await classroomOf(teacher)).screenSharer === graceId, { what: 'Grace is the sharer' });
  const screenMid = await waitFor(() => teacher.evaluate(() => window.lectern.tracks.find((t) => t.screen)?.mid),
    { what: 'a track marked screen at the teacher' });
  await waitFor(async () => (await inboundStats(teacher)).find((s) => s.mid === screenMid && s.framesDecoded > 10),
    { what: 'Grace\'s screen frames decoded at the teacher' });
  assert.equal(await page.getByTestId('share-screen').getAttribute('aria-pressed'), 'true');
  const refused = await page.locator('#toasts').textContent();
  assert.doesNotMatch(refused, /cannot be shared/, 'no refusal shown');
}));
