// Attendance: a student who leaves and comes back has two presence intervals, one who leaves for good
// has a closed one. Fetched as CSV and JSON with the teacher's token, and through the teacher's
// Download button.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'attendance';
const env = new Env('classroom_attendance');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

/** RFC 4180-ish: quoted fields, doubled quotes, CRLF or LF. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows.filter((r) => r.some((f) => f !== ''));
}

function byName(csv) {
  const [header, ...rows] = parseCsv(csv);
  return { header, rows: Object.fromEntries(rows.map((r) => [r[header.indexOf('name')], Object.fromEntries(header.map((h, i) => [h, r[i]]))])) };
}

async function report(file, token) {
  const res = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/${file}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${file}: ${res.status} ${await res.clone().text()}`);
  return res;
}

test('attendance counts a rejoin as a second interval', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page: teacher, token: teacherToken } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Noether' });
  await inLesson(teacher, 'teacher in');
  const { page: ada, token: adaToken } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  const { page: grace } = await openLesson(env, browser, { room: ROOM, name: 'Grace' });
  await inLesson(ada, 'Ada in');
  await inLesson(grace, 'Grace in');

  // Ada leaves and rejoins with the same link; Grace leaves for good.
  await ada.getByRole('button', { name: 'Leave' }).click();
  await grace.getByRole('button', { name: 'Leave' }).click();
  await waitFor(async () => (await teacher.getByTestId('person').count()) === 1, { what: 'both gone from the teacher\'s list' });
  await ada.getByRole('button', { name: 'Rejoin' }).click();
  await inLesson(ada, 'Ada back');

  // Without a token, or with a student's: refused.
  assert.equal((await fetch(`${env.baseUrl}/api/rooms/${ROOM}/attendance.csv`)).status, 401);
  assert.equal((await fetch(`${env.baseUrl}/api/rooms/${ROOM}/attendance.csv`, { headers: { Authorization: `Bearer ${adaToken}` } })).status, 403);

  const res = await report('attendance.csv', teacherToken);
  assert.match(res.headers.get('content-type') || '', /text\/csv/);
  const { header, rows } = byName(await res.text());
  for (const col of ['name', 'role', 'joined_at', 'left_at', 'intervals']) assert.ok(header.includes(col), `column ${col} in ${header}`);
  assert.deepEqual(Object.keys(rows).sort(), ['Ada', 'Grace', 'Ms Noether']);
  const intervals = (r) => r.intervals.split(';').map((s) => s.trim()).filter(Boolean);
  assert.equal(intervals(rows.Ada).length, 2, `Ada has two intervals: ${rows.Ada.intervals}`);
  assert.equal(rows.Ada.left_at, '', 'Ada is still present');
  assert.equal(intervals(rows.Grace).length, 1, `Grace has one interval: ${rows.Grace.intervals}`);
  assert.notEqual(rows.Grace.left_at, '', 'Grace left');
  assert.equal(rows['Ms Noether'].role, 'teacher');

  const json = await (await report('attendance.json', teacherToken)).json();
  const ada2 = json.people.find((p) => p.name === 'Ada');
  assert.equal(ada2.intervals.length, 2);
  assert.ok(ada2.intervals[0].leftAt != null && ada2.intervals[1].leftAt == null);
  assert.ok(ada2.intervals[1].joinedAt >= ada2.intervals[0].leftAt, 'the second interval starts after the first ended');

  // The teacher's button saves the same report.
  await openTab(teacher, 'room');
  const [download] = await Promise.all([
    teacher.waitForEvent('download', { timeout: 15000 }),
    teacher.getByTestId('download-attendance-csv').click(),
  ]);
  assert.equal(download.suggestedFilename(), `${ROOM}-attendance.csv`);
  const saved = byName(readFileSync(await download.path(), 'utf8'));
  assert.deepEqual(Object.keys(saved.rows).sort(), ['Ada', 'Grace', 'Ms Noether']);
}));
