// The issue-16 connection-quality message as the student page reads it (hub/assets/quality.js):
// levels, the estimate, and which participants' tiles show "video paused". The hub does not send
// `quality` yet on this branch: the page talks to the real hub through Playwright's WebSocket route,
// which adds `quality` messages and keeps `setAudioOnly` (which this hub would refuse) for itself.

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

test('without quality messages from the hub, no indicator and no audio-only toggle show', { timeout: 60000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'Ada');
  const sent = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
  await page.goto(joinUrl(env.baseUrl, 'quality', env.mintToken({ room: 'quality', role: 'student', name: 'Ada' })));
  await waitFor(() => page.evaluate(() => window.lectern.state === 'connected'), { what: 'connected' });
  assert.equal(await page.locator('[data-testid="quality"]').isVisible(), false);
  assert.equal(await page.locator('[data-testid="audio-only"]').isVisible(), false);
  assert.ok(!sent.some((m) => m.includes('setAudioOnly')), 'no setAudioOnly to a hub that did not offer it');
}));

test('quality messages show the level in words, pause the right tile and enable the audio-only toggle', { timeout: 90000 }, () => env.diagnose(async () => {
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
      else server.send(m);
    });
    server.onMessage((m) => ws.send(m));
  });
  await ada.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name: 'Ada' })));
  const graceVideoMid = await waitFor(() => ada.evaluate((id) => window.lectern.tracks.find((t) => t.participantId === id && t.kind === 'video')?.mid, graceId),
    { what: "Ada receives Grace's video" });
  const indicator = ada.locator('[data-testid="quality"]');
  const toggle = ada.getByRole('button', { name: /audio only/i });
  const paused = ada.locator(`#others .tile[data-participant-id="${graceId}"] [data-testid="video-paused"]`);
  assert.equal(await indicator.isVisible(), false);

  toPage.send(JSON.stringify({ type: 'quality', level: 'reduced', estimateKbps: 380, paused: [graceVideoMid] }));
  await waitFor(async () => (await indicator.isVisible()) && /reduced \(about 380 kbit\/s\)/.test(await indicator.textContent()),
    { what: 'the reduced indicator' });
  await waitFor(() => paused.isVisible(), { what: "Grace's tile saying her video is paused" });
  assert.equal(await paused.textContent(), 'video paused: your connection is too slow');

  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  await waitFor(() => kept.length === 1, { what: 'setAudioOnly sent' });
  assert.deepEqual(kept[0], { type: 'setAudioOnly', audioOnly: true });
  await toggle.click();
  await waitFor(() => kept.length === 2, { what: 'setAudioOnly false sent' });
  assert.deepEqual(kept[1], { type: 'setAudioOnly', audioOnly: false });

  toPage.send(JSON.stringify({ type: 'quality', level: 'good', estimateKbps: 2400, paused: [] }));
  await waitFor(async () => /good/.test(await indicator.textContent()) && !(await paused.isVisible()), { what: 'good again, nothing paused' });
  assert.equal(await indicator.getAttribute('data-level'), 'good');
}));
