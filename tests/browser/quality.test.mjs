// The issue-16 connection-quality indicator and audio-only toggle on the student page
// (hub/assets/quality.js): levels, the estimate, which participants' tiles show "video paused";
// shown ("good") as soon as media is up, since the hub sends `quality` only when the level changes;
// and the toggle's `setAudioOnly` answered by the real hub's allocation.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { describeQuality, PAUSED_TEXT } from '../../hub/assets/quality.js';
import { Env, joinUrl, waitFor } from './harness.mjs';

const TRACKS = [
  { mid: '0', participantId: 1, kind: 'audio' },
  { mid: '1', participantId: 1, kind: 'video' },
  { mid: '2', participantId: 7, kind: 'video' },
];

test('a quality message gives the level in words and which video tiles are paused', () => {
  const q = describeQuality({ type: 'quality', level: 'reduced', estimateKbps: 412.6, paused: ['2', '0'] }, TRACKS);
  assert.equal(q.level, 'reduced');
  assert.equal(q.text, 'Connection: reduced (about 413 kbit/s)');
  assert.equal(q.bars, 2);
  assert.deepEqual([...q.pausedParticipants], [7], 'only video m-lines pause a tile');
  assert.equal(describeQuality({ level: 'audioOnly', paused: [] }, TRACKS).text, 'Connection: audio only');
  assert.equal(describeQuality({ level: 'good', estimateKbps: -1 }, TRACKS).text, 'Connection: good');
  assert.equal(describeQuality({ level: 'great' }, TRACKS), null, 'an unknown level is refused');
  assert.equal(describeQuality({ level: 'toString' }, TRACKS), null);
  assert.equal(PAUSED_TEXT, 'video paused: your connection is too slow');
});

const env = new Env('quality');
before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('on a good link the indicator says good and the audio-only toggle shows once media is up', { timeout: 60000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'Ada');
  const received = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => received.push(String(f.payload))));
  await page.goto(joinUrl(env.baseUrl, 'quality', env.mintToken({ room: 'quality', role: 'student', name: 'Ada' })));
  await waitFor(() => page.evaluate(() => window.lectern.publishPc?.connectionState === 'connected'), { what: 'camera and microphone sent (alone in the room: nothing to receive)' });
  const indicator = page.locator('[data-testid="quality"]');
  await waitFor(() => indicator.isVisible(), { what: 'the indicator' });
  assert.equal(await indicator.getAttribute('data-level'), 'good');
  assert.match(await indicator.textContent(), /Connection: good/);
  assert.ok(await page.getByRole('button', { name: 'My connection is poor: audio only' }).isVisible(), 'the toggle shows');
  assert.ok(!received.some((m) => m.includes('"type":"quality"')), `shown without any quality message from the hub: ${received.filter((m) => m.includes('quality'))}`);
}));

test('quality messages show the level in words and pause the right tile; the audio-only toggle pauses video at the hub and back', { timeout: 90000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const ROOM = 'quality-ui';
  const grace = await env.newPage(browser, 'Grace');
  await grace.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name: 'Grace' })));
  const graceId = await waitFor(() => grace.evaluate(() => window.lectern.self?.participantId), { what: 'Grace joined' });

  const ada = await env.newPage(browser, 'Ada');
  const kept = [];
  let toPage = null;
  await ada.routeWebSocket(/\/rtc$/, (ws) => {
    const server = ws.connectToServer();
    toPage = ws;
    ws.onMessage((m) => {
      if (String(m).includes('"setAudioOnly"')) kept.push(JSON.parse(String(m)));
      server.send(m);
    });
    server.onMessage((m) => ws.send(m));
  });
  await ada.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name: 'Ada' })));
  const graceVideoMid = await waitFor(() => ada.evaluate((id) => window.lectern.tracks.find((t) => t.participantId === id && t.kind === 'video')?.mid, graceId),
    { what: "Ada receives Grace's video" });
  const indicator = ada.locator('[data-testid="quality"]');
  const toggle = ada.getByRole('button', { name: /audio only/i });
  const paused = ada.locator(`#others .tile[data-participant-id="${graceId}"] [data-testid="video-paused"]`);
  await waitFor(async () => (await indicator.getAttribute('data-level')) === 'good' && (await indicator.isVisible()), { what: 'good from the start' });

  toPage.send(JSON.stringify({ type: 'quality', level: 'reduced', estimateKbps: 380, paused: [graceVideoMid] }));
  await waitFor(async () => (await indicator.isVisible()) && /reduced \(about 380 kbit\/s\)/.test(await indicator.textContent()),
    { what: 'the reduced indicator' });
  await waitFor(() => paused.isVisible(), { what: "Grace's tile saying her video is paused" });
  assert.equal(await paused.textContent(), 'video paused: your connection is too slow');

  // The toggle goes to the real hub, whose allocation pauses every video for Ada and says so.
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  await waitFor(() => kept.length === 1, { what: 'setAudioOnly sent' });
  assert.deepEqual(kept[0], { type: 'setAudioOnly', audioOnly: true });
  await waitFor(async () => (await indicator.getAttribute('data-level')) === 'audioOnly' && (await paused.isVisible()),
    { what: "the hub's audioOnly with Grace's video paused" });
  await toggle.click();
  await waitFor(() => kept.length === 2, { what: 'setAudioOnly false sent' });
  assert.deepEqual(kept[1], { type: 'setAudioOnly', audioOnly: false });
  await waitFor(async () => (await indicator.getAttribute('data-level')) !== 'audioOnly' && !(await paused.isVisible()),
    { what: 'video back, nothing paused' });
}));
