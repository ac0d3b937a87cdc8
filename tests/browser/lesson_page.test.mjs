// The lesson page (issue 21): a virtual box with a laptop picture records a short lesson (camera
// and slides, policy `always`) while a teacher and a student chat (once privately) and answer a
// poll; the lesson ends and the box uploads its files. From the room's list of lessons the teacher
// opens the lesson page: both videos play on one timeline (within 0.5 s of each other), seeking
// the slides moves the camera, a chat timestamp seeks both, attendance and the poll are shown.
// The teacher shares the page: the student's link plays too and hides the private message and
// the attendance. An admin opens the page from the web admin's Recordings page.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'lesson-page';
const env = new Env('lesson_page');
let recordings;

before(() => env.diagnose(async () => {
  await env.startHub({ config: '[recording]\ndefault = "always"\n' });
  // The box's recording settings: a drop-in of its own config dir (where startAppliance points it).
  recordings = path.join(env.dataDir, 'box-recordings');
  const stateDir = path.join(env.dataDir, `appliance${env.appliances.length}`);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(path.join(stateDir, 'appliance.toml'),
    `[recording]\ndir = "${recordings}"\nfragment_minutes = 1\nmin_free_mb = 0\nupload_kbps = 0\n`);
  const token = env.mintToken({ room: ROOM, role: 'device', name: 'Room 7' });
  env.startAppliance({ room: ROOM, token, args: ['--content', 'virtual'] });
}));
after(() => env.close());

/** The box's files of the lesson so far. */
function boxFiles() {
  if (!existsSync(recordings)) return [];
  return readdirSync(recordings).flatMap((lesson) => readdirSync(path.join(recordings, lesson)));
}

async function say(page, text, to = '') {
  await openTab(page, 'chat');
  await page.getByTestId('chat-to').selectOption(to);
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-input').press('Enter');
}

/** Each track's element's place on the lesson's timeline (s): its file's offset plus its currentTime. */
function timeline(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-track]')].map((el) => [
    el.dataset.track, { t: Number(el.dataset.offset || 0) + el.currentTime, currentTime: el.currentTime, paused: el.paused },
  ])));
}

test('a recorded lesson plays camera and slides in sync with its chat, poll and attendance', { timeout: 300000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher, token: teacherToken } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Hopper' });
  const teacherId = await inLesson(teacher, 'teacher in', 40000);
  const { page: ada } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  await inLesson(ada, 'Ada in', 40000);
  await waitFor(() => boxFiles().some((f) => /-camera-000\.mp4$/.test(f)) && boxFiles().some((f) => /-slides-000\.mp4$/.test(f)),
    { timeoutMs: 60000, what: 'the box recording camera and slides' });

  await say(teacher, 'Welcome to the lesson');
  await say(ada, 'A question only for the teacher', String(teacherId));
  await openTab(teacher, 'polls');
  await teacher.getByTestId('poll-question-input').fill('Is a list sorted?');
  const options = teacher.getByTestId('poll-option-input');
  await options.nth(0).fill('Yes');
  await options.nth(1).fill('No');
  await teacher.getByTestId('poll-start').click();
  const pollId = await waitFor(async () => (await classroomOf(teacher)).poll?.id, { what: 'poll open' });
  await waitFor(async () => (await classroomOf(ada)).poll?.id === pollId, { what: 'Ada got the poll' });
  await openTab(ada, 'polls');
  await ada.getByTestId('poll-option').nth(1).check();
  await ada.getByTestId('poll-submit').click();
  await waitFor(async () => (await classroomOf(teacher)).pollResults?.respondents === 1, { what: 'Ada answered' });
  await teacher.getByTestId('poll-close-share').click();
  await say(ada, 'Thank you');
  // The teacher's Room panel links the room's recorded lessons (this one is on now).
  await openTab(teacher, 'room');
  const [list] = await Promise.all([teacher.waitForEvent('popup'), teacher.getByTestId('recorded-lessons').click()]);
  await list.getByTestId('lessons').locator('tbody tr').filter({ hasText: 'on now' }).waitFor();
  await list.close();
  // A few more seconds recorded after the last message, so every timestamp lies inside the files.
  const until = Date.now() + 4000;
  await waitFor(() => Date.now() >= until, { what: 'a few seconds more of lesson' });
  const ended = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/end`, { method: 'POST', headers: { Authorization: `Bearer ${teacherToken}` } });
  assert.equal(ended.status, 202);

  const lessonsUrl = `${env.baseUrl}/api/rooms/${ROOM}/lessons`;
  const lesson = await waitFor(async () => {
    const r = await fetch(lessonsUrl, { headers: { Authorization: `Bearer ${teacherToken}` } });
    const [l] = await r.json();
    const ready = (kind) => l?.recordings.some((f) => f.kind === kind && f.state === 'ready' && f.startedAt);
    return l && l.endedAt && ready('camera') && ready('slides') ? l : null;
  }, { timeoutMs: 120000, what: 'camera and slides uploaded, with where they start' });

  // The room's list links the lesson page.
  const page = await env.newPage(browser, 'lesson-page');
  await page.goto(`${env.baseUrl}/rooms/${ROOM}/lessons?token=${encodeURIComponent(teacherToken)}`);
  const row = page.getByTestId('lessons').locator('tbody tr').first();
  await row.waitFor();
  assert.match(await row.textContent(), /Ms Hopper/);
  assert.doesNotMatch(page.url(), /token=/, 'the token leaves the address bar');
  await row.getByRole('link', { name: /Open the lesson/ }).click();
  await page.waitForURL(new RegExp(`/lessons/${lesson.id.replace('.', '\\.')}`));
  await page.getByTestId('play').waitFor();
  assert.equal(await page.locator('video[data-track="camera"]').count(), 1);
  assert.equal(await page.locator('video[data-track="slides"]').count(), 1);

  // Attendance, the poll, the transcript (the private message marked), downloads.
  const attendance = page.getByTestId('attendance');
  await attendance.getByText('Ada').waitFor();
  await attendance.getByText('Ms Hopper').waitFor();
  await page.getByTestId('poll').filter({ hasText: 'Is a list sorted?' }).filter({ hasText: 'No: 1 vote' }).waitFor();
  const chat = page.getByTestId('chat-message');
  await chat.filter({ hasText: 'A question only for the teacher' }).filter({ hasText: '(private)' }).waitFor();
  assert.equal(await page.getByTestId('files').locator('a').count(), lesson.recordings.length);

  // Playing: both advance, on one timeline.
  await page.getByTestId('play').click();
  await waitFor(async () => {
    const t = await timeline(page);
    return t.camera.currentTime > 1.5 && t.slides.currentTime > 1.5;
  }, { timeoutMs: 30000, what: 'camera and slides playing' });
  for (let i = 0; i < 5; i += 1) {
    const t = await timeline(page);
    assert.ok(Math.abs(t.camera.t - t.slides.t) < 0.5, `in sync: camera ${t.camera.t}, slides ${t.slides.t}`);
    await page.waitForTimeout(300); // spacing the samples, not waiting for a condition
  }

  // Seeking the slides (as its own controls do) moves the camera.
  await page.getByTestId('play').click();
  await waitFor(async () => Object.values(await timeline(page)).every((x) => x.paused), { what: 'paused' });
  // The files start where the box began recording, some seconds into the lesson: 1 s into both.
  const target = await page.evaluate(() => {
    const [camera, slides] = ['camera', 'slides'].map((k) => document.querySelector(`video[data-track="${k}"]`));
    const to = Math.max(Number(camera.dataset.offset), Number(slides.dataset.offset)) + 1.0;
    slides.currentTime = to - Number(slides.dataset.offset);
    return to;
  });
  let last;
  await waitFor(async () => {
    last = await timeline(page);
    return Math.abs(last.camera.t - target) < 0.5 && Math.abs(last.slides.t - target) < 0.5;
  }, { timeoutMs: 15000, what: `the camera follows the slides to ${target} s` }).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(last)}`);
  });

  // A chat timestamp seeks both to when it was said.
  const stamp = chat.filter({ hasText: 'Thank you' }).locator('button');
  const at = Number(await stamp.getAttribute('data-at')) / 1000;
  assert.ok(at > 1.5, `the message was said ${at} s in`);
  await stamp.click();
  await waitFor(async () => {
    const t = await timeline(page);
    return Math.abs(t.camera.t - at) < 0.5 && Math.abs(t.slides.t - at) < 0.5;
  }, { timeoutMs: 15000, what: `both at ${at} s` });

  // Shared with students: plays, without the private message or the attendance.
  await page.getByTestId('share').click();
  const link = await waitFor(async () => page.getByTestId('share-link').inputValue(), { what: 'a link' });
  assert.match(link, /\/lessons\/.+\?exp=\d+&sig=/);
  const student = await env.newPage(browser, 'student-link');
  await student.setViewportSize({ width: 360, height: 740 });
  await student.goto(link);
  await student.getByTestId('play').waitFor();
  await student.getByTestId('chat-message').filter({ hasText: 'Welcome to the lesson' }).waitFor();
  assert.equal(await student.getByText('A question only for the teacher').count(), 0, 'no private message');
  assert.equal(await student.getByTestId('attendance').isVisible(), false, 'no attendance');
  await student.getByTestId('poll').filter({ hasText: 'No: 1 vote' }).waitFor();
  await student.getByTestId('play').click();
  await waitFor(async () => (await timeline(student)).camera.currentTime > 1, { timeoutMs: 30000, what: 'the student\'s copy plays' });
  assert.ok(await student.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scroll at 360 px');
  if (process.env.LECTERN_SCREENSHOTS) {
    await page.screenshot({ path: path.join(process.env.LECTERN_SCREENSHOTS, 'lesson-page.png'), fullPage: true });
    await student.screenshot({ path: path.join(process.env.LECTERN_SCREENSHOTS, 'lesson-page-student-360.png'), fullPage: true });
  }

  // A forged link shows an error, not the lesson.
  const forged = await env.newPage(browser, 'forged-link');
  await forged.goto(link.replace(/sig=[^&]+/, 'sig=AAAA'));
  await forged.getByTestId('lesson-error').waitFor();
  assert.match(await forged.getByTestId('lesson-error').textContent(), /signature/);

  // An admin opens the page from the web admin's Recordings page: the whole lesson, private chat too.
  const admin = await env.newPage(browser, 'admin');
  await env.setupAdmin(admin, { username: 'grace', password: 'a long admin password' });
  await admin.goto(`${env.baseUrl}/admin/recordings`);
  const [popup] = await Promise.all([
    admin.waitForEvent('popup'),
    admin.getByRole('button', { name: `Open the lesson page of ${lesson.id}` }).click(),
  ]);
  await popup.getByTestId('chat-message').filter({ hasText: 'A question only for the teacher' }).waitFor({ timeout: 20000 });
  await popup.getByTestId('attendance').getByText('Ada').waitFor();
  assert.doesNotMatch(popup.url(), /token=/, 'the token leaves the address bar');
}));
