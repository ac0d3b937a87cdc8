// Three hubs as one cluster on a shared PostgreSQL and a real Redis (issue 20, docs/cluster.md):
// the web admin on node C lists the classroom boxes connected to node A live, with the node they are
// on, and its Go live / End buttons reach the box; a timetable lesson goes live exactly once
// cluster-wide (one go-live command at the box, one audit row); then, mid-lesson with the box and
// three students, the node serving the room is killed (-9): media comes back for the box and the
// three students, the chat and the students' attendance are there through a surviving node's API,
// and the scheduler (on whichever node holds it) ends the lesson at the slot's end.
//
// PostgreSQL (Debian's `postgresql`, binaries under /usr/lib/postgresql/15/bin) and redis-server
// are started here in temp dirs on free ports; PostgreSQL runs as the `postgres` user when the
// tests run as root (it refuses root).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Child, Env, inLesson, inboundStats, joinUrl, openTab, waitFor } from './harness.mjs';

const ROOM = 'fleet-lab'; // the timetable's lesson and the failover
// The fleet view's Go live / End: another room, since a lesson ended on a hub stays ended there
// (the room refuses joins until it expires, docs/cluster.md).
const PANEL_ROOM = 'fleet-panel';
const SECRET = 'cluster-fleet-secret-0123456789abcdef';
const USER = 'grace';
const PASSWORD = 'a long admin password';
const STUDENTS = ['Ada', 'Emmy', 'Sofia'];
process.env.LECTERN_SECRET = SECRET;

const envs = [new Env('fleet_a'), new Env('fleet_b'), new Env('fleet_c')];
const tmp = mkdtempSync(path.join(tmpdir(), 'lectern-cluster-fleet-'));
let redis = null;
let redisPort = 0;
let pg = null;
const urls = [];
let box = null; // ROOM's box
let panelBox = null; // PANEL_ROOM's box
let adminA = null; // the admin's page on node A (API calls go through it)
let adminC = null; // the admin's fleet page on node C
let slot = null; // { start, end } of the timetable lesson (ms)

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function redisCli(...args) {
  const r = spawnSync('redis-cli', ['-p', String(redisPort), ...args], { encoding: 'utf8', timeout: 5000 });
  return (r.stdout || '').trim();
}

function pgBin() {
  if (process.env.LECTERN_PG_BIN) return process.env.LECTERN_PG_BIN;
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)) : [];
  const bin = versions.map((v) => `/usr/lib/postgresql/${v}/bin`).find((b) => existsSync(`${b}/initdb`));
  if (!bin) throw new Error('no PostgreSQL server under /usr/lib/postgresql: run scripts/deps.sh --test');
  return bin;
}

/** Runs `cmd` as the `postgres` user when we are root (PostgreSQL refuses root). */
function asPostgres(cmd, args) {
  if (process.getuid() !== 0) return [cmd, args];
  const id = (flag) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim();
  return ['setpriv', [`--reuid=${id('-u')}`, `--regid=${id('-g')}`, '--clear-groups', cmd, ...args]];
}

async function startPostgres() {
  const bin = pgBin();
  const dir = path.join(tmp, 'pg');
  // The postgres user must get through the temp dir (mkdtemp makes it 0700) to its own.
  chmodSync(tmp, 0o755);
  mkdirSync(dir);
  if (process.getuid() === 0) {
    const id = (flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const [initCmd, initArgs] = asPostgres(`${bin}/initdb`, ['-D', `${dir}/data`, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', timeout: 120000 });
  assert.equal(init.status, 0, `initdb: ${init.stderr}`);
  const port = await freePort();
  const [cmd, args] = asPostgres(`${bin}/postgres`, ['-D', `${dir}/data`, '-p', String(port), '-k', dir,
    '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']);
  pg = new Child('postgres', cmd, args, {});
  await pg.waitForLine(/ready to accept connections/, 60000);
  const create = spawnSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-Xqc', 'CREATE DATABASE lectern', 'postgres'],
    { encoding: 'utf8', timeout: 30000 });
  assert.equal(create.status, 0, `CREATE DATABASE: ${create.stderr}`);
  return `postgres://postgres@127.0.0.1:${port}/lectern`;
}

before(() => envs[0].diagnose(async () => {
  const database = await startPostgres();
  redisPort = await freePort();
  redis = new Child('redis', 'redis-server',
    ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', tmp], {});
  await redis.waitForLine(/Ready to accept connections/, 20000);
  // Node A (where the box connects) gets the URL that sorts last, so placement (least loaded, then
  // by id) puts the room on another node: the node killed later is never the box's.
  const ports = [await freePort(), await freePort(), await freePort()].sort((x, y) => String(y).localeCompare(String(x)));
  // One after the other: the first one migrates the shared database.
  for (const [i, env] of envs.entries()) {
    const url = `http://127.0.0.1:${ports[i]}`;
    await env.startHub({
      port: ports[i],
      timeoutMs: 60000,
      config: `secret = "${SECRET}"\n[store]\nurl = "${database}"\n[coord]\nurl = "redis://127.0.0.1:${redisPort}"\n`
        + `[node]\npublic_url = "${url}"\n`,
    });
    urls.push(url);
  }
  await waitFor(() => redisCli('scard', 'lectern:nodes') === '3', { what: 'three nodes in the registry', timeoutMs: 30000 });
}));

after(async () => {
  for (const env of envs) await env.close();
  if (redis) await redis.stop();
  if (pg) await pg.stop(10000);
  rmSync(tmp, { recursive: true, force: true });
});

/** An admin API call from a logged-in admin page (its session cookie and CSRF token). */
function adminApi(page, method, route, body) {
  return page.evaluate(async ({ method, route, body }) => {
    const me = await (await fetch('/admin/api/me')).json();
    const res = await fetch(`/admin/api/${route}`, {
      method,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrfToken },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }, { method, route, body });
}

/** The box's lines saying it got `command` from the hub. */
const commands = (command) => box.lines.stderr.filter((l) => /hub command/.test(l) && new RegExp(`\\b${command}\\b`).test(l));

/** The node holding the room's lease, from Redis. */
function ownerOf(room) {
  const token = redisCli('get', `lectern:room:${room}`);
  return token ? token.replace(/#\d+$/, '') : null;
}

const row = (room = PANEL_ROOM) => adminC.locator(`tr[data-room="${room}"]`);
const badge = (room = PANEL_ROOM) => row(room).locator('.badge').textContent();

test('the fleet view on node C lists the box connected to node A live, and its buttons reach the box', { timeout: 240000 }, () =>
  envs[0].diagnose(async () => {
    const [a, , c] = envs;
    const browser = await a.launchBrowser();
    // The setup code is in the shared database: the node started last printed the valid one.
    adminC = await c.newPage(browser, 'admin-c');
    await c.setupAdmin(adminC, { username: USER, password: PASSWORD });
    await c.addRoom(adminC, { id: PANEL_ROOM, name: 'Chemistry lab', building: 'West' });
    await c.addRoom(adminC, { id: ROOM, name: 'Physics lab', building: 'East' });
    panelBox = a.startAppliance({ room: PANEL_ROOM, token: a.mintToken({ room: PANEL_ROOM, role: 'device', name: 'Chemistry box' }), idle: true });
    box = a.startAppliance({ room: ROOM, token: a.mintToken({ room: ROOM, role: 'device', name: 'Physics box' }), idle: true });

    // The same account logs in on node A too (the accounts are in the shared database).
    adminA = await a.newPage(browser, 'admin-a');
    await adminA.goto(`${urls[0]}/admin/login`);
    await adminA.getByLabel('Username').fill(USER);
    await adminA.getByLabel('Password').fill(PASSWORD);
    await adminA.getByRole('button', { name: 'Log in' }).click();
    await adminA.waitForURL(/\/admin$/);
    await adminC.goto(`${urls[2]}/admin/fleet`);
    await adminC.locator('#fleet-wrap[data-feed="push"]').waitFor({ timeout: 30000 });
    await waitFor(async () => (await badge()) === 'Idle' && (await badge(ROOM)) === 'Idle',
      { what: 'node C listing both boxes on node A, idle', timeoutMs: 60000 });
    const host = new URL(urls[0]).host;
    assert.equal(await row().locator('[data-field="node"]').textContent(), `Connected to hub ${host}`);
    assert.equal(await row().locator('td[data-col="building"]').textContent(), 'West');
    assert.equal(await row().locator('td[data-col="upload"]').textContent(), '—', 'no recordings waiting');
    const listed = await adminApi(adminC, 'GET', 'devices');
    const entry = listed.json.find((d) => d.room === PANEL_ROOM);
    assert.equal(entry.node, urls[0], 'the API names the node the box is on');
    assert.equal(entry.online, true);
    assert.ok('upload' in entry, 'the list carries the upload backlog');
    // Node A lists it as its own.
    const onA = (await adminApi(adminA, 'GET', 'devices')).json.find((d) => d.room === PANEL_ROOM);
    assert.equal(onA.node, null);

    // Go live on C reaches the box on A, and C sees it live (its telemetry crosses nodes).
    await row().getByRole('button', { name: `Go live: room ${PANEL_ROOM}` }).click();
    await panelBox.waitForLine(/hub command.*GoLive/, 20000);
    await waitFor(async () => (await badge()) === 'Live', { what: 'node C showing the box live', timeoutMs: 60000 });
    await adminC.locator('#fleet-notice').filter({ hasText: 'told the box to go live' }).waitFor();
    // End on C ends the box's lesson.
    await row().getByRole('button', { name: `End: room ${PANEL_ROOM}` }).click();
    await panelBox.waitForLine(/hub command.*\bEnd\b/, 20000);
    await waitFor(async () => (await badge()) === 'Idle', { what: 'node C showing the box idle after End', timeoutMs: 60000 });
    // The lesson ended on the node serving the room too (not only the box's camera), as the store says.
    const teacher = a.mintToken({ room: PANEL_ROOM, role: 'teacher', name: 'Observer' });
    await waitFor(async () => {
      const res = await fetch(`${urls[0]}/api/rooms/${PANEL_ROOM}/lessons`, { headers: { Authorization: `Bearer ${teacher}` } });
      const lessons = res.ok ? await res.json() : [];
      return lessons.length > 0 && lessons.every((l) => l.endedAt != null);
    }, { what: 'the room\'s lesson ended in the store', timeoutMs: 30000 });
  }));

test('a timetable lesson goes live exactly once across the three nodes', { timeout: 240000 }, () =>
  envs[0].diagnose(async () => {
    assert.ok(box && adminA, 'the first test set up the admin and the box');
    const goLivesBefore = commands('GoLive').length;
    // From the next minute for four minutes, in UTC; near midnight, wait for the new day.
    let now = new Date();
    if (now.getUTCHours() === 23 && now.getUTCMinutes() >= 54) {
      await waitFor(() => new Date().getUTCHours() === 0, { what: 'midnight to pass', timeoutMs: 400000, intervalMs: 1000 });
      now = new Date();
    }
    const start = new Date(now.getTime() + 60000);
    start.setUTCSeconds(0, 0);
    const end = new Date(start.getTime() + 4 * 60000);
    const hhmm = (d) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
    const created = await adminApi(adminA, 'POST', 'schedules', {
      roomId: ROOM, weekday: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][start.getUTCDay()],
      start: hhmm(start), end: hhmm(end), zone: 'UTC', teacher: 'Ms Franklin', title: 'Titration',
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    slot = { start: start.getTime(), end: end.getTime() };

    await waitFor(() => commands('GoLive').length > goLivesBefore,
      { what: 'the box told to go live at the lesson start', timeoutMs: 150000, intervalMs: 500 });
    assert.ok(Date.now() >= slot.start - 1000, 'not before the start');
    // Three scheduler ticks (5 s each) later, still one: no other node fired it too.
    const fired = Date.now();
    await waitFor(() => Date.now() - fired > 16000, { what: 'three scheduler ticks', timeoutMs: 20000, intervalMs: 500 });
    assert.equal(commands('GoLive').length - goLivesBefore, 1, 'one go-live command reached the box');
    const audit = await adminApi(adminA, 'GET', 'audit');
    assert.equal(audit.status, 200);
    const rows = (Array.isArray(audit.json) ? audit.json : audit.json.entries || audit.json.rows || [])
      .filter((e) => e.action === 'schedule.golive' && (e.target === ROOM || JSON.stringify(e).includes(ROOM)));
    assert.equal(rows.length, 1, `one schedule.golive audit row: ${JSON.stringify(rows)}`);
    const leaders = envs.filter((e) => e.hub.lines.stderr.some((l) => /this node runs the timetable now/.test(l)));
    assert.equal(leaders.length, 1, 'exactly one node runs the timetable');
  }));

/**
 * Audio packets a student page has received from the classroom box (its media, not another
 * student's). Audio, not video: on a loaded machine the hub's bandwidth estimate may pause the
 * room's one video layer for a student, which is adaptation at work, not the lesson stopping.
 */
async function heard(page) {
  return (await inboundStats(page)).filter((s) => s.kind === 'audio' && s.role === 'device').reduce((n, s) => n + s.packetsReceived, 0);
}

/** Messages in a page's chat log. */
const chatTexts = (page) => page.getByTestId('chat-log').locator('[data-testid="chat-message"] .text').allTextContents();

test('kill -9 of the owner mid-lesson: the box and three students are back, chat and attendance kept, the scheduler ends the lesson', { timeout: 420000 }, () =>
  envs[0].diagnose(async () => {
    assert.ok(slot, 'the timetable test scheduled the lesson');
    const owner = await waitFor(() => ownerOf(ROOM), { what: 'the room owned by a node', timeoutMs: 60000 });
    assert.notEqual(owner, urls[0], 'the box\'s node is not the one killed');
    const dead = envs[urls.indexOf(owner)];
    const survivors = urls.filter((u) => u !== owner);
    const env = envs[0];
    const browser = await env.launchBrowser();
    // Three students, each with a link to node A (which sends the page to the owner).
    const students = [];
    for (const name of STUDENTS) {
      const page = await env.newPage(browser, `student-${name}`);
      await page.goto(joinUrl(urls[0], ROOM, env.mintToken({ room: ROOM, role: 'student', name })));
      await inLesson(page, `${name} in the lesson`, 60000);
      students.push(page);
    }
    for (const [i, page] of students.entries()) {
      await waitFor(async () => (await heard(page)) > 50, { what: `${STUDENTS[i]} hearing the room`, timeoutMs: 60000 });
    }
    await openTab(students[1], 'chat');
    await openTab(students[0], 'chat');
    await students[0].getByTestId('chat-input').fill('Before the failover');
    await students[0].getByTestId('chat-input').press('Enter');
    await waitFor(async () => (await chatTexts(students[1])).includes('Before the failover'),
      { what: 'the chat message reaching another student', timeoutMs: 20000 });

    const killed = Date.now();
    dead.hub.proc.kill('SIGKILL');
    await dead.hub.exitPromise;
    const newOwner = await waitFor(() => { const o = ownerOf(ROOM); return o && o !== owner ? o : null; },
      { what: 'a live node owning the room', timeoutMs: 30000, intervalMs: 100 });
    assert.ok(survivors.includes(newOwner));
    // The box publishes again (through node A, to the new owner) and every student is back on the
    // new owner, hearing the room.
    const before = await Promise.all(students.map((p) => heard(p).catch(() => 0)));
    for (const [i, page] of students.entries()) {
      await waitFor(() => new URL(page.url()).origin === newOwner, { what: `${STUDENTS[i]}'s page on the new owner`, timeoutMs: 60000, intervalMs: 200 });
      await inLesson(page, `${STUDENTS[i]} back in the lesson`, 60000);
      await waitFor(async () => (await heard(page)) > 50 && (await heard(page)) !== before[i],
        { what: `${STUDENTS[i]} hearing the room again`, timeoutMs: 60000, intervalMs: 200 });
    }
    console.log(`cluster-fleet-three-students-back-ms ${Date.now() - killed} (new owner ${newOwner})`);
    assert.ok(Date.now() < slot.end - 5000, 'the failover was over before the lesson\'s end (the slot is long enough)');

    // Chat and attendance, through a surviving node that is not the new owner (node A).
    const admin = env.mintToken({ room: ROOM, role: 'admin', name: 'Auditor' });
    const get = async (base, file) => {
      const res = await fetch(`${base}/api/rooms/${ROOM}/${file}`, { headers: { Authorization: `Bearer ${admin}` } });
      assert.equal(res.status, 200, `${file} on ${base}: ${res.status} ${await res.clone().text()}`);
      return res.json();
    };
    const chat = await get(urls[0], 'chat.json');
    assert.ok(chat.some((m) => m.text === 'Before the failover' && m.from === 'Ada'), `chat kept: ${JSON.stringify(chat)}`);
    const attendance = await get(newOwner, 'attendance.json');
    const names = attendance.people.map((p) => p.name);
    for (const name of STUDENTS) assert.ok(names.includes(name), `${name} in the attendance: ${names}`);

    // The scheduler (on whichever node runs it now) ends the lesson at the slot's end: the box is
    // told to end and the students see the lesson end.
    const endsBefore = commands('End').length;
    await waitFor(() => commands('End').length > endsBefore,
      { what: 'the box told to end at the lesson\'s end', timeoutMs: slot.end - Date.now() + 60000, intervalMs: 1000 });
    assert.ok(Date.now() >= slot.end - 1000, 'not before the end');
    for (const [i, page] of students.entries()) {
      await page.getByText('The lesson has ended').first().waitFor({ timeout: 30000 })
        .catch((err) => { err.message = `${STUDENTS[i]}: ${err.message}`; throw err; });
    }
    // The lesson on the new owner is recorded as ended at the slot's end (newest first).
    const lessons = await (await fetch(`${urls[0]}/api/rooms/${ROOM}/lessons`, { headers: { Authorization: `Bearer ${admin}` } })).json();
    assert.ok(lessons[0] && lessons[0].endedAt >= slot.end - 1000, `the newest lesson ended at the slot's end: ${JSON.stringify(lessons)}`);
  }));
