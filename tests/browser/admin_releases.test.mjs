// Over-the-air updates from the web admin (docs/ota.md): the hub checks signatures with Debian's
// rauc; an admin uploads a release signed with a key from scripts/ota-dev-key.sh (a tampered copy
// is refused next to the file field), rolls it out to an enrolled virtual box, and watches the box
// (the stated FakeInstaller) report its steps until it runs the new release, without a reload.
// Needs rauc and squashfs-tools (scripts/deps.sh --test).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Env, REPO, claimCodes, waitFor } from './harness.mjs';

const ROOM = 'lab-301';
const VERSION = '7.1.0';

const env = new Env('admin-releases');
let page;
let box;
let keys;
let bundle;
let tampered;

function script(name, args) {
  const res = spawnSync(path.join(REPO, 'scripts', name), args, { encoding: 'utf8', timeout: 60000 });
  if (res.status !== 0) throw new Error(`${name} ${args.join(' ')}: ${res.stderr || res.error}`);
}

before(() => env.diagnose(async () => {
  keys = path.join(env.dataDir, 'keys');
  script('ota-dev-key.sh', [keys]);
  bundle = path.join(env.dataDir, `lectern-${VERSION}.raucb`);
  script('ota-bundle.sh', [keys, VERSION, bundle]);
  const bytes = readFileSync(bundle);
  bytes[20000] ^= 0x55;
  tampered = path.join(env.dataDir, 'tampered.raucb');
  writeFileSync(tampered, bytes);
  await env.startHub({ config: `[ota]\nkeyring = "${path.join(keys, 'ca.cert.pem')}"\n` });
  const browser = await env.launchBrowser();
  page = await env.newPage(browser, 'admin');
}));
after(() => env.close());

test('the admin sets up, adds a room and enrolls a virtual box that can update', () => env.diagnose(async () => {
  await env.setupAdmin(page, { username: 'hedy', password: 'a long admin password' });
  await env.addRoom(page, { id: ROOM, name: 'Music room', building: 'West', capacity: 20 });
  // The box's own file: the virtual box's stand-in installer, checking signatures with the keyring.
  const stateDir = path.join(env.dataDir, `appliance${env.appliances.length}`);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(path.join(stateDir, 'appliance.toml'),
    `[update]\ninstaller = "fake"\nkeyring = "${path.join(keys, 'ca.cert.pem')}"\n`);
  box = env.startUnenrolledAppliance();
  await box.waitForLine(/claim_code=/, 30000);
  const [code] = claimCodes(box);
  await page.goto(`${env.baseUrl}/admin/fleet`);
  await page.getByLabel('Claim code').fill(code);
  await page.getByLabel('Room for this box').selectOption(ROOM);
  await page.getByLabel('Box name').fill('Music box');
  await page.getByRole('button', { name: 'Enroll box' }).click();
  await page.locator('#enroll-done').filter({ hasText: ROOM }).waitFor();
}));

test('the releases page says signatures are checked and refuses a tampered bundle', () => env.diagnose(async () => {
  await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Releases' }).click();
  await page.waitForURL(/\/admin\/releases$/);
  await page.locator('#signing[data-available="true"]').filter({ hasText: 'Signatures are checked' }).waitFor();
  // The box reports what it runs once enrolled.
  await page.locator(`#software-body tr[data-room="${ROOM}"]`).filter({ hasText: 'fake' }).waitFor({ timeout: 60000 });
  await page.getByLabel('Bundle file').setInputFiles(tampered);
  await page.getByLabel('Version').fill(VERSION);
  await page.getByRole('button', { name: 'Upload release' }).click();
  await page.locator('#upload-bundle-error').filter({ hasText: 'not signed by a certificate of ota.keyring, or damaged' }).waitFor();
  assert.equal(await page.locator('#releases-body tr').count(), 0);
}));

test('a signed release is uploaded, rolled out, and the box reports each step until good', () => env.diagnose(async () => {
  await page.getByLabel('Bundle file').setInputFiles(bundle);
  await page.getByLabel('Version').fill(VERSION);
  await page.getByLabel('Notes').fill('Quieter fan curve');
  await page.getByRole('button', { name: 'Upload release' }).click();
  await page.locator('#upload-done').filter({ hasText: `Release ${VERSION} uploaded (signature verified)` }).waitFor();
  await page.locator(`#releases-body tr[data-version="${VERSION}"]`).waitFor();
  // Reboots at any time in West.
  await page.getByLabel('Building', { exact: true }).fill('West');
  await page.getByLabel('From').fill('00:00');
  await page.getByLabel('To').fill('00:00');
  await page.getByRole('button', { name: 'Save window' }).click();
  await page.locator('#windows-list li').filter({ hasText: 'West: 00:00–00:00' }).waitFor();

  await page.getByRole('group', { name: 'Canary boxes' }).getByLabel(ROOM, { exact: false }).check();
  await page.getByLabel('Then everyone').uncheck();
  const seen = new Set();
  const boxRow = page.locator('#rollouts tr[data-device]');
  await page.getByRole('button', { name: 'Start rollout' }).click();
  await waitFor(async () => {
    const phase = await boxRow.first().getAttribute('data-phase').catch(() => null);
    if (phase) seen.add(phase);
    return phase === 'good';
  }, { what: 'the box to report good', timeoutMs: 120000, intervalMs: 100 });
  await page.locator('#rollouts section[data-state="done"]').waitFor();
  const software = page.locator(`#software-body tr[data-room="${ROOM}"]`);
  await software.filter({ hasText: VERSION }).waitFor({ timeout: 30000 });
  assert.match(await software.textContent(), /fake.*7\.1\.0.*B/s, 'it booted the other slot');
  assert.equal(box.exited, null, 'the virtual box "rebooted" in place');
  // The fleet view says what it runs now, too.
  await page.goto(`${env.baseUrl}/admin/fleet`);
  await page.locator(`tr[data-room="${ROOM}"] td[data-col="version"]`).filter({ hasText: `image ${VERSION} (slot B)` })
    .waitFor({ timeout: 30000 });
  // The page followed it (polled every 2 s): at least one step before good was on screen.
  assert.ok([...seen].some((p) => p !== 'good'), `steps seen: ${[...seen]}`);
  const audit = await page.evaluate(async () => (await (await fetch('/admin/api/audit')).json()).map((r) => r.action));
  for (const a of ['release.refused', 'release.upload', 'release.window', 'rollout.start', 'rollout.done']) {
    assert.ok(audit.includes(a), `${a} audited: ${audit}`);
  }
}));
