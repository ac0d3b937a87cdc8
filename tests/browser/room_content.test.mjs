// The teacher's laptop plugged into the classroom box: remote students see the slides large, like a
// screen share, beside the room camera. Hub + a virtual box with `--content` (a test picture on a
// second video m-line marked a=content:slides) + Chromium; the box's status endpoint shows that its
// return feed never carries its own laptop back into the room. The test laptop is "plugged in" while a
// file exists (the appliance's LECTERN_TEST_CONTENT_PLUG test hook).

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Env, inLesson, inboundStats, lecternSnapshot, openLesson, waitFor } from './harness.mjs';

const ROOM = 'room-content';
const env = new Env('room_content');
let appliance;
let statusUrl;
let plug;

/** The appliance's status document. */
async function status() {
  const res = await fetch(statusUrl, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`status endpoint answered ${res.status}`);
  return res.json();
}

before(() => env.diagnose(async () => {
  await env.startHub();
  plug = path.join(env.dataDir, 'laptop-plug');
  writeFileSync(plug, '');
  const token = env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' });
  appliance = env.startAppliance({
    room: ROOM, token, args: ['--content', 'virtual'], env: { LECTERN_TEST_CONTENT_PLUG: plug },
  });
  const m = await appliance.waitForLine(/status endpoint listening.*?(\d+\.\d+\.\d+\.\d+:\d+)/, 30000);
  statusUrl = `http://${m[1]}/status`;
  await waitFor(async () => (await status()).return_feed.state === 'live', {
    timeoutMs: 30000, what: 'the appliance live with its return feed playing',
  });
}));

after(() => env.close());

/** The page's screen track: its mid and inbound stats, once the hub marked one. */
async function screenStats(page) {
  const mid = await page.evaluate(() => window.lectern.tracks?.find((t) => t.kind === 'video' && t.screen)?.mid);
  if (mid == null) return null;
  return (await inboundStats(page)).find((s) => s.mid === String(mid)) || null;
}

test('students see the room camera and the laptop as slides; the room never gets its laptop back', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();

  // A receive-only viewer first: the laptop then flows through the hub while no remote camera
  // exists, so any video on the box's return feed could only be its own.
  const { page: hall } = await openLesson(env, browser, { room: ROOM, role: 'viewer', name: 'Hall display' });
  await waitFor(async () => ((await screenStats(hall))?.framesDecoded ?? 0) > 3, {
    timeoutMs: 45000, what: 'the viewer decodes the slides',
  }).catch(async (err) => {
    err.message += `\ninbound: ${JSON.stringify(await inboundStats(hall).catch(() => null))}`;
    throw err;
  });
  // An observation window, not a wait: ten return-feed selections (every 250 ms) send nothing back.
  const watchUntil = Date.now() + 2500;
  while (Date.now() < watchUntil) {
    const feed = (await status()).return_feed;
    assert.equal(feed.video_frames, 0, 'the box never receives its own laptop or camera');
    await new Promise((r) => setTimeout(r, 250));
  }

  const { page } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  await inLesson(page, 'Ada in the lesson');
  const screen = await waitFor(async () => {
    const s = await screenStats(page);
    return s && s.framesDecoded > 3 ? s : null;
  }, { timeoutMs: 45000, what: 'the slides decoding at the student' }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}` +
      `\ninbound: ${JSON.stringify(await inboundStats(page).catch(() => null))}`;
    throw err;
  });
  assert.equal(screen.role, 'device', 'the screen share comes from the classroom box');
  const camera = await waitFor(async () => (await inboundStats(page))
    .find((s) => s.kind === 'video' && s.role === 'device' && s.mid !== screen.mid && s.framesDecoded > 30),
  { what: 'the room camera decoding beside the slides' });
  assert.equal(camera.participantId, screen.participantId, 'one box sends both');

  // Shown large, at the configured 1920x1080, and still moving (5 fps, a clock on every frame).
  const shown = page.getByTestId('screen');
  await waitFor(() => shown.isVisible(), { what: 'the slides shown large' });
  assert.match(await page.locator('#screen-caption').textContent(), /Slides from Room 101/);
  const size = await waitFor(() => page.locator('#screen-video').evaluate((v) =>
    (v.videoWidth > 0 ? { width: v.videoWidth, height: v.videoHeight } : null)), { what: 'the slides element renders' });
  assert.deepEqual(size, { width: 1920, height: 1080 });
  const painted = () => page.locator('#screen-video').evaluate((v) => v.getVideoPlaybackQuality().totalVideoFrames);
  const first = await painted();
  await waitFor(async () => (await painted()) >= first + 5, { what: 'five more slide frames painted' });
  const feed = page.locator(`#stage video[data-role="device"][data-participant-id="${camera.participantId}"]`);
  await waitFor(() => feed.evaluate((v) => v.videoWidth > 0), { what: 'the room camera renders on the stage' });
  assert.equal((await status()).state, 'live');
}));

test('an unplugged laptop leaves camera and microphone going and comes back when replugged', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const { page } = await openLesson(env, browser, { room: ROOM, name: 'Bob' });
  await inLesson(page, 'Bob in the lesson');
  const screen = await waitFor(async () => {
    const s = await screenStats(page);
    return s && s.framesDecoded > 3 ? s : null;
  }, { timeoutMs: 45000, what: 'the slides decoding' });
  const fromRoom = async (kind) => (await inboundStats(page))
    .find((s) => s.role === 'device' && s.kind === kind && s.mid !== screen.mid);
  await waitFor(async () => ((await fromRoom('video'))?.framesDecoded ?? 0) > 10, { what: 'the room camera' });

  rmSync(plug);
  const degraded = await waitFor(async () => {
    const s = await status();
    return s.status.includes('content lost') ? s : null;
  }, { timeoutMs: 15000, what: 'status says the content is lost' });
  assert.equal(degraded.state, 'live', 'the session is kept');
  assert.match(degraded.status, /no laptop picture: content lost \(.*unplugged/);
  assert.doesNotMatch(degraded.status, /audio only|video only/, 'camera and microphone are fine');

  // Camera, microphone and the track itself (now saying "No laptop connected") keep arriving.
  const [audio0, video0, slides0] = [await fromRoom('audio'), await fromRoom('video'), await screenStats(page)];
  await waitFor(async () => {
    const [a, v, sl] = [await fromRoom('audio'), await fromRoom('video'), await screenStats(page)];
    return a.packetsReceived > audio0.packetsReceived + 50 && v.framesDecoded > video0.framesDecoded + 30
      && sl.framesDecoded > slides0.framesDecoded + 5;
  }, { timeoutMs: 15000, what: 'room audio, room video and stand-in slides keep arriving' });

  writeFileSync(plug, '');
  await waitFor(async () => (await status()).status === 'live', { timeoutMs: 15000, what: 'status live again' });
  const slides1 = await screenStats(page);
  await waitFor(async () => (await screenStats(page)).framesDecoded > slides1.framesDecoded + 5,
    { timeoutMs: 15000, what: 'slides after the replug' });
  assert.ok(!appliance.lines.stderr.some((l) => /reconnecting|WHIP resource deleted/.test(l)),
    'the WHIP session was never torn down');
}));
