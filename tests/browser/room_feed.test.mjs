// The core promise: a student who opens a join link sees and hears the classroom.
// Hub + virtual appliance (videotestsrc/audiotestsrc over WHIP) + one headless Chromium student.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, lecternSnapshot, waitFor } from './harness.mjs';

const ROOM = 'room-feed';
const env = new Env('room_feed');

before(async () => {
  await env.diagnose(async () => {
    await env.startHub();
    env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' }) });
  });
});

after(() => env.close());

test('student sees and hears the room feed', { timeout: 90000 }, () => env.diagnose(async () => {
  const token = env.mintToken({ room: ROOM, role: 'student', name: 'Ada' });
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'student');

  const fromDevice = (stats, kind) => stats.find((s) => s.role === 'device' && s.kind === kind);

  const t0 = Date.now();
  await page.goto(joinUrl(env.baseUrl, ROOM, token));
  // Fine-grained polling for the latency figure only; the assertions below poll every 250 ms.
  await waitFor(async () => (fromDevice(await inboundStats(page), 'video')?.framesDecoded ?? 0) > 0, {
    timeoutMs: 45000, intervalMs: 25, what: 'a first decoded frame from the device',
  }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}` +
      `\ninbound: ${JSON.stringify(await inboundStats(page).catch(() => null))}`;
    throw err;
  });
  const joinToFirstFrameMs = Date.now() - t0;
  console.log('join-to-first-frame-ms', joinToFirstFrameMs);

  const video = await waitFor(async () => {
    const v = fromDevice(await inboundStats(page), 'video');
    return v && v.framesDecoded > 30 ? v : null;
  }, { what: 'framesDecoded > 30 on the device video' });
  assert.ok(video.framesDecoded > 30);

  const audio = await waitFor(async () => {
    const a = fromDevice(await inboundStats(page), 'audio');
    return a && a.packetsReceived > 0 ? a : null;
  }, { what: 'inbound audio packets from the device' });
  assert.ok(audio.packetsReceived > 0);

  assert.equal(await page.evaluate(() => window.lectern.state), 'connected');
  // The room feed is shown on the stage, tagged for what it is.
  const feed = page.locator(`#stage video[data-role="device"][data-participant-id="${video.participantId}"]`);
  assert.equal(await feed.count(), 1, 'the device video is on the stage');
  assert.ok(await feed.isVisible(), 'the device video is visible');
  // The element gets its first frame through the media pipeline, not with the receiver's stats.
  await waitFor(() => feed.evaluate((v) => v.videoWidth > 0), { what: 'the device video element renders frames' });
}));
