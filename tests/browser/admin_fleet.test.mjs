// The web admin's fleet view: the first admin is created from the printed setup link, adds a room,
// and watches the room's box come online and go live without reloading; End turns it idle; the
// state filter hides it; focus stays on the button pressed while rows refresh.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, waitFor } from './harness.mjs';

const ROOM = 'lab-101';
const USER = 'ada';
const PASSWORD = 'a long admin password';

const env = new Env('admin-fleet');
let page;

before(() => env.diagnose(async () => {
  await env.startHub();
  const browser = await env.launchBrowser();
  page = await env.newPage(browser, 'admin');
}));
after(() => env.close());

const row = () => page.locator(`tr[data-room="${ROOM}"]`);
const badge = () => row().locator('.badge').textContent();

test('the first admin sets up, logs in and adds a room', () => env.diagnose(async () => {
  await env.setupAdmin(page, { username: USER, password: PASSWORD });
  await env.addRoom(page, { id: ROOM, name: 'Physics lab', building: 'North', capacity: 30 });
}));

test('a configured room without a box shows offline', () => env.diagnose(async () => {
  await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Fleet' }).click();
  await page.waitForURL(/\/admin\/fleet$/);
  await row().waitFor();
  assert.equal(await badge(), 'Offline');
  assert.equal(await row().locator('td[data-col="building"]').textContent(), 'North');
}));

test('the box comes online and live with figures, pushed by the hub without a reload or polling', () => env.diagnose(async () => {
  await page.evaluate(() => { window.__sameDocument = true; });
  // The rows arrive by the hub's push (Server-Sent Events), not by polling the list.
  await page.locator('#fleet-wrap[data-feed="push"]').waitFor({ timeout: 20000 });
  let polls = 0;
  const countPolls = (req) => { if (new URL(req.url()).pathname === '/admin/api/devices') polls += 1; };
  page.on('request', countPolls);
  env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Lab 101 box' }) });
  await waitFor(async () => (await badge()) === 'Live'
    && Number(await row().locator('td[data-col="fps"]').textContent()) > 0,
  { what: 'the fleet row to show the box live with fps > 0', timeoutMs: 60000 });
  assert.notEqual(await row().locator('td[data-col="version"]').textContent(), '—');
  assert.notEqual(await row().locator('td[data-col="uptime"]').textContent(), '—');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  assert.match(await page.locator('#fleet-changes').textContent(), new RegExp(`${ROOM}: Live`));
  page.off('request', countPolls);
  assert.equal(polls, 0, 'no request for the list: every change was pushed');
}));

test('End turns the box idle and keeps focus on the button', () => env.diagnose(async () => {
  const end = row().getByRole('button', { name: `End: room ${ROOM}` });
  await end.focus();
  await page.keyboard.press('Enter');
  await page.locator('#fleet-notice').filter({ hasText: ROOM }).waitFor();
  await waitFor(async () => (await badge()) === 'Idle', { what: 'the fleet row to show idle', timeoutMs: 30000 });
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.dataset.action), 'end',
    'focus stays on the End button across refreshes');
  assert.match(await page.locator('#fleet-changes').textContent(), new RegExp(`${ROOM}: Idle`));
}));

test('filters hide rows by state, building and room', () => env.diagnose(async () => {
  await page.getByLabel('State').selectOption('live');
  assert.equal(await row().isHidden(), true, 'an idle box is hidden by state=live');
  assert.match(await page.locator('#fleet-status').textContent(), /0 of 1/);
  await page.getByLabel('State').selectOption('idle');
  assert.equal(await row().isVisible(), true);
  await page.getByLabel('Building').selectOption('North');
  assert.equal(await row().isVisible(), true);
  await page.getByLabel('Room', { exact: true }).fill('physics');
  assert.equal(await row().isVisible(), true, 'room filter matches the room name');
  await page.getByLabel('Room', { exact: true }).fill('chemistry');
  assert.equal(await row().isHidden(), true);
  await page.getByLabel('Room', { exact: true }).fill('');
  await page.getByLabel('State').selectOption('');
}));

test('the fleet view fits 360 px', () => env.diagnose(async () => {
  await page.setViewportSize({ width: 360, height: 740 });
  await row().waitFor({ state: 'visible' });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    'no horizontal scrolling at 360 px');
}));
