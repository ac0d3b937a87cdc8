// Measures what the hub foundation promises, on this machine (not a test: it prints figures).
//   join-to-first-frame: page.goto → first decoded frame of the room video, median of 5 joins
//   hub RSS with 1 publisher (virtual appliance) + 5 Chromium subscribers
// Run: cargo build --workspace --bins && node tests/browser/measure/join.mjs
import { readFileSync } from 'node:fs';

import { Env, inboundStats, joinUrl, waitFor } from '../harness.mjs';

const ROOM = 'measure';
const SUBSCRIBERS = 5;
const env = new Env('measure');

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  await env.startHub();
  const hubPid = env.hub.proc.pid;
  const idleRss = rssKiB(hubPid);
  env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room' }) });
  const browser = await env.launchBrowser();
  const firstFrame = [];
  const pages = [];
  for (let i = 0; i < SUBSCRIBERS; i += 1) {
    // Viewers: they receive only, so the figure is the hub's forwarding, not the students' uploads.
    const token = env.mintToken({ room: ROOM, role: 'viewer', name: `Viewer ${i}` });
    const page = await env.newPage(browser, `viewer-${i}`);
    const t0 = Date.now();
    await page.goto(joinUrl(env.baseUrl, ROOM, token));
    await waitFor(async () => (await inboundStats(page)).some((s) => s.kind === 'video' && s.framesDecoded > 0), {
      timeoutMs: 60000, intervalMs: 20, what: 'first decoded frame',
    });
    firstFrame.push(Date.now() - t0);
    pages.push(page);
  }
  // Let the forwarding settle before reading memory.
  await waitFor(async () => (await inboundStats(pages.at(-1))).some((s) => s.kind === 'video' && s.framesDecoded > 150), {
    timeoutMs: 60000, what: '5 s of video on the last viewer',
  });
  const loadedRss = rssKiB(hubPid);
  console.log(JSON.stringify({
    joinToFirstFrameMs: firstFrame,
    joinToFirstFrameMedianMs: median(firstFrame),
    hubRssIdleMiB: +(idleRss / 1024).toFixed(1),
    hubRssWith1Publisher5SubscribersMiB: +(loadedRss / 1024).toFixed(1),
  }, null, 2));
} finally {
  await env.close();
}
