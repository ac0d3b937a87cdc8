// The hub recorder (issue 21, item 4): a lesson without a box, a teacher and a student in headless
// Chromium (fake devices: a moving picture and a beeping tone), `[recording] students = "always"`.
// The lesson records from its start (policy `always`); the teacher stops it. Both files — the
// teacher's camera and the student's — are listed ready by the lessons API, downloaded through
// their signed links, and read back by GStreamer: a video codec and Opus, and audio that is not
// silence (both voices).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, waitFor } from './harness.mjs';

const ROOM = 'remote-class';
const env = new Env('recording_hub');

before(() => env.diagnose(() => env.startHub({ config: '[recording]\ndefault = "always"\nstudents = "always"\n' })));
after(() => env.close());

async function newestLesson(token) {
  const r = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/lessons`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  const lessons = await r.json();
  return lessons[0] || null;
}

async function recordings(token) {
  return (await newestLesson(token))?.recordings || [];
}

function gst(args) {
  const res = spawnSync(args[0], args.slice(1), { encoding: 'utf8', timeout: 60000 });
  assert.equal(res.status, 0, `${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

/** The loudest 200 ms of the file's decoded audio, in dB. */
function loudestDb(file) {
  const out = gst(['gst-launch-1.0', '-m', 'filesrc', `location=${file}`, '!', 'decodebin', '!', 'audioconvert', '!',
    'level', 'interval=200000000', 'post-messages=true', '!', 'fakesink']);
  const values = [...out.matchAll(/rms=\(GValueArray\)< (-?[\d.]+|-inf)/g)].map((m) => Number(m[1]));
  return Math.max(...values.filter(Number.isFinite));
}

test('a remote-only lesson records the teacher and the student into files that play with both voices', { timeout: 240000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const teacherToken = env.mintToken({ room: ROOM, role: 'teacher', name: 'Ms Hopper' });
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Hopper', token: teacherToken });
  await inLesson(teacher, 'teacher in the lesson', 60000);
  const { page: ada } = await openLesson(env, browser, { room: ROOM, role: 'student', name: 'Ada' });
  await inLesson(ada, 'Ada in the lesson', 60000);
  await teacher.getByTestId('recording-badge').waitFor({ state: 'visible' });

  // Both files are being written, and grow (at least a few seconds of camera and mic each).
  await waitFor(async () => {
    const files = await recordings(teacherToken);
    return files.length === 2 && files.every((f) => f.state === 'recording' && f.bytes > 150000);
  }, { what: 'two files recording, each past 150 kB', timeoutMs: 90000 });

  const toggle = teacher.getByTestId('recording-toggle');
  await waitFor(async () => (await toggle.textContent()).trim() === 'Stop recording', { what: 'the switch says stop' });
  await toggle.click();

  let files = [];
  await waitFor(async () => {
    files = await recordings(teacherToken);
    return files.length === 2 && files.every((f) => f.state === 'ready' && f.url);
  }, { what: 'both files ready', timeoutMs: 60000 });
  const byWho = Object.fromEntries(files.map((f) => [f.participant, f]));
  assert.equal(byWho['Ms Hopper']?.kind, 'camera', JSON.stringify(files));
  assert.equal(byWho.Ada?.kind, 'participant', JSON.stringify(files));

  for (const f of files) {
    assert.ok(f.durationMs >= 2000, `${f.participant}: ${f.durationMs} ms`);
    assert.ok(f.startedAt > 0, 'started at a wall-clock time');
    const r = await fetch(new URL(f.url, env.baseUrl));
    assert.equal(r.status, 200);
    const bytes = Buffer.from(await r.arrayBuffer());
    assert.equal(bytes.length, f.bytes);
    const ext = new URL(f.url, env.baseUrl).pathname.split('.').pop();
    const file = path.join(env.dataDir, `download-${f.participant.replace(/\W/g, '')}.${ext}`);
    writeFileSync(file, bytes);
    const info = gst(['gst-discoverer-1.0', file]);
    assert.match(info, /video #\d+: (H\.264|VP8)/, info);
    assert.match(info, /audio #\d+: Opus/, info);
    const m = info.match(/Duration: (\d+):(\d+):([\d.]+)/);
    const seconds = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
    assert.ok(Math.abs(seconds * 1000 - f.durationMs) <= 1000, `duration ${seconds} s vs ${f.durationMs} ms`);
    const db = loudestDb(file);
    assert.ok(db > -40, `${f.participant}'s voice is in the file (${db} dB)`);
  }

  // The lesson page plays both people's files together, on one timeline.
  const lesson = await newestLesson(teacherToken);
  const page = await env.newPage(browser, 'lesson-page');
  await page.goto(`${env.baseUrl}/lessons/${lesson.id}?token=${encodeURIComponent(teacherToken)}`);
  await page.getByTestId('play').waitFor();
  const tracks = page.locator('[data-track]');
  await waitFor(async () => (await tracks.count()) === 2, { what: 'a player per recorded person' });
  await page.getByTestId('play').click();
  const timeline = () => page.evaluate(() => [...document.querySelectorAll('[data-track]')].map((el) => ({
    track: el.dataset.track, t: Number(el.dataset.offset || 0) + el.currentTime, currentTime: el.currentTime,
  })));
  await waitFor(async () => (await timeline()).every((x) => x.currentTime > 1), { timeoutMs: 30000, what: 'both files playing' });
  const [a, b] = await timeline();
  assert.ok(Math.abs(a.t - b.t) < 0.5, `in sync: ${JSON.stringify([a, b])}`);
}));
