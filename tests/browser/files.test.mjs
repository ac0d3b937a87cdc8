// Files in the chat (issue 22): the teacher shares a PDF through the chat and a student downloads
// the same bytes by its signed link; a student's upload is refused by the hub until the teacher
// allows students to share, then goes through the page; too big, wrong type and a renamed file are
// refused with a clear message in the page; a late joiner sees the earlier files; a file shared in a
// breakout group stays in the group.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { Env, inLesson, joinUrl, openTab, waitFor } from './harness.mjs';

const ROOM = 'files';
const env = new Env('files');

before(() => env.diagnose(() => env.startHub({ config: '[files]\nmax_mb = 1\nallow = ["pdf", "txt", "png"]\n' })));
after(() => env.close());

// A small real PDF (one empty page), and bytes that change in every run so nothing is cached.
const PDF = Buffer.from(`%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj
trailer << /Root 1 0 R >>
%% run ${Date.now()} ${Math.random()}
%%EOF
`);

/** A participant whose browser sends audio only (two cores, several browsers). */
async function join(browser, role, name) {
  const token = env.mintToken({ room: ROOM, role, name });
  const page = await env.newPage(browser, name);
  await page.addInitScript(() => {
    const md = navigator.mediaDevices;
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = (c) => original({ ...c, video: false });
  });
  await page.goto(joinUrl(env.baseUrl, ROOM, token));
  const id = await inLesson(page, `${name} in`, 60000);
  await openTab(page, 'chat');
  return { page, token, id, name };
}

const fileNames = (page) => page.getByTestId('chat-log').getByTestId('file-name').allTextContents();

async function share(p, name, buffer, mimeType = 'application/octet-stream') {
  await p.page.getByTestId('chat-file').setInputFiles({ name, mimeType, buffer });
}

async function statusOf(p, pattern, what) {
  await waitFor(async () => pattern.test(await p.page.getByTestId('file-status').textContent()), { what });
  return p.page.getByTestId('file-status').textContent();
}

test('files are shared in the chat, refused with clear messages, seen by late joiners and kept in their group', { timeout: 300000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const teacher = await join(browser, 'teacher', 'Ms Hopper');
  const ada = await join(browser, 'student', 'Ada');

  // The teacher shares a PDF through the chat; Ada sees the file message and downloads it.
  await share(teacher, 'worksheet.pdf', PDF, 'application/pdf');
  await statusOf(teacher, /^Shared worksheet\.pdf\.$/, 'the teacher told the file is shared');
  await waitFor(async () => (await fileNames(ada.page)).includes('worksheet.pdf'), { what: 'Ada sees the file message' });
  const card = ada.page.getByTestId('file-card').filter({ hasText: 'worksheet.pdf' });
  assert.match(await card.textContent(), /worksheet\.pdf.*B.*Download/);
  const [download] = await Promise.all([ada.page.waitForEvent('download'), card.getByTestId('file-download').click()]);
  assert.equal(download.suggestedFilename(), 'worksheet.pdf');
  assert.ok(readFileSync(await download.path()).equals(PDF), 'the downloaded bytes are the uploaded ones');

  // Students may not share yet: no control in Ada's page, and the hub refuses her upload anyway.
  assert.equal(await ada.page.getByTestId('chat-file-label').isVisible(), false, 'no share control for students yet');
  const refused = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/files`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ada.token}`, 'Lectern-Filename': 'notes.txt', 'Content-Type': 'text/plain' },
    body: 'my notes',
  });
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).detail, 'the teacher has not allowed students to share files');

  // The teacher allows it: Ada's control appears and her file reaches the teacher.
  await openTab(teacher.page, 'room');
  await teacher.page.getByTestId('policy-studentsMayShareFiles').check();
  await ada.page.getByTestId('chat-file-label').waitFor({ state: 'visible' });
  await openTab(teacher.page, 'chat');
  await share(ada, 'notes.txt', Buffer.from('Ada\'s notes\n'), 'text/plain');
  await waitFor(async () => (await fileNames(teacher.page)).includes('notes.txt'), { what: 'the teacher sees Ada\'s file' });

  // Too big, wrong type, and a page of HTML named .pdf: each refused with the hub's reason in the page.
  await share(teacher, 'big.pdf', Buffer.concat([PDF, Buffer.alloc(1024 * 1024 + 1, 0x20)]), 'application/pdf');
  assert.match(await statusOf(teacher, /not shared/, 'the too-big refusal shown'), /^big\.pdf was not shared: the file is larger than the limit of 1 MB$/);
  await share(teacher, 'setup.exe', Buffer.from('MZ\x90\x00'));
  assert.match(await statusOf(teacher, /setup\.exe was not shared/, 'the wrong-type refusal shown'),
    /'setup\.exe' is not a type this hub takes; allowed types: pdf, txt, png$/);
  await share(teacher, 'fake.pdf', Buffer.from('<html><script>alert(1)</script></html>'), 'application/pdf');
  assert.match(await statusOf(teacher, /fake\.pdf was not shared/, 'the renamed file\'s refusal shown'),
    /'fake\.pdf' is named \.pdf but its content is text/);
  assert.equal(await teacher.page.getByTestId('file-status').evaluate((el) => el.classList.contains('error')), true);
  assert.deepEqual(await fileNames(ada.page), ['worksheet.pdf', 'notes.txt'], 'no refused file reached the chat');

  // A late joiner sees both files in the history.
  const grace = await join(browser, 'student', 'Grace');
  await waitFor(async () => (await fileNames(grace.page)).length === 2, { what: 'Grace sees the earlier files' });
  assert.deepEqual(await fileNames(grace.page), ['worksheet.pdf', 'notes.txt']);

  // Breakout: Ada alone in group 1 shares a file there; the main room (teacher, Grace) never sees it.
  const send = (p, msg) => p.page.evaluate((m) => window.lectern.boards.send(m), msg);
  await send(teacher, { type: 'createBreakouts', groups: 2 });
  await waitFor(() => teacher.page.evaluate(() => window.lectern.classroom.breakouts != null), { what: 'the round created' });
  await send(teacher, { type: 'assignBreakout', participantId: ada.id, group: 1 });
  await send(teacher, { type: 'startBreakouts' });
  await waitFor(() => ada.page.evaluate(() => window.lectern.classroom.space?.group === 1), { what: 'Ada in group 1' });
  await openTab(ada.page, 'chat');
  await waitFor(async () => (await fileNames(ada.page)).length === 0, { what: 'Ada sees the group\'s own (empty) chat' });
  await share(ada, 'group-plan.txt', Buffer.from('our plan\n'), 'text/plain');
  await waitFor(async () => (await fileNames(ada.page)).includes('group-plan.txt'), { what: 'Ada sees her group\'s file' });
  // A marker after it in the main room: once Grace has the marker she would have had the group's file.
  await openTab(teacher.page, 'chat');
  await teacher.page.getByTestId('chat-input').fill('after the group file');
  await teacher.page.getByTestId('chat-input').press('Enter');
  const texts = (page) => page.getByTestId('chat-log').locator('[data-testid="chat-message"] .text').allTextContents();
  await waitFor(async () => (await texts(grace.page)).includes('after the group file'), { what: 'Grace got the marker' });
  assert.deepEqual(await fileNames(grace.page), ['worksheet.pdf', 'notes.txt'], 'the group\'s file is not in the main room');
  assert.deepEqual(await fileNames(teacher.page), ['worksheet.pdf', 'notes.txt'], 'nor in the teacher\'s main room chat');

  // The lessons list names every file with its group.
  const lessons = await (await fetch(`${env.baseUrl}/api/rooms/${ROOM}/lessons`, { headers: { Authorization: `Bearer ${teacher.token}` } })).json();
  const files = lessons.flatMap((l) => l.files);
  assert.deepEqual(files.map((f) => [f.name, f.group]), [['worksheet.pdf', null], ['notes.txt', null], ['group-plan.txt', 1]]);
}));
