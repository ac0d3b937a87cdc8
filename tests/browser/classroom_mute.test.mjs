// "Mute all students" stops their audio AT THE HUB, not just on their pages: the teacher's receiver
// for each student's microphone stops counting packets. (A browser with a disabled track still sends
// silence, so only the hub no longer forwarding makes the count stand still.)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inLesson, inboundStats, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'mute';
const env = new Env('classroom_mute');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

/** packetsReceived of the teacher's audio receiver for each participant id. */
async function audioPackets(page, ids) {
  const stats = await inboundStats(page);
  const out = {};
  for (const id of ids) {
    const s = stats.find((x) => x.kind === 'audio' && x.participantId === id);
    out[id] = s ? s.packetsReceived : null;
  }
  return out;
}

/** Resolves with the counts once every student's count moved by ≥ `min` since `from`. */
function allGrow(page, ids, from, min, what) {
  return waitFor(async () => {
    const now = await audioPackets(page, ids);
    return ids.every((id) => now[id] != null && now[id] - from[id] >= min) ? now : null;
  }, { what, timeoutMs: 20000, intervalMs: 200 });
}

test('mute all stops forwarding every student\'s audio', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Curie' });
  await inLesson(teacher, 'teacher in');
  const students = [];
  for (const name of ['Ada', 'Grace']) students.push((await openLesson(env, browser, { room: ROOM, name })).page);
  const ids = [];
  for (const page of students) ids.push(await inLesson(page, 'student in'));

  // Before: the teacher receives each student's microphone and the counts keep rising.
  const zero = Object.fromEntries(ids.map((id) => [id, 0]));
  const first = await allGrow(teacher, ids, zero, 1, 'teacher receiving audio from both students');
  await allGrow(teacher, ids, first, 25, 'audio packet counts rising before muting (≥ 25 more each)');

  await openTab(teacher, 'people');
  await teacher.getByTestId('mute-all').click();

  // The students' pages agree: mic toggled off, and they are told why.
  for (const page of students) {
    await waitFor(async () => (await page.locator('#mic').getAttribute('aria-pressed')) === 'false', { what: 'mic toggle off' });
    await page.getByText('The teacher muted you.').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => window.lectern.publishPc.getSenders().find((s) => s.track && s.track.kind === 'audio').track.enabled), false);
  }
  // The teacher's list shows them muted (trackMuted from the hub).
  for (const id of ids) {
    await waitFor(async () => /mic off/.test(await teacher.locator(`[data-testid="person"][data-participant-id="${id}"]`).textContent()),
      { what: `participant ${id} shown with mic off` });
  }

  // After: let packets already in flight land (the count stops moving), then watch it stay flat.
  let settled = await audioPackets(teacher, ids);
  await waitFor(async () => {
    const now = await audioPackets(teacher, ids);
    const still = ids.every((id) => now[id] === settled[id]);
    settled = now;
    return still;
  }, { what: 'audio packet counts to stop rising after mute all', timeoutMs: 10000, intervalMs: 700 });
  // An observation window for something that must NOT happen (packets arriving), not a wait.
  await teacher.waitForTimeout(2000);
  const later = await audioPackets(teacher, ids);
  for (const id of ids) {
    assert.equal(later[id], settled[id], `no audio from participant ${id} reaches the teacher after mute all (${settled[id]} → ${later[id]})`);
  }

  // A student unmutes again (the policy allows it): audio flows again.
  await students[0].locator('#mic').click();
  await allGrow(teacher, [ids[0]], later, 25, 'Ada\'s audio flowing again after she unmutes');
}));
