// The teacher's people list shows each participant's connection as the hub's allocation sees it
// (issue 16: `GET /api/rooms/{room}/stats`, hub/assets/linkstats.js): the level and the estimate,
// and "audio only (own choice)" once a student switches its toggle on, back when it is off.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { describeLink } from '../../hub/assets/linkstats.js';
import { Env, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'linkstats';
const env = new Env('quality_teacher');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('a stats entry reads as one phrase, and nothing is said before the first allocation', () => {
  assert.deepEqual(describeLink({ level: 'good', estimateKbps: 2104.4, audioOnly: false, paused: 0, lossPct: 0 }),
    { level: 'good', text: 'connection good, about 2104 kbit/s' });
  assert.deepEqual(describeLink({ level: 'reduced', estimateKbps: 480, audioOnly: false, paused: 1, lossPct: 2.6 }),
    { level: 'reduced', text: 'connection reduced, about 480 kbit/s, 1 video paused, 3 % lost' });
  assert.equal(describeLink({ level: 'audioOnly', estimateKbps: null, audioOnly: false }).text, 'video paused: slow connection');
  assert.equal(describeLink({ level: 'audioOnly', estimateKbps: 300, audioOnly: true }).text, 'audio only (own choice), about 300 kbit/s');
  assert.equal(describeLink({ level: null, estimateKbps: null, audioOnly: false }), null);
  assert.equal(describeLink({ level: 'constructor' }), null, 'an unknown level says nothing');
});

test("the teacher's people list shows each student's connection, and a student's own audio-only choice", { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher, token: teacherToken } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Curie' });
  await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  const adaId = await inLesson(ada, 'Ada in');
  await openTab(teacher, 'people');
  const row = teacher.locator(`[data-testid="person"][data-participant-id="${adaId}"]`);
  const link = row.getByTestId('person-link');

  // Ada receives the teacher's camera: the hub allocates for her and the teacher sees it.
  await waitFor(async () => (await link.count()) === 1 && /^connection (good|reduced), about \d+ kbit\/s/.test(await link.textContent()),
    { what: "Ada's connection in the teacher's list", timeoutMs: 30000 });
  assert.ok(['good', 'reduced'].includes(await link.getAttribute('data-level')));
  // What the list says is what the stats endpoint says.
  const res = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/stats`, { headers: { Authorization: `Bearer ${teacherToken}` } });
  assert.equal(res.status, 200);
  const entry = (await res.json()).participants.find((p) => p.participantId === adaId);
  assert.ok(['good', 'reduced'].includes(entry.level) && entry.audioOnly === false, JSON.stringify(entry));

  await ada.getByRole('button', { name: 'My connection is poor: audio only' }).click();
  await waitFor(async () => /^audio only \(own choice\)/.test(await link.textContent()) && (await link.getAttribute('data-level')) === 'chosen',
    { what: "Ada's audio-only choice in the teacher's list", timeoutMs: 15000 });
  await ada.getByRole('button', { name: /Audio only: on/ }).click();
  await waitFor(async () => /^connection (good|reduced)/.test(await link.textContent()),
    { what: "Ada's video back in the teacher's list", timeoutMs: 15000 });

  // Not for students: their list says nothing of anyone's connection.
  await openTab(ada, 'people');
  assert.equal(await ada.getByTestId('person-link').count(), 0);
}));
