// The other half of the hybrid classroom: the room hears and sees the remote students.
// Hub + virtual appliance (its return feed plays headless: decoded audio is measured, decoded
// frames counted) + one Chromium student with a fake microphone (a beeping tone) and camera.
// The appliance's status endpoint says what the room received.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, joinUrl, lecternSnapshot, waitFor } from './harness.mjs';

const ROOM = 'return-feed';
const env = new Env('return_feed');
let appliance;
let statusUrl;

/** The appliance's status document. */
async function status() {
  const res = await fetch(statusUrl, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`status endpoint answered ${res.status}`);
  return res.json();
}

before(() => env.diagnose(async () => {
  await env.startHub();
  appliance = env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' }) });
  const m = await appliance.waitForLine(/status endpoint listening.*?(\d+\.\d+\.\d+\.\d+:\d+)/, 30000);
  statusUrl = `http://${m[1]}/status`;
  // The return feed starts once the room is live; without students it plays silence.
  await waitFor(async () => (await status()).return_feed.state === 'live', {
    timeoutMs: 30000, what: 'the appliance live with its return feed playing',
  });
}));

after(() => env.close());

test('the room hears and sees a remote student', { timeout: 90000 }, () => env.diagnose(async () => {
  const before = (await status()).return_feed;
  assert.equal(before.video_frames, 0, 'no student, no video');
  assert.equal(before.audio_level_db, null, 'no student, silence');

  const token = env.mintToken({ room: ROOM, role: 'student', name: 'Ada' });
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'student');
  const t0 = Date.now();
  await page.goto(joinUrl(env.baseUrl, ROOM, token));

  let firstFrameMs = null;
  const feed = await waitFor(async () => {
    const f = (await status()).return_feed;
    if (firstFrameMs === null && f.video_frames > 0) firstFrameMs = Date.now() - t0;
    return f.video_frames > 30 ? f : null;
  }, { timeoutMs: 45000, what: 'return_feed.video_frames > 30 at the appliance' }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}`;
    throw err;
  });
  console.log('join-to-first-room-frame-ms', firstFrameMs, 'codec', feed.video_codec);
  assert.ok(['VP8', 'H264'].includes(feed.video_codec), `a codec the appliance decodes: ${feed.video_codec}`);

  // The fake microphone beeps once a second: poll until a beep is playing.
  let loudest = -Infinity;
  const audio = await waitFor(async () => {
    const f = (await status()).return_feed;
    if (f.audio_level_db !== null) loudest = Math.max(loudest, f.audio_level_db);
    return f.audio_level_db !== null && f.audio_level_db > -50 ? f : null;
  }, { timeoutMs: 45000, intervalMs: 100, what: 'return_feed.audio_level_db > -50 at the appliance' });
  console.log('room-audio-level-db', audio.audio_level_db, 'video-frames', audio.video_frames);
  assert.equal(audio.state, 'live');

  // The room's own camera kept going throughout.
  assert.equal((await status()).state, 'live');
  assert.ok(loudest > -50);
}));
