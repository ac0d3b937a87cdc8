// Recordings in the web admin (issue 21): a hub keeping recordings in S3 (moto's server, installed
// by scripts/deps.sh --test) never prints its secret key; a room gets a retention in the rooms
// form; after a box uploaded one whole file and half of another, the Recordings page shows the
// bucket's totals (files, bytes, the upload in progress), the room with its retention and the
// lesson, and an admin puts the lesson under legal hold (audited, kept after a reload).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Child, Env, inLesson, openLesson, waitFor } from './harness.mjs';

const ROOM = 'lab-410';
const BUCKET = 'lectern-admin-recordings';
const SECRET = 'moto-secret-for-the-admin-test';
const MIB = 1024 * 1024;

const env = new Env('admin-recordings');
let moto;
let browser;
let admin;
let lessonId;

function motoBinary() {
  if (process.env.LECTERN_MOTO_SERVER) return process.env.LECTERN_MOTO_SERVER;
  const venv = process.env.LECTERN_TEST_VENV || '/opt/lectern/test-venv';
  const bin = path.join(venv, 'bin', 'moto_server');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/deps.sh --test`);
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

before(() => env.diagnose(async () => {
  const port = await freePort();
  moto = new Child('moto', motoBinary(), ['-H', '127.0.0.1', '-p', String(port)], {});
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(endpoint).catch(() => null)) !== null, { timeoutMs: 60000, what: 'moto answers' });
  // moto takes unsigned requests: the bucket is made the simple way.
  const made = await fetch(`${endpoint}/${BUCKET}`, { method: 'PUT' });
  assert.ok(made.ok, `creating the bucket: ${made.status}`);
  await env.startHub({
    config: `[storage]\nkind = "s3"\nendpoint = "${endpoint}"\nbucket = "${BUCKET}"\n`
      + `access_key_id = "AKIDADMINTEST"\nsecret_access_key = "${SECRET}"\n[recording]\nretention_days = 30\n`,
  });
  browser = await env.launchBrowser();
  admin = await env.newPage(browser, 'admin');
}));
after(async () => {
  await env.close();
  if (moto) await moto.stop();
});

test('the admin gives a room a retention in the rooms form', () => env.diagnose(async () => {
  await env.setupAdmin(admin, { username: 'grace', password: 'a long admin password' });
  await admin.getByLabel('Room id').fill(ROOM);
  await admin.getByLabel('Name', { exact: true }).fill('Studio');
  await admin.getByLabel('Capacity').fill('25');
  await admin.getByLabel(/^Keep recordings for/).fill('7');
  await admin.getByRole('button', { name: 'Add room' }).click();
  await admin.locator('#room-created').filter({ hasText: ROOM }).waitFor();
  await admin.locator('#rooms-body tr').filter({ hasText: ROOM }).filter({ hasText: '7 days' }).waitFor();
}));

/** The box's resumable upload, by hand: create, then one chunk at `offset`. */
async function upload(device, name, data, sendBytes) {
  const sha = createHash('sha256').update(data).digest('hex');
  const created = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${device}`, 'content-type': 'application/json' },
    body: JSON.stringify({ lesson: lessonId, kind: 'camera', name, size: data.length, sha256: sha, durationMs: 1000 }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { id } = await created.json();
  const chunk = data.subarray(0, sendBytes);
  const sent = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/uploads/${id}`, {
    method: 'PATCH',
    headers: {
      authorization: `Bearer ${device}`,
      'content-type': 'application/offset+octet-stream',
      'upload-offset': '0',
      'upload-checksum': `sha256 ${createHash('sha256').update(chunk).digest('base64')}`,
    },
    body: chunk,
  });
  assert.equal(sent.status, 200, await sent.clone().text());
  return (await sent.json()).state;
}

test('a box uploads into the bucket, and the hub never printed the secret key', () => env.diagnose(async () => {
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Mr Turing' });
  await inLesson(teacher, 'teacher in the lesson');
  const teacherToken = env.mintToken({ room: ROOM, role: 'teacher', name: 'Observer' });
  lessonId = await waitFor(async () => {
    const r = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/lessons`, { headers: { authorization: `Bearer ${teacherToken}` } });
    const lessons = r.ok ? await r.json() : [];
    return lessons.length ? lessons[0].id : null;
  }, { what: 'the lesson is stored' });
  const device = env.mintToken({ room: ROOM, role: 'device', name: 'Studio box' });
  const whole = Buffer.alloc(300_000, 7);
  assert.equal(await upload(device, '1-camera-000.mp4', whole, whole.length), 'ready');
  const half = Buffer.alloc(2 * MIB, 9);
  assert.equal(await upload(device, '1-camera-001.mp4', half, MIB), 'uploading');
  const logged = `${env.hub.tail('stdout', 1000)}\n${env.hub.tail('stderr', 1000)}`;
  assert.ok(logged.includes('recordings are kept in S3'), 'the hub says where recordings go');
  assert.ok(!logged.includes(SECRET), 'the secret key never reaches the log');
}));

test('the Recordings page shows the totals, the room and the lesson, and an admin holds it', () => env.diagnose(async () => {
  await admin.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Recordings' }).click();
  await admin.waitForURL(/\/admin\/recordings$/);
  await admin.locator('#storage-kind').filter({ hasText: 'S3 bucket' }).waitFor();
  assert.equal(await admin.locator('#storage-files').textContent(), '1');
  assert.equal(await admin.locator('#storage-bytes').textContent(), '300.0 kB');
  assert.equal(await admin.locator('#storage-partial').textContent(), '1 (1.0 MB)');
  assert.equal(await admin.locator('#storage-retention').textContent(), '30 days');
  const room = admin.locator('#rooms-body tr').filter({ hasText: ROOM });
  assert.deepEqual(await room.locator('th, td').allTextContents(), [ROOM, '1', '1', '300.0 kB', '1 (1.0 MB)', '7 days']);
  const hold = admin.getByLabel(`Legal hold on lesson ${lessonId}`);
  assert.equal(await hold.isChecked(), false);
  await hold.check();
  await admin.locator('#lessons-body tr').filter({ hasText: 'Held' }).waitFor();
  await admin.reload();
  await admin.locator('#lessons-body tr').filter({ hasText: 'Held' }).waitFor();
  assert.equal(await admin.getByLabel(`Legal hold on lesson ${lessonId}`).isChecked(), true);
  const audit = await admin.evaluate(async () => (await fetch('/admin/api/audit')).json());
  assert.ok(audit.some((e) => e.action === 'lesson.hold' && e.target === lessonId && e.actor === 'grace'),
    JSON.stringify(audit.slice(0, 5)));
}));
