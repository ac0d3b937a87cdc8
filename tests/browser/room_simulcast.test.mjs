// Simulcast end to end: a virtual classroom box configured with a lower [[video.simulcast]] layer
// publishes both layers on one m-line; the hub receives both and forwards the top one, so the
// student's Chromium decodes frames at the main picture's size.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, lecternSnapshot, waitFor } from './harness.mjs';

const ROOM = 'room-simulcast';
const TOP = { width: 640, height: 360 };
const env = new Env('room_simulcast');

before(async () => {
  await env.diagnose(async () => {
    await env.startHub();
    // startAppliance reads its configuration from its state dir (the first box's is appliance0).
    const stateDir = path.join(env.dataDir, 'appliance0');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, 'appliance.toml'), [
      '[video]', `width = ${TOP.width}`, `height = ${TOP.height}`, 'bitrate_kbps = 500', 'encoders = ["x264enc"]',
      '[[video.simulcast]]', 'width = 320', 'height = 180', 'bitrate_kbps = 150', '',
    ].join('\n'));
    env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' }) });
  });
});

after(() => env.close());

test('student receives the top simulcast layer of the room feed', { timeout: 90000 }, () => env.diagnose(async () => {
  // Both layers reach the hub, each named by its RID.
  for (const rid of ['f', 'h']) {
    await env.hub.waitForLine(new RegExp(`simulcast layer arriving rid=${rid}\\b`), 45000);
  }
  const token = env.mintToken({ room: ROOM, role: 'student', name: 'Ada' });
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'student');
  await page.goto(joinUrl(env.baseUrl, ROOM, token));

  const fromDevice = (stats) => stats.find((s) => s.role === 'device' && s.kind === 'video');
  const video = await waitFor(async () => {
    const v = fromDevice(await inboundStats(page));
    return v && v.framesDecoded > 30 && v.frameWidth === TOP.width ? v : null;
  }, { timeoutMs: 45000, what: `more than 30 frames decoded at the top layer's ${TOP.width} px width` }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}` +
      `\ninbound: ${JSON.stringify(await inboundStats(page).catch(() => null))}`;
    throw err;
  });
  assert.equal(video.frameHeight, TOP.height);
  // The element shows the same picture size.
  const feed = page.locator(`#stage video[data-role="device"][data-participant-id="${video.participantId}"]`);
  await waitFor(() => feed.evaluate((v, w) => v.videoWidth === w, TOP.width), { what: 'the device video renders at the top size' });
}));
