// Regenerates docs/admin-fleet.png and docs/admin-device.png: a fleet of three rooms in two
// buildings — one box live, one idle with a configuration applied, one room without a box — and
// the live box's device page, at 1280x800.
// Run: node admin_screenshots.mjs (after cargo build -p lectern-hub -p lectern-appliance).

import path from 'node:path';

import { Env, REPO, claimCodes, waitFor } from './harness.mjs';

const VIEW = { width: 1280, height: 800 };
const env = new Env('admin-screenshots');

/** The admin API from the logged-in page, with its CSRF token. */
async function adminApi(page, method, route, body) {
  return page.evaluate(async ({ method, route, body }) => {
    const me = await (await fetch('/admin/api/me')).json();
    const r = await fetch(`/admin/api/${route}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${await r.text()}`);
    const text = await r.text();
    return text ? JSON.parse(text) : null;
  }, { method, route, body });
}

async function enroll(page, room, name) {
  const box = env.startUnenrolledAppliance();
  await box.waitForLine(/claim_code=/, 30000);
  await adminApi(page, 'POST', 'devices/enroll', { code: claimCodes(box)[0], room, name });
  return box;
}

try {
  await env.startHub();
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'admin');
  await page.setViewportSize(VIEW);
  await env.setupAdmin(page, { username: 'it-admin', password: 'a long admin password' });
  const rooms = [['bio-12', 'Biology 12', 'South'], ['phys-101', 'Physics lecture hall', 'North'],
    ['chem-204', 'Chemistry lab', 'North']];
  for (const [id, name, building] of rooms) {
    await adminApi(page, 'POST', 'rooms', { id, name, building, capacity: 30 });
  }
  await enroll(page, 'phys-101', 'Hall box (Pi 5)');
  await enroll(page, 'chem-204', 'Lab box (Jetson)');
  await adminApi(page, 'PUT', 'devices/chem-204/config', { bitrateKbps: 2500, framerate: 30, echoCancellation: true });
  await waitFor(async () => (await adminApi(page, 'GET', 'devices')).filter((d) => d.online).length === 2,
    { what: 'both enrolled boxes online', timeoutMs: 60000 });
  await adminApi(page, 'POST', 'devices/phys-101/live');

  await page.goto(`${env.baseUrl}/admin/fleet`);
  const badge = (room) => page.locator(`tr[data-room="${room}"] .badge`).textContent();
  await waitFor(async () => (await badge('phys-101')) === 'Live' && (await badge('chem-204')) === 'Idle'
    && (await page.locator('tr[data-room="chem-204"]').textContent()).includes('applied')
    && Number(await page.locator('tr[data-room="phys-101"] td[data-col="fps"]').textContent()) > 0,
  { what: 'one box live with figures, one idle with its config applied', timeoutMs: 60000 });
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(REPO, 'docs', 'admin-fleet.png'), fullPage: true });

  await page.goto(`${env.baseUrl}/admin/device?room=phys-101`);
  await page.locator('dd[data-figure="fps"]').filter({ hasText: /\d/ }).waitFor();
  await page.screenshot({ path: path.join(REPO, 'docs', 'admin-device.png'), fullPage: true });
  console.log('saved docs/admin-fleet.png and docs/admin-device.png');
} catch (err) {
  env.report(err);
  process.exitCode = 1;
} finally {
  await env.close();
}
