// Breakout rooms (issue 22): a teacher deals six audio-only students into three groups. Each group
// hears only its own members (the hub's subscribe offers and the inbound audio bytes per remote
// participant, from getStats), the virtual classroom box stays in the main room with the teacher,
// a broadcast reaches every group, the teacher visits a group and comes back, a student moved by
// hand changes group on the same peer connections, and the timer's end (after the recall countdown)
// brings everyone back. A student's breakout command is refused by the hub.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inLesson, inboundStats, joinUrl, openTab, waitFor } from './harness.mjs';

const ROOM = 'breakout';
const env = new Env('breakout');
let statusUrl;

before(() => env.diagnose(async () => {
  await env.startHub();
  const box = env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' }) });
  const m = await box.waitForLine(/status endpoint listening.*?(\d+\.\d+\.\d+\.\d+:\d+)/, 30000);
  statusUrl = `http://${m[1]}/status`;
  await waitFor(async () => {
    const res = await fetch(statusUrl, { signal: AbortSignal.timeout(2000) });
    return res.ok && (await res.json()).state === 'live';
  }, { timeoutMs: 60000, what: 'the virtual box live' });
}));

after(() => env.close());

/** A participant whose browser sends audio only (two cores cannot encode seven cameras). */
async function openAudioOnly(browser, role, name) {
  const page = await env.newPage(browser, name);
  await page.addInitScript(() => {
    const md = navigator.mediaDevices;
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = (c) => original({ ...c, video: false });
  });
  await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role, name })));
  return page;
}

const sorted = (ids) => [...ids].sort((a, b) => a - b);
const same = (a, b) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

/** Whose audio the hub's last subscribe offer gives this page. */
const audioFrom = (page) => page.evaluate(() => window.lectern.tracks.filter((t) => t.kind === 'audio').map((t) => t.participantId));

/** Inbound audio bytes per remote participant (`null`: m-lines the hub names nobody for). */
async function audioBytes(page) {
  const by = new Map();
  for (const s of await inboundStats(page)) {
    if (s.kind !== 'audio') continue;
    by.set(s.participantId, (by.get(s.participantId) || 0) + s.bytesReceived);
  }
  return by;
}

/**
 * The page receives audio from exactly `expected`: the hub offers those tracks and no other, bytes
 * arrive from each of them, and none on any other receiver meanwhile.
 */
async function hearsOnly(page, expected, what) {
  await waitFor(async () => same(await audioFrom(page), expected), { what: `${what}: offered the audio of ${sorted(expected)} (has ${await audioFrom(page).catch(() => '?')})` });
  // Packets forwarded before the move may still be on their way (a loaded machine delays them): wait
  // until nothing arrives from outside the space for a second. A hub still forwarding never gets there.
  const outside = (m) => [...m].filter(([id]) => !expected.includes(id)).reduce((sum, [, b]) => sum + b, 0);
  let last = { bytes: outside(await audioBytes(page)), at: Date.now() };
  await waitFor(async () => {
    const now = { bytes: outside(await audioBytes(page)), at: Date.now() };
    if (now.bytes !== last.bytes) last = now;
    return now.at - last.at >= 1000;
  }, { intervalMs: 250, what: `${what}: no more audio from outside the space` });
  const first = await audioBytes(page);
  await waitFor(async () => {
    const now = await audioBytes(page);
    return expected.every((id) => (now.get(id) || 0) > (first.get(id) || 0) + 500);
  }, { what: `${what}: audio bytes arriving from each of ${sorted(expected)}` });
  const second = await audioBytes(page);
  for (const [id, bytes] of second) {
    if (expected.includes(id)) continue;
    assert.equal(bytes, first.get(id) || 0, `${what}: no audio from participant ${id} (outside the space)`);
  }
}

const view = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.lectern.classroom.breakouts)));
const space = (page) => page.evaluate(() => window.lectern.classroom.space?.group ?? null);

test('six students in three groups hear only their group; broadcast, visit, a move by hand and the timer\'s recall work; the box stays in the main room', { timeout: 480000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const teacher = await openAudioOnly(browser, 'teacher', 'Ms Hopper');
  const teacherId = await inLesson(teacher, 'teacher in');
  const names = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Frances'];
  const students = [];
  for (const name of names) students.push({ name, page: await openAudioOnly(browser, 'student', name) });
  for (const s of students) s.id = await inLesson(s.page, `${s.name} in`, 60000);
  const boxId = await waitFor(() => teacher.evaluate(() => Object.values(window.lectern.participants).find((p) => p.role === 'device')?.id),
    { what: 'the classroom box in the room' });
  const ids = students.map((s) => s.id);
  // Before the groups: everyone hears everyone (the box too).
  for (const s of students) {
    await waitFor(async () => same(await audioFrom(s.page), [teacherId, boxId, ...ids.filter((i) => i !== s.id)]),
      { timeoutMs: 120000, what: `${s.name} offered everyone's audio` });
  }

  // A student cannot create groups: the hub refuses it.
  await students[0].page.evaluate(() => window.lectern.boards.send({ type: 'createBreakouts', groups: 2 }));
  await waitFor(() => students[0].page.locator('#toasts').getByText('only a teacher can run breakout groups').isVisible(),
    { what: 'the refusal shown to the student' });
  assert.equal(await view(teacher), null, 'no round was created');

  // The teacher deals the students at random into three groups: a 90 s timer (room for the checks on a loaded machine), a 5 s recall countdown.
  await openTab(teacher, 'breakouts');
  await teacher.getByLabel('Number of groups').fill('3');
  await teacher.getByLabel('Put students in groups').selectOption('random');
  await teacher.getByLabel('Timer (minutes)').fill('1.5');
  await teacher.getByLabel('Recall countdown (seconds)').fill('5');
  await teacher.getByTestId('breakout-create-submit').click();
  for (const s of students) {
    await waitFor(async () => (await view(s.page))?.assigned != null, { what: `${s.name} told their group` });
  }
  assert.equal(await space(students[0].page), null, 'planned, not moved');
  // The same peer connections all along: marked now, checked at the end.
  for (const p of [teacher, ...students.map((s) => s.page)]) {
    await p.evaluate(() => { window.lectern.subscribePc.breakoutMark = true; window.lectern.publishPc.breakoutMark = true; });
  }

  const startedAt = Date.now();
  await teacher.getByTestId('breakout-start').click();
  for (const s of students) {
    await waitFor(async () => (await space(s.page)) != null, { what: `${s.name} in a group` });
  }
  const groupOf = new Map();
  for (const g of (await view(teacher)).groups) for (const id of g.members) groupOf.set(id, g.id);
  assert.deepEqual([...new Set(groupOf.values())].sort(), [1, 2, 3], 'three groups used');
  for (const g of [1, 2, 3]) assert.equal([...groupOf.values()].filter((x) => x === g).length, 2, `two in group ${g}`);
  const mates = (id) => ids.filter((i) => i !== id && groupOf.get(i) === groupOf.get(id));

  for (const s of students) {
    await waitFor(async () => same(await audioFrom(s.page), mates(s.id)), { what: `${s.name} offered only group ${groupOf.get(s.id)}` });
  }
  // How long the hub took to re-route six students (their subscribe connections renegotiated).
  console.log('breakout-start-to-all-regrouped-ms', Date.now() - startedAt);
  for (const s of students) await hearsOnly(s.page, mates(s.id), `${s.name} in group ${groupOf.get(s.id)}`);
  // The teacher stays in the main room with the classroom box.
  await hearsOnly(teacher, [boxId], 'the teacher in the main room');
  assert.equal((await view(teacher)).classroom, null, 'the box was not sent anywhere');
  const status = await (await fetch(statusUrl, { signal: AbortSignal.timeout(2000) })).json();
  assert.equal(status.state, 'live', 'the box is still on air');

  // A message to all groups.
  await teacher.getByLabel('Message to all groups').fill('Five minutes left');
  await teacher.getByTestId('breakout-broadcast-send').click();
  for (const s of students) {
    await waitFor(() => s.page.evaluate(() => window.lectern.classroom.broadcasts.some((b) => b.text === 'Five minutes left')),
      { what: `${s.name} got the broadcast` });
    const shown = await s.page.getByTestId('breakout-broadcasts').textContent();
    assert.match(shown, /Five minutes left/);
  }

  // The teacher visits group 1: hears its members, they hear the teacher; then comes back.
  const group1 = students.filter((s) => groupOf.get(s.id) === 1);
  await teacher.getByTestId('breakout-visit-1').click();
  await hearsOnly(teacher, group1.map((s) => s.id), 'the teacher visiting group 1');
  for (const s of group1) await hearsOnly(s.page, [...mates(s.id), teacherId], `${s.name} visited by the teacher`);
  await teacher.getByTestId('breakout-return').click();
  await hearsOnly(teacher, [boxId], 'the teacher back in the main room');
  for (const s of group1) await hearsOnly(s.page, mates(s.id), `${s.name} after the visit`);

  // A student moved by hand from group 1 to group 2.
  const moved = group1[0];
  await teacher.getByTestId(`breakout-move-${moved.id}`).selectOption('2');
  await waitFor(async () => (await space(moved.page)) === 2, { what: `${moved.name} in group 2` });
  groupOf.set(moved.id, 2);
  await hearsOnly(moved.page, mates(moved.id), `${moved.name} in group 2`);
  for (const s of students.filter((x) => groupOf.get(x.id) === 2)) await hearsOnly(s.page, mates(s.id), `${s.name} in group 2 with ${moved.name}`);

  // The timer ends: a countdown, then everyone is back in the main room.
  const left = (await view(teacher)).remainingMs;
  console.log('breakout-checks-done-with-ms-left', left);
  await waitFor(async () => (await view(students[1].page))?.phase === 'recalling', { timeoutMs: 120000, what: 'the recall countdown' });
  assert.match(await students[1].page.getByTestId('breakout-recall').textContent(), /Back to the main room in 0:0\d/);
  for (const s of students) {
    await waitFor(async () => (await view(s.page)) === null && (await space(s.page)) === null, { timeoutMs: 30000, what: `${s.name} back in the main room` });
  }
  for (const s of students) await hearsOnly(s.page, [teacherId, boxId, ...ids.filter((i) => i !== s.id)], `${s.name} back in the main room`);
  for (const p of [teacher, ...students.map((s) => s.page)]) {
    assert.ok(await p.evaluate(() => window.lectern.subscribePc.breakoutMark && window.lectern.publishPc.breakoutMark), 'no new peer connection');
  }
}));

test('students choose their group from the list; the teacher starts the groups and calls everyone back at once', { timeout: 240000 }, () => env.diagnose(async () => {
  const room = 'breakout-choose';
  const browser = await env.launchBrowser();
  const open = async (role, name) => {
    const page = await env.newPage(browser, name);
    await page.addInitScript(() => {
      const md = navigator.mediaDevices;
      const original = md.getUserMedia.bind(md);
      md.getUserMedia = (c) => original({ ...c, video: false });
    });
    await page.goto(joinUrl(env.baseUrl, room, env.mintToken({ room, role, name })));
    return page;
  };
  const teacher = await open('teacher', 'Mr Knuth');
  await inLesson(teacher, 'teacher in');
  const ada = await open('student', 'Ada');
  const grace = await open('student', 'Grace');
  const adaId = await inLesson(ada, 'Ada in');
  const graceId = await inLesson(grace, 'Grace in');

  await openTab(teacher, 'breakouts');
  await teacher.getByLabel('Number of groups').fill('2');
  await teacher.getByLabel('Put students in groups').selectOption('choose');
  await teacher.getByLabel('Timer (minutes)').fill('0');
  await teacher.getByTestId('breakout-create-submit').click();
  // Each student picks from the list in their Groups tab.
  for (const [page, group] of [[ada, 2], [grace, 1]]) {
    await openTab(page, 'breakouts');
    const choice = page.getByTestId(`breakout-choose-${group}`);
    await choice.click();
    await waitFor(async () => (await choice.getAttribute('aria-pressed')) === 'true', { what: `group ${group} chosen` });
  }
  const planned = await view(teacher);
  assert.deepEqual(planned.groups.map((g) => g.members), [[graceId], [adaId]]);
  await teacher.getByTestId('breakout-start').click();
  await waitFor(async () => (await space(ada)) === 2 && (await space(grace)) === 1, { what: 'both in the group they chose' });
  assert.match(await ada.getByTestId('breakout-status').textContent(), /You are in Group 2/);
  await hearsOnly(ada, [], 'Ada alone in group 2');
  assert.equal(await ada.getByTestId('breakout-timer').isVisible(), false, 'no timer was set');
  // A message in group 2's chat stays there.
  await openTab(ada, 'chat');
  await ada.getByTestId('chat-input').fill('anyone here?');
  await ada.getByTestId('chat-send').click();
  await waitFor(() => ada.evaluate(() => window.lectern.classroom.chat.some((m) => m.text === 'anyone here?')), { what: 'Ada sees her message' });

  await teacher.getByTestId('breakout-recall-now').click();
  await waitFor(async () => (await space(ada)) === null && (await space(grace)) === null, { what: 'both back' });
  await hearsOnly(grace, [adaId, await teacher.evaluate(() => window.lectern.self.participantId)], 'Grace back in the main room');
  assert.ok(!(await grace.evaluate(() => window.lectern.classroom.chat.some((m) => m.text === 'anyone here?'))), 'group 2\'s chat did not follow to the main room');

  // Kept with the lesson: the teacher's export lists both groups, group 2 with its chat.
  const token = env.mintToken({ room, role: 'teacher', name: 'Mr Knuth' });
  const kept = await waitFor(async () => {
    const res = await fetch(`${env.baseUrl}/api/rooms/${room}/breakouts.json`, { headers: { authorization: `Bearer ${token}` } });
    const rows = res.ok ? await res.json() : [];
    return rows.length === 2 ? rows : null;
  }, { what: 'the kept groups exported' });
  assert.deepEqual(kept.map((g) => [g.round, g.group, g.name]), [[1, 1, 'Group 1'], [1, 2, 'Group 2']]);
  assert.deepEqual(kept[1].chat.map((m) => m.text), ['anyone here?']);
  const student = await fetch(`${env.baseUrl}/api/rooms/${room}/breakouts.json`, { headers: { authorization: `Bearer ${env.mintToken({ room, role: 'student', name: 'Ada' })}` } });
  assert.equal(student.status, 403, 'students cannot export');
}));
