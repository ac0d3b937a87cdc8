// The per-phase arithmetic of the bed's reports, on made-up samples (no network, no browser).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { accumulate, summarise } from './summary.mjs';

const host = { local: 'host', remote: 'host', protocol: 'udp' };
/** One sample per second: `fps` frames a second at `width`, 48 kHz audio with `lost` of it concealed. */
function run(seconds, { fps = 30, width = 1280, kbps = 1000, lost = 0, pc = 1, start = {} } = {}) {
  const out = [];
  let { frames = 0, bytes = 0, concealed = 0, total = 0, t = 0 } = start;
  for (let i = 0; i <= seconds; i++, t++) {
    out.push({ t, pc, state: 'connected', ice: 'connected', bytes, pair: host,
      video: { framesDecoded: frames, frameWidth: width, framesPerSecond: fps, freezeCount: 0, totalFreezesDuration: 0 },
      audio: { concealedSamples: concealed, totalSamplesReceived: total } });
    frames += fps; bytes += (kbps * 1000) / 8; concealed += lost * 48000; total += 48000;
  }
  return out;
}

test('a steady phase reports its frame rate, width, rate and no freeze', () => {
  const [p] = summarise(run(10), [{ name: 'clear', from: 0, to: 10 }]);
  assert.deepEqual({ ...p }, { name: 'clear', from: 0, to: 10, videoFps: 30, maxWidth: 1280, endWidth: 1280, switchSec: null, endSec: null,
    freezeSec: 0, audioConcealedPct: 0, kbps: 1000, relay: false, freezes: 0, pair: 'host/host', reconnects: 0, pageStates: 'connected' });
});

test('a layer switch inside a phase is timed from the phase start, and the width it ends on reported', () => {
  const samples = run(10).map((s) => (s.t >= 7 ? { ...s, video: { ...s.video, frameWidth: 320 } } : s));
  const [, capped] = summarise(samples, [{ name: 'clear', from: 0, to: 4 }, { name: 'cap', from: 4, to: 10 }]);
  assert.equal(capped.switchSec, 3);
  assert.equal(capped.endWidth, 320);
  assert.equal(capped.endSec, 3);
  assert.equal(capped.maxWidth, 1280);
});

test('a phase that climbs through layers is timed to the width it ends on', () => {
  const width = (t) => (t < 6 ? 320 : t < 9 ? 640 : 1280);
  const samples = run(15).map((s) => ({ ...s, video: { ...s.video, frameWidth: width(s.t) } }));
  const [, after] = summarise(samples, [{ name: 'cap', from: 0, to: 4 }, { name: 'after', from: 4, to: 15 }]);
  assert.equal(after.switchSec, 2, 'the first switch (to 640)');
  assert.equal(after.endSec, 5, 'the last one (to 1280)');
  assert.equal(after.endWidth, 1280);
});

test('a stall still going on when the phase ends counts as frozen', () => {
  const samples = run(5);
  const last = samples[samples.length - 1];
  for (let t = 6; t <= 10; t++) samples.push({ ...last, t }); // no new frame, no bytes
  const [, stalled] = summarise(samples, [{ name: 'a', from: 0, to: 5 }, { name: 'b', from: 5, to: 10 }]);
  assert.equal(stalled.videoFps, 0);
  assert.equal(stalled.kbps, 0);
  assert.equal(stalled.freezeSec, 5);
});

test('a reconnect starts new counters without negative figures, and is counted', () => {
  const first = run(5, { pc: 1 });
  const second = run(5, { pc: 2, start: { t: 6 } }); // a new connection's counters start at 0
  const [p] = summarise([...first, ...second], [{ name: 'all', from: 0, to: 11 }]);
  assert.equal(p.reconnects, 1);
  assert.ok(p.videoFps > 25 && p.videoFps <= 30, `fps ${p.videoFps}`);
  assert.ok(p.freezeSec >= 0);
});

test('concealed audio is a share of the samples played out', () => {
  const [p] = summarise(run(10, { lost: 0.05 }), [{ name: 'loss', from: 0, to: 10 }]);
  assert.equal(p.audioConcealedPct, 5);
});

test('a relayed pair is reported as relay', () => {
  const samples = run(3).map((s) => ({ ...s, pair: { local: 'relay', remote: 'host', protocol: 'udp' } }));
  const [p] = summarise(samples, [{ name: 'relay', from: 0, to: 3 }]);
  assert.equal(p.relay, true);
  assert.equal(p.pair, 'relay/host');
});

test('no media at all: the whole phase is frozen and nothing is relayed', () => {
  const samples = [0, 1, 2, 3, 4].map((t) => ({ t, pc: 1, state: 'connected', ice: 'checking', video: null, audio: null, bytes: null, pair: null }));
  const [p] = summarise(samples, [{ name: 'relay', from: 0, to: 4 }]);
  assert.equal(p.videoFps, 0);
  assert.equal(p.freezeSec, 4);
  assert.equal(p.relay, null);
  assert.equal(p.audioConcealedPct, null);
});

test('counters are made monotonic', () => {
  const acc = accumulate([...run(2, { pc: 1 }), ...run(2, { pc: 2, start: { t: 3 } })]);
  for (let i = 1; i < acc.length; i++) assert.ok(acc[i].frames >= acc[i - 1].frames && acc[i].bytes >= acc[i - 1].bytes);
});

test('a phase starts at its first sample, not at the one taken before its impairment was set', () => {
  const samples = run(5); // frames flow until t = 5
  const last = samples[samples.length - 1];
  for (let t = 6; t <= 9; t++) samples.push({ ...last, t: t + 0.4 }); // set took 0.4 s, then nothing decoded
  const [, black] = summarise(samples, [{ name: 'clear', from: 0, to: 5 }, { name: 'blackout', from: 5.3, to: 9.4 }]);
  assert.equal(black.videoFps, 0);
  assert.equal(black.kbps, 0);
});

test('slides are counted apart: their frame rate, smallest width and longest gap per phase', () => {
  // 5 fps at 1920 wide, except no new slides frame from t=12 to t=15.
  const samples = run(20).map((s) => ({ ...s, slides: { framesDecoded: 5 * Math.min(s.t, 12) + (s.t > 15 ? 5 * (s.t - 15) : 0), frameWidth: 1920 } }));
  const [clear, cap] = summarise(samples, [{ name: 'clear', from: 0, to: 10 }, { name: 'cap', from: 10, to: 20 }]);
  assert.deepEqual([clear.slidesFps, clear.slidesMinWidth, clear.slidesGapSec], [5, 1920, 1]);
  assert.equal(cap.slidesGapSec, 4, 'from the last new frame at 12 s to the next at 16 s');
  assert.equal(cap.slidesMinWidth, 1920);
  assert.equal(summarise(run(5), [{ name: 'clear', from: 0, to: 5 }])[0].slidesFps, undefined, 'no slides, no columns');
});
