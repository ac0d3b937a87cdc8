// Join → first frame of the classroom camera in headless Chromium, with where the time goes
// (issue 24, item 3). Not a test: it prints figures. A hub and a virtual box (test sources) run;
// each join opens the join page in a fresh browser context (nothing cached, as a student's first
// visit) and times, from the page's navigation start, every step up to the first frame the room
// video presents (`requestVideoFrameCallback`). The page is instrumented from outside (an init
// script wraps WebSocket, RTCPeerConnection and getUserMedia): the app is measured as it ships.
//
// Run (release hub, as docs/performance.md records it):
//   cargo build --release -p lectern-hub && cargo build -p lectern-appliance
//   node tests/browser/measure/first-frame.mjs [--joins 15] [--role student|viewer] [--debug]
// `--debug` uses target/debug/lectern-hub; LECTERN_HUB_BIN overrides either.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    joins: { type: 'string', default: '15' },
    role: { type: 'string', default: 'student' },
    debug: { type: 'boolean', default: false },
  },
});
const JOINS = Number(opts.joins);
if (!Number.isInteger(JOINS) || JOINS < 1) throw new Error(`--joins must be a positive integer, not ${opts.joins}`);
if (!['student', 'viewer', 'teacher'].includes(opts.role)) throw new Error(`--role must be student, viewer or teacher, not ${opts.role}`);

// The harness reads LECTERN_HUB_BIN when it is imported: choose the build first.
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
if (!process.env.LECTERN_HUB_BIN) {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
  process.env.LECTERN_HUB_BIN = path.join(target, opts.debug ? 'debug' : 'release', 'lectern-hub');
}
const { Env, HUB_BIN, joinUrl, waitFor } = await import('../harness.mjs');

const ROOM = 'first-frame';
/** Steps in the order a join normally passes them; each is ms since the page's navigation start. */
const STEPS = [
  ['responseEnd', 'join.html received'],
  ['bootJs', 'boot.js received (after the change)'],
  ['appJs', 'app.js received'],
  ['lastModule', 'last module received'],
  ['domContentLoaded', 'DOMContentLoaded (modules run)'],
  ['wsCreated', 'WebSocket created'],
  ['wsOpen', 'WebSocket open'],
  ['joined', '`joined` received'],
  ['subscribeOffer', '`subscribeOffer` received'],
  ['subscribeAnswer', '`subscribeAnswer` sent'],
  ['iceChecking', 'subscribe ICE checking'],
  ['iceConnected', 'subscribe ICE connected'],
  ['dtlsConnected', 'subscribe DTLS connected'],
  ['videoTrack', 'room video track event'],
  ['firstRtp', 'first frame\'s first packet (rVFC receiveTime)'],
  ['videoAttached', 'room video given to its element (srcObject)'],
  ['loadEvent', 'page `load` event'],
  ['firstFrame', 'first frame presented (rVFC)'],
  ['gumStart', 'getUserMedia called'],
  ['gumDone', 'getUserMedia resolved'],
  ['publishOffer', '`publishOffer` sent'],
  ['publishAnswer', '`publishAnswer` received'],
];

/** Runs in the page before its scripts: records when each step happens into `window.__ff`. */
function instrument() {
  const ff = { marks: {} };
  window.__ff = ff;
  const mark = (name) => { if (!(name in ff.marks)) ff.marks[name] = performance.now(); };

  const NativeWs = window.WebSocket;
  window.WebSocket = class extends NativeWs {
    constructor(...args) {
      super(...args);
      mark('wsCreated');
      // Registered before the app's listeners: fires first, so the time is the arrival.
      this.addEventListener('open', () => mark('wsOpen'));
      this.addEventListener('message', (ev) => {
        try {
          const msg = JSON.parse(ev.data);
          if (msg && typeof msg.type === 'string') mark(msg.type);
        } catch { /* not ours to judge */ }
      });
    }

    send(data) {
      try {
        const msg = JSON.parse(data);
        if (msg && typeof msg.type === 'string') mark(msg.type);
      } catch { /* idem */ }
      return super.send(data);
    }
  };

  // The subscribe connection is the one that receives an offer.
  const NativeSrd = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function srd(desc, ...rest) {
    if (desc && desc.type === 'offer' && !this.__ffWatched) {
      this.__ffWatched = true;
      this.addEventListener('iceconnectionstatechange', () => {
        if (this.iceConnectionState === 'checking') mark('iceChecking');
        if (this.iceConnectionState === 'connected') mark('iceConnected');
      });
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected') mark('dtlsConnected');
      });
      this.addEventListener('track', (ev) => { if (ev.track.kind === 'video') mark('videoTrack'); });
    }
    return NativeSrd.call(this, desc, ...rest);
  };

  window.addEventListener('load', () => mark('loadEvent'));

  const md = navigator.mediaDevices;
  if (md && md.getUserMedia) {
    const nativeGum = md.getUserMedia.bind(md);
    md.getUserMedia = (...args) => {
      mark('gumStart');
      return nativeGum(...args).then((s) => { mark('gumDone'); return s; });
    };
  }

  // The room camera's tile (ui.js sets data-role="device" before giving it a track).
  const desc = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'srcObject');
  Object.defineProperty(HTMLMediaElement.prototype, 'srcObject', {
    configurable: true,
    get() { return desc.get.call(this); },
    set(stream) {
      desc.set.call(this, stream);
      if (!(this instanceof HTMLVideoElement) || this.dataset.role !== 'device' || !stream || ff.marks.firstFrame) return;
      mark('videoAttached');
      this.addEventListener('loadeddata', () => mark('loadedData'), { once: true });
      this.requestVideoFrameCallback((now, meta) => {
        if ('firstFrame' in ff.marks) return;
        if (typeof meta.receiveTime === 'number') ff.marks.firstRtp = meta.receiveTime;
        mark('firstFrame');
      });
    },
  });
}

/** Navigation timing of the document, ms since navigation start. */
function navTiming() {
  const [n] = performance.getEntriesByType('navigation');
  const out = n ? { responseEnd: n.responseEnd, domContentLoaded: n.domContentLoadedEventEnd } : {};
  const scripts = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.js'));
  const at = (file) => scripts.find((e) => e.name.endsWith(`/assets/${file}`))?.responseEnd;
  out.bootJs = at('boot.js');
  out.appJs = at('app.js');
  if (scripts.length) out.lastModule = Math.max(...scripts.map((e) => e.responseEnd));
  return out;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const r = (x) => (x == null || Number.isNaN(x) ? null : Math.round(x));

const env = new Env('first-frame');
try {
  await env.startHub();
  env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room' }) });
  const browser = await env.launchBrowser();

  const join = async (label) => {
    const page = await env.newPage(browser, label);
    await page.addInitScript(instrument);
    const token = env.mintToken({ room: ROOM, role: opts.role, name: label });
    await page.goto(joinUrl(env.baseUrl, ROOM, token));
    const marks = await waitFor(() => page.evaluate(() => window.__ff && window.__ff.marks.firstFrame && window.__ff.marks), {
      timeoutMs: 60000, intervalMs: 50, what: `${label}: first frame of the room camera`,
    });
    // Let a student's publish exchange finish (it is not on the first frame's path, but its steps are shown).
    if (opts.role !== 'viewer') {
      await waitFor(() => page.evaluate(() => window.__ff.marks.publishAnswer), { timeoutMs: 30000, intervalMs: 50, what: `${label}: publishAnswer` })
        .catch(() => {});
    }
    const all = { ...(await page.evaluate(() => window.__ff.marks)), ...(await page.evaluate(navTiming)) };
    await page.context().close();
    return { ...marks, ...all };
  };

  // Until the box is live and the hub holds a keyframe, a join measures the box, not the join.
  await join('warm-up');
  const runs = [];
  for (let i = 0; i < JOINS; i += 1) {
    const m = await join(`${opts.role}-${i}`);
    runs.push(m);
    console.error(`join ${i + 1}/${JOINS}: first frame at ${r(m.firstFrame)} ms`);
  }

  const ff = runs.map((m) => m.firstFrame);
  const steps = STEPS.map(([key, what]) => {
    const xs = runs.map((m) => m[key]).filter((x) => typeof x === 'number');
    return { step: what, key, p50: r(xs.length ? pct(xs, 50) : null), p95: r(xs.length ? pct(xs, 95) : null), seen: xs.length };
  });
  console.log(JSON.stringify({
    hub: HUB_BIN,
    role: opts.role,
    joins: JOINS,
    joinToFirstFrameMs: { p50: r(pct(ff, 50)), p95: r(pct(ff, 95)), min: r(Math.min(...ff)), max: r(Math.max(...ff)) },
    eachMs: ff.map(r),
    steps,
  }, null, 2));
  console.log('\n| step (ms since navigation start) | p50 | p95 |\n|---|---|---|');
  for (const s of steps) if (s.seen) console.log(`| ${s.step} | ${s.p50} | ${s.p95} |`);
} catch (err) {
  env.report(err);
  process.exitCode = 1;
} finally {
  await env.close();
}
