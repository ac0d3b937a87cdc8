// A student: Debian's Chromium inside a student namespace (playwright-core from tests/browser,
// driving it over pipes from outside), on the join page, and a sampler of its subscribe
// connection's getStats for the room box's tracks.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// The same flags as the browser tests (fake camera and microphone, no sandbox inside a namespace).
import { CHROMIUM_ARGS } from '../browser/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(path.join(HERE, '../browser/package.json'))('playwright-core');


export class Student {
  /**
   * Launches Chromium inside `netns`; `origin` (the hub's plain-http origin) is treated as secure so
   * the page may open a camera. `home`: Chromium's HOME (its NSS database says which CAs it trusts).
   */
  static async launch({ netns, origin, label = 'student', home = null }) {
    const browser = await chromium.launch({
      executablePath: path.join(HERE, 'chromium-in-netns.sh'),
      args: [...CHROMIUM_ARGS, `--unsafely-treat-insecure-origin-as-secure=${origin}`],
      env: { ...process.env, LNT_NETNS: netns, ...(home ? { HOME: home } : {}) },
      timeout: 60000,
      // The runner handles signals: it ends the phases, then tears down and still reports.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    const s = new Student(browser, page, label);
    page.on('console', (m) => s.keep(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => s.keep(`pageerror: ${e.message}`));
    return s;
  }

  constructor(browser, page, label) {
    this.browser = browser;
    this.page = page;
    this.label = label;
    this.console = [];
  }

  keep(line) {
    this.console.push(line);
    if (this.console.length > 300) this.console.shift();
  }

  /**
   * Opens the join link. Chromium started in a namespace may see its interfaces settle while it
   * loads, and fail the page's modules with ERR_NETWORK_CHANGED: the app then never starts. Open
   * the link again (at most 3 times) until the app is there.
   */
  async open(url) {
    for (let attempt = 1; ; attempt += 1) {
      await this.page.goto(url, { timeout: 30000 });
      const started = await this.page
        .waitForFunction(() => window.lectern !== undefined, null, { timeout: 10000 })
        .then(() => true, () => false);
      if (started || attempt === 3) return;
      this.keep(`netem: the page's app did not start (attempt ${attempt}); opening the link again`);
    }
  }

  /** One raw sample of the box's tracks on the subscribe connection (see summary.mjs for its shape). */
  sample() { return this.page.evaluate(collect, null); }

  async close() { await this.browser.close().catch(() => {}); }
}

/** Runs in the page. Counters are cumulative for one peer connection; `pc` tells connections apart. */
async function collect() {
  const l = window.lectern;
  const pc = l && l.subscribePc;
  const out = { state: l ? l.state : null, pc: null, ice: null, video: null, slides: null, audio: null, bytes: null, pair: null,
    self: l && l.self ? l.self.participantId : null, restarts: l && l.iceRestarts ? l.iceRestarts.length : 0,
    restartLog: l && l.iceRestarts ? l.iceRestarts : [],
    // The classroom box as the page knows it: its participant id changes only if it left and came back.
    box: l && l.participants ? Object.entries(l.participants).filter(([, p]) => p && p.role === 'device').map(([id]) => id) : [] };
  if (!pc) return out;
  if (!pc.__lntId) pc.__lntId = (window.__lntSeq = (window.__lntSeq || 0) + 1);
  out.pc = pc.__lntId;
  out.ice = pc.iceConnectionState;
  // The box's tracks: the hub names each m-line's participant; fall back to every track. Its
  // slides (a screen-share track) are counted apart from its camera.
  const fromBox = new Set();
  const slides = new Set();
  for (const t of l.tracks || []) {
    const p = l.participants && l.participants[t.participantId];
    if (p && p.role === 'device') (t.screen ? slides : fromBox).add(String(t.mid));
  }
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && slides.has(String(s.mid))) {
      out.slides = { framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0 };
    } else if (s.type === 'inbound-rtp' && (fromBox.size === 0 || fromBox.has(String(s.mid)))) {
      if (s.kind === 'video' && (!out.video || (s.framesDecoded || 0) > out.video.framesDecoded)) {
        out.video = {
          framesDecoded: s.framesDecoded || 0,
          frameWidth: s.frameWidth || 0,
          framesPerSecond: s.framesPerSecond || 0,
          freezeCount: s.freezeCount || 0,
          totalFreezesDuration: s.totalFreezesDuration || 0,
        };
      } else if (s.kind === 'audio' && !out.audio) {
        out.audio = { concealedSamples: s.concealedSamples || 0, totalSamplesReceived: s.totalSamplesReceived || 0 };
      }
    }
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      out.bytes = s.bytesReceived || 0;
      const pair = stats.get(s.selectedCandidatePairId);
      const local = pair && stats.get(pair.localCandidateId);
      const remote = pair && stats.get(pair.remoteCandidateId);
      if (local && remote) {
        out.pair = { local: local.candidateType, remote: remote.candidateType, protocol: local.protocol };
        if (local.relayProtocol) out.pair.relayProtocol = local.relayProtocol;
      }
    }
  });
  return out;
}
