// The room camera is unplugged mid-lesson and plugged back in: the box keeps its WHIP session,
// students keep hearing the room (and see black), the box's status says it is audio-only and
// why, and the picture comes back after the replug. The virtual camera is "plugged in" while a
// file exists (the appliance's LECTERN_TEST_CAMERA_PLUG test hook).

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, waitFor } from './harness.mjs';

const ROOM = 'camera-unplug';
const env = new Env('camera_unplug');
let appliance;
let plug;

before(async () => {
  await env.diagnose(async () => {
    await env.startHub();
    plug = path.join(env.dataDir, 'camera-plug');
    writeFileSync(plug, '');
    appliance = env.startAppliance({
      room: ROOM,
      token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 102' }),
      env: { LECTERN_TEST_CAMERA_PLUG: plug },
    });
  });
});

after(() => env.close());

async function status(url) {
  const res = await fetch(url);
  return res.json();
}

test('an unplugged camera degrades the room to audio-only and comes back when replugged', { timeout: 120000 }, () => env.diagnose(async () => {
  const m = await appliance.waitForLine(/status endpoint listening addr=(\S+)/, 30000);
  const statusUrl = `http://${m[1]}/status`;
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'student');
  await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name: 'Ada' })));
  const fromDevice = async (kind) => (await inboundStats(page)).find((s) => s.role === 'device' && s.kind === kind);
  await waitFor(async () => ((await fromDevice('video'))?.framesDecoded ?? 0) > 10, { timeoutMs: 45000, what: 'the room video' });
  const before = await status(statusUrl);
  assert.equal(before.state, 'live');
  assert.equal(before.status, 'live');

  rmSync(plug);
  const degraded = await waitFor(async () => {
    const s = await status(statusUrl);
    return s.status.includes('audio only') ? s : null;
  }, { timeoutMs: 15000, what: 'status says audio only' });
  assert.equal(degraded.state, 'live', 'the session is kept');
  assert.match(degraded.status, /camera lost \(.*unplugged/);
  assert.match(degraded.last_error, /unplugged/);

  // The student keeps receiving both tracks: the room's sound and the black stand-in picture.
  const [audio0, video0] = [await fromDevice('audio'), await fromDevice('video')];
  await waitFor(async () => {
    const [a, v] = [await fromDevice('audio'), await fromDevice('video')];
    return a.packetsReceived > audio0.packetsReceived + 50 && v.framesDecoded > video0.framesDecoded + 10;
  }, { timeoutMs: 15000, what: 'audio packets and (black) frames keep arriving while the camera is gone' });

  writeFileSync(plug, '');
  const back = await waitFor(async () => {
    const s = await status(statusUrl);
    return s.status === 'live' ? s : null;
  }, { timeoutMs: 15000, what: 'status live again after the replug' });
  assert.equal(back.state, 'live');
  const video1 = await fromDevice('video');
  await waitFor(async () => (await fromDevice('video')).framesDecoded > video1.framesDecoded + 10,
    { timeoutMs: 15000, what: 'frames after the replug' });
  assert.ok(!appliance.lines.stderr.some((l) => /reconnecting|WHIP resource deleted/.test(l)),
    'the WHIP session was never torn down');
}));
