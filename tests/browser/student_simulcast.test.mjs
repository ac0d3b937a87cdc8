// Students' cameras go out in two simulcast layers (hub/assets/publish.js, issue 16), so the hub's
// per-subscriber allocator can send each viewer the layer its link carries: Chromium sends both
// layers, the hub measures both and forwards one of them per viewer (the room's stats name it),
// and the viewer decodes it. Which layer a slow link gets is the allocator's (unit tests) and the
// network bed's (docs/network.md) business; here the link is loopback, so the top one.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { CAMERA_LAYERS } from '../../hub/assets/publish.js';
import { Env, inboundStats, inLesson, openLesson, waitFor } from './harness.mjs';

const ROOM = 'student-simulcast';
const env = new Env('student_simulcast');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

/** The publish connection's video layers: { rid: { bytesSent, frameWidth } }. */
function outboundLayers(page) {
  return page.evaluate(async () => {
    const out = {};
    const stats = await window.lectern.publishPc.getStats();
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) out[s.rid] = { bytesSent: s.bytesSent || 0, frameWidth: s.frameWidth || 0 };
    });
    return out;
  });
}

test("a student's camera is sent in two layers and each viewer gets one of them", { timeout: 120000 }, () => env.diagnose(async () => {
  assert.deepEqual(CAMERA_LAYERS.map((l) => l.rid), ['q', 'f'], 'lowest first, named as the box names its layers');
  const browser = await env.launchBrowser();
  const { page: grace } = await openLesson(env, browser, { room: ROOM, name: 'Grace' });
  const graceId = await inLesson(grace, 'Grace in');
  const { page: ada } = await openLesson(env, browser, { room: ROOM, name: 'Ada' });
  await inLesson(ada, 'Ada in');

  // Chromium sends both layers, the low one at half the size.
  const first = await waitFor(async () => {
    const l = await outboundLayers(grace);
    return l.q?.bytesSent > 0 && l.f?.bytesSent > 0 && l.q.frameWidth > 0 && l.f.frameWidth > 0 ? l : null;
  }, { what: "both of Grace's layers sending", timeoutMs: 30000 });
  assert.ok(first.q.frameWidth * 2 <= first.f.frameWidth + 1, JSON.stringify(first));
  await waitFor(async () => {
    const l = await outboundLayers(grace);
    return l.q.bytesSent > first.q.bytesSent && l.f.bytesSent > first.f.bytesSent;
  }, { what: 'both layers still sending' });

  // The hub forwards Ada one layer of Grace's camera, and says which.
  const teacherToken = env.mintToken({ room: ROOM, role: 'teacher', name: 'Ms Curie' });
  const track = await waitFor(async () => {
    const res = await fetch(`${env.baseUrl}/api/rooms/${ROOM}/stats`, { headers: { Authorization: `Bearer ${teacherToken}` } });
    if (!res.ok) return null;
    const adaStats = (await res.json()).participants.find((p) => p.name === 'Ada');
    return adaStats?.tracks.find((t) => t.from === graceId && t.kind === 'video' && t.rid) || null;
  }, { what: "the hub forwarding Ada a layer of Grace's camera", timeoutMs: 30000 });
  assert.ok(['q', 'f'].includes(track.rid), JSON.stringify(track));
  assert.equal(track.paused, false);

  // Ada decodes it, at that layer's size (the top one on loopback, once the estimate allows).
  await waitFor(async () => {
    const v = (await inboundStats(ada)).find((s) => s.kind === 'video' && s.participantId === graceId);
    return v && v.framesDecoded > 30 && v.frameWidth === first.f.frameWidth;
  }, { what: "Ada decoding Grace's top layer", timeoutMs: 30000 });
}));
