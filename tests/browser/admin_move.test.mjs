// Moving an enrolled box to another room from the web admin, without enrolling it again: a virtual
// box enrolled in one room is moved from its device page → it comes back as the other room's box
// (the fleet shows that room online and the old one offline) → its old credential is refused on
// the control channel (401) → its credential file names the new room → the move is audited →
// moved back while it is switched off, it fetches its new credential with its old one when it
// comes back, and is not locked out.

import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { APPLIANCE_BIN, Child, Env, claimCodes, waitFor } from './harness.mjs';

const FROM = 'lab-301';
const TO = 'lab-302';
const USER = 'ada';
const PASSWORD = 'a long admin password';

const env = new Env('admin-move');
let page;
let box;
let oldToken;

before(() => env.diagnose(async () => {
  await env.startHub();
  const browser = await env.launchBrowser();
  page = await env.newPage(browser, 'admin');
}));
after(() => env.close());

const badge = (room) => page.locator(`tr[data-room="${room}"] .badge`).textContent();
const credential = () => JSON.parse(readFileSync(path.join(box.stateDir, 'device-credential.json'), 'utf8'));

/** The status of a WebSocket upgrade on `/device/ws` with `token`: 101, or what the hub refused with. */
function controlChannelStatus(token) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${env.baseUrl}/device/ws`, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        Authorization: `Bearer ${token}`,
      },
    });
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve(101); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', reject);
    req.end();
  });
}

test('a box enrolled in one room, another room empty', () => env.diagnose(async () => {
  await env.setupAdmin(page, { username: USER, password: PASSWORD });
  await env.addRoom(page, { id: FROM, name: 'Physics lab', capacity: 24 });
  await env.addRoom(page, { id: TO, name: 'Biology lab', capacity: 24 });
  box = env.startUnenrolledAppliance();
  await box.waitForLine(/claim_code=/, 30000);
  const [code] = claimCodes(box);
  await page.goto(`${env.baseUrl}/admin/fleet`);
  await page.getByLabel('Claim code').fill(code);
  await page.getByLabel('Room for this box').selectOption(FROM);
  await page.getByLabel('Box name').fill('Travelling box');
  await page.getByRole('button', { name: 'Enroll box' }).click();
  await page.locator('#enroll-done').filter({ hasText: FROM }).waitFor();
  await waitFor(async () => (await badge(FROM)) === 'Idle', { what: 'the enrolled box idle in its room', timeoutMs: 60000 });
  oldToken = credential().token;
  assert.equal(credential().room, FROM);
}));

test('moved from its device page, it comes back as the other room\'s box', () => env.diagnose(async () => {
  await page.goto(`${env.baseUrl}/admin/device?room=${FROM}`);
  const target = page.getByLabel('Move to room');
  await waitFor(async () => (await target.locator('option').allTextContents()).some((t) => t.startsWith(TO)),
    { what: 'the empty room offered as a target' });
  const offered = await target.locator('option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(offered, [TO], 'only configured rooms without a box, not this one');
  await target.selectOption(TO);
  await page.getByRole('button', { name: 'Move to room…' }).click();
  await page.locator('#move-question').filter({ hasText: `to room ${TO}` }).waitFor();
  await page.getByRole('button', { name: 'Yes, move' }).click();
  await page.waitForURL(new RegExp(`/admin/device\\?room=${TO}$`));
  await page.locator('#device-notice').filter({ hasText: `Moved “Travelling box” to room ${TO}` }).waitFor();

  await box.waitForLine(new RegExp(`moved this box from room ${FROM} to room ${TO}`), 20000);
  await page.goto(`${env.baseUrl}/admin/fleet`);
  await waitFor(async () => (await badge(TO)) === 'Idle' && (await badge(FROM)) === 'Offline',
    { what: `the box idle in ${TO} and ${FROM} offline`, timeoutMs: 60000 });
  assert.equal(box.exited, null, 'the box restarts itself in place; it does not stop');
}));

test('its old credential is refused; the new one names the new room', () => env.diagnose(async () => {
  assert.equal(await controlChannelStatus(oldToken), 401);
  const stored = credential();
  assert.equal(stored.room, TO);
  assert.equal(stored.movedFrom, FROM);
  assert.notEqual(stored.token, oldToken);
  // The box says so in its log and on its status page after its restart (a new status port).
  await box.waitForLine(new RegExp(`this box was moved from room ${FROM} to room ${TO}`), 20000);
  const statusAddr = () => {
    const lines = [...box.lines.stdout, ...box.lines.stderr];
    const restarted = lines.findLastIndex((l) => /this box was moved from room/.test(l));
    const listening = lines.slice(restarted).find((l) => /status endpoint listening addr=/.test(l));
    return listening && listening.match(/addr=(\S+)/)[1];
  };
  await waitFor(() => statusAddr(), { what: 'the restarted box\'s status endpoint', timeoutMs: 20000 });
  const addr = statusAddr();
  const status = await (await fetch(`http://${addr}/status`)).json();
  assert.equal(status.moved_from, FROM);
  const audited = await page.evaluate(async () => (await (await fetch('/admin/api/audit')).json())
    .map((r) => `${r.action} ${r.target}`));
  assert.ok(audited.includes(`device.move ${FROM}`), JSON.stringify(audited));
}));

test('moved while switched off, it gets its new credential when it comes back', () => env.diagnose(async () => {
  const tokenInTo = credential().token;
  await box.stop();
  await page.goto(`${env.baseUrl}/admin/fleet`);
  await waitFor(async () => (await badge(TO)) === 'Offline', { what: `${TO} offline with its box off`, timeoutMs: 60000 });
  await page.goto(`${env.baseUrl}/admin/device?room=${TO}`);
  const target = page.getByLabel('Move to room');
  await waitFor(async () => (await target.locator('option').evaluateAll((os) => os.map((o) => o.value))).includes(FROM),
    { what: 'the emptied room offered again' });
  await target.selectOption(FROM);
  await page.getByRole('button', { name: 'Move to room…' }).click();
  await page.getByRole('button', { name: 'Yes, move' }).click();
  await page.locator('#device-notice').filter({ hasText: 'it is offline and moves when it next connects' }).waitFor();
  assert.equal(credential().room, TO, 'the box is off: nothing changed on it yet');

  // Switched on again with the same state directory: it still holds the credential for TO.
  box = new Child('appliance-back', APPLIANCE_BIN,
    ['--virtual', '--hub', env.baseUrl, '--state-dir', box.stateDir, '--config', box.stateDir,
      '--vendor-config-dir', box.stateDir, '--status-listen', '127.0.0.1:0'],
    { RUST_LOG: process.env.RUST_LOG || 'info', NO_COLOR: '1' });
  box.stateDir = env.appliances[0].stateDir;
  env.appliances.push(box);
  await box.waitForLine(new RegExp(`moved this box from room ${TO} to room ${FROM}`), 30000);
  await page.goto(`${env.baseUrl}/admin/fleet`);
  await waitFor(async () => (await badge(FROM)) === 'Idle' && (await badge(TO)) === 'Offline',
    { what: `the box back in ${FROM}`, timeoutMs: 60000 });
  assert.equal(credential().room, FROM);
  assert.equal(await controlChannelStatus(tokenInTo), 401);
  assert.deepEqual(claimCodes(box), [], 'it never fell back to enrollment');
}));
