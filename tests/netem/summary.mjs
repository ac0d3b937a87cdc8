// From raw getStats samples to the per-phase figures of a scenario's JSON. Pure functions: the
// sampler's output in, numbers out (summary.test.mjs drives them with made-up samples).
//
// A raw sample (student.mjs): { t (s), pc, state, ice, video: { framesDecoded, frameWidth,
// framesPerSecond, freezeCount, totalFreezesDuration } | null, audio: { concealedSamples,
// totalSamplesReceived } | null, bytes (transport bytesReceived) | null, pair: { local, remote,
// protocol } | null, slides: { framesDecoded, frameWidth } | null (the box's slides track) }.

/** A gap without a new frame longer than this, still open when a phase ends, counts as frozen. */
export const OPEN_FREEZE_SEC = 0.5;

const COUNTERS = {
  frames: (s) => s.video?.framesDecoded,
  freezeCount: (s) => s.video?.freezeCount,
  freezeTotal: (s) => s.video?.totalFreezesDuration,
  concealed: (s) => s.audio?.concealedSamples,
  audioTotal: (s) => s.audio?.totalSamplesReceived,
  bytes: (s) => s.bytes,
  slidesFrames: (s) => s.slides?.framesDecoded,
};

/**
 * Makes the counters monotonic over the whole run: a new peer connection (a reconnect) or a counter
 * that went down starts from where the previous one stopped. Adds `stall`: Chromium's total freeze
 * time, plus a gap still open (no new frame for over OPEN_FREEZE_SEC, also before the first frame or
 * across a reconnect), never decreasing.
 */
export function accumulate(samples) {
  const base = Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, 0]));
  const last = {};
  let lastPc = null;
  let reconnects = 0;
  let lastFrameAt = samples.length ? samples[0].t : 0;
  let stall = 0;
  const out = [];
  for (const s of samples) {
    const newPc = s.pc != null && lastPc != null && s.pc !== lastPc;
    if (newPc) reconnects += 1;
    if (s.pc != null) lastPc = s.pc;
    const acc = { t: s.t, width: s.video?.frameWidth || 0, slidesWidth: s.slides?.frameWidth || 0, slides: !!s.slides,
      pair: s.pair || null, state: s.state, ice: s.ice, reconnects };
    for (const [k, get] of Object.entries(COUNTERS)) {
      const raw = get(s);
      if (raw == null) { acc[k] = base[k] + (last[k] ?? 0); continue; }
      if (last[k] != null && (newPc || raw < last[k])) base[k] += last[k];
      last[k] = raw;
      acc[k] = base[k] + raw;
    }
    const prev = out[out.length - 1];
    if (prev && acc.frames > prev.frames) lastFrameAt = s.t;
    const open = s.t - lastFrameAt > OPEN_FREEZE_SEC ? s.t - lastFrameAt : 0;
    stall = Math.max(stall, acc.freezeTotal + open);
    acc.stall = stall;
    out.push(acc);
  }
  return out;
}

const round = (x, digits = 1) => (x == null || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));

/** The first sample at or after `t` (the last one if none is). */
function from(acc, t) {
  return acc.find((a) => a.t >= t - 1e-6) || acc[acc.length - 1];
}

/** The last sample at or before `t` (the first one if none is). */
function until(acc, t) {
  let best = acc[0];
  for (const a of acc) if (a.t <= t + 1e-6) best = a;
  return best;
}

/** A pair's types as "local/remote" (e.g. "relay/host"), or null. */
export function pairName(pair) {
  return pair ? `${pair.local}/${pair.remote}${pair.protocol && pair.protocol !== 'udp' ? ` ${pair.protocol}` : ''}` : null;
}

/**
 * Per phase ({ name, from, to } in seconds; figures from its first sample to its last): videoFps, maxWidth, endWidth (the
 * width at the phase's end), switchSec (seconds from the phase's start to the first frame width other than the one
 * it started with: a layer switch; null if none), endSec (seconds from the phase's start to the first frame of the
 * run of end-width frames it ended with: when the last switch happened; null if it never left its first width), freezeSec, audioConcealedPct, kbps,
 * relay (the selected pair at the phase's end uses a TURN relay; null when no pair is selected), and
 * for the human table freezes, pair, reconnects (new subscribe connections) and pageStates (the
 * student page's states in order, e.g. connected>reconnecting>connected). With a slides track: slidesFps,
 * slidesMinWidth (the smallest slides frame width seen in the phase) and slidesGapSec (the longest time without a new
 * slides frame, the phase's edges counted).
 */
export function summarise(samples, phases) {
  const acc = accumulate(samples);
  return phases.map((p) => {
    if (!acc.length) return { name: p.name, from: p.from, to: p.to, videoFps: 0, maxWidth: 0, endWidth: 0, switchSec: null, endSec: null, freezeSec: round(p.to - p.from), audioConcealedPct: null, kbps: 0, relay: null, freezes: 0, pair: null, reconnects: 0, pageStates: '-' };
    const a = from(acc, p.from);
    const b = until(acc, p.to);
    const dt = b.t - a.t;
    const inside = acc.filter((x) => x.t > p.from && x.t <= p.to + 1e-6);
    const audio = b.audioTotal - a.audioTotal;
    let run = inside.length;
    while (run > 0 && inside[run - 1].width === b.width) run -= 1;
    const switched = run > 0 || a.width !== b.width;
    return {
      name: p.name,
      from: round(p.from),
      to: round(p.to),
      videoFps: dt > 0 ? round((b.frames - a.frames) / dt) : 0,
      maxWidth: Math.max(0, ...inside.map((x) => x.width)),
      endWidth: b.width,
      switchSec: round(inside.find((x) => x.width && x.width !== a.width)?.t - p.from),
      endSec: switched && inside[run] ? round(inside[run].t - p.from) : null,
      freezeSec: round(b.stall - a.stall),
      audioConcealedPct: audio > 0 ? round((100 * (b.concealed - a.concealed)) / audio) : null,
      kbps: dt > 0 ? Math.round(((b.bytes - a.bytes) * 8) / dt / 1000) : 0,
      relay: b.pair ? b.pair.local === 'relay' || b.pair.remote === 'relay' : null,
      freezes: b.freezeCount - a.freezeCount,
      pair: pairName(b.pair),
      reconnects: b.reconnects - a.reconnects,
      pageStates: [a, ...inside].map((x) => x.state || '-').filter((st, i, all) => i === 0 || st !== all[i - 1]).join('>'),
      ...(acc.some((x) => x.slides) ? slidesFigures(a, b, inside, p) : {}),
    };
  });
}

function slidesFigures(a, b, inside, p) {
  const dt = b.t - a.t;
  let last = p.from;
  let gap = 0;
  let prev = a.slidesFrames;
  for (const x of inside) {
    if (x.slidesFrames > prev) {
      gap = Math.max(gap, x.t - last);
      last = x.t;
    }
    prev = x.slidesFrames;
  }
  gap = Math.max(gap, p.to - last);
  const widths = inside.map((x) => x.slidesWidth).filter((w) => w > 0);
  return {
    slidesFps: dt > 0 ? round((b.slidesFrames - a.slidesFrames) / dt) : 0,
    slidesMinWidth: widths.length ? Math.min(...widths) : 0,
    slidesGapSec: round(gap),
  };
}
