// A lesson from the timetable runs the room by itself: an idle classroom box goes live when the
// scheduled lesson starts, without anyone pressing anything; the lesson's student link (a guest
// link, admitted by the teacher from the teacher link) shows the room; when the lesson ends the
// box stops publishing and closes its camera. Lessons are set to the minute, so the lesson starts
// at the next minute boundary and lasts two minutes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, inboundStats, openTab, waitFor } from './harness.mjs';

const ROOM = 'lab-301';
const USER = 'ada';
const PASSWORD = 'a long admin password';

const env = new Env('admin-schedule');
let browser;
let admin;
let teacherToken;

before(() => env.diagnose(async () => {
  await env.startHub();
  browser = await env.launchBrowser();
  admin = await env.newPage(browser, 'admin');
  teacherToken = env.mintToken({ room: ROOM, role: 'teacher', name: 'Observer' });
}));
after(() => env.close());

/** The box's last report, through the teacher API. */
async function boxState() {
  const r = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/device`, { headers: { authorization: `Bearer ${teacherToken}` } });
  if (!r.ok) return null;
  const view = await r.json();
  return view.telemetry ? view.telemetry.state : null;
}

/** Local wall-clock "HH:MM" (of this machine, whose zone the form is given) `min` minutes from now. */
const hhmm = (d) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;

test('a scheduled lesson makes the idle box go live, the student link shows the room, and the end stops it',
  { timeout: 300000 }, () => env.diagnose(async () => {
    await env.setupAdmin(admin, { username: USER, password: PASSWORD });
    await env.addRoom(admin, { id: ROOM, name: 'Biology lab', capacity: 20 });

    // The box, configured as in a classroom, idles on its control channel.
    env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Lab 301 box' }), idle: true });
    await waitFor(async () => (await boxState()) === 'idle', { what: 'the box idle, waiting for a lesson', timeoutMs: 60000 });

    // A lesson from the next minute for two minutes; near midnight, wait for the new day (lessons end the day they start).
    let now = new Date();
    if (now.getHours() === 23 && now.getMinutes() >= 56) {
      await waitFor(() => new Date().getHours() === 0, { what: 'midnight to pass', timeoutMs: 300000, intervalMs: 1000 });
      now = new Date();
    }
    const start = new Date(now.getTime() + 60000);
    start.setSeconds(0, 0);
    const end = new Date(start.getTime() + 120000);
    const weekday = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][start.getDay()];
    await admin.locator('#slot-room').selectOption(ROOM);
    await admin.locator('#slot-weekday').selectOption(weekday);
    await admin.locator('#slot-start').fill(hhmm(start));
    await admin.locator('#slot-end').fill(hhmm(end));
    // The wall-clock times above are this machine's: its zone, named.
    await admin.locator('#slot-zone').fill(Intl.DateTimeFormat().resolvedOptions().timeZone);
    await admin.locator('#slot-title').fill('Cells');
    await admin.locator('#slot-teacher').fill('Ms Franklin');
    await admin.getByRole('button', { name: 'Add slot' }).click();
    await admin.locator('#slot-saved').waitFor({ state: 'visible' });
    await admin.getByRole('button', { name: /^Links for Cells/ }).click();
    await waitFor(async () => (await admin.locator('#link-student').inputValue()) !== '',
      { what: 'the lesson links filled in' });
    const teacherLink = await admin.locator('#link-teacher').inputValue();
    const studentLink = await admin.locator('#link-student').inputValue();
    assert.equal(await boxState(), 'idle', 'nothing goes live before the lesson');

    // The lesson's links work from 15 minutes before: the teacher is in, the student waits and is admitted.
    const teacher = await env.newPage(browser, 'teacher');
    await teacher.goto(teacherLink);
    await inLesson(teacher, 'teacher in the lesson');
    const student = await env.newPage(browser, 'student');
    await student.goto(studentLink);
    await student.getByTestId('guest-name').fill('Rosalind');
    await student.getByTestId('guest-join').click();
    await openTab(teacher, 'people');
    const entry = teacher.getByTestId('lobby-entry').filter({ hasText: 'Rosalind' });
    await entry.waitFor({ state: 'visible', timeout: 30000 });
    await entry.getByTestId('admit').click();
    await inLesson(student, 'student admitted');

    // At the start the scheduler sends the box live by itself.
    await waitFor(async () => (await boxState()) === 'live',
      { what: 'the box live at the lesson start', timeoutMs: 120000, intervalMs: 500 });
    assert.ok(Date.now() >= start.getTime() - 1000, 'the box went live at the start, not before');
    const fromDevice = (stats) => stats.find((s) => s.role === 'device' && s.kind === 'video');
    await waitFor(async () => (fromDevice(await inboundStats(student))?.framesDecoded ?? 0) > 30,
      { what: 'the student decoding the room camera', timeoutMs: 60000 });

    // At the end it stops: idle again, camera closed.
    await waitFor(async () => (await boxState()) === 'idle',
      { what: 'the box idle after the lesson end', timeoutMs: 150000, intervalMs: 1000 });
    assert.ok(Date.now() >= end.getTime() - 1000, 'the box stopped at the end, not before');
    const classroom = await classroomOf(teacher);
    assert.ok(classroom, 'the teacher page still has the lesson state');
  }));
