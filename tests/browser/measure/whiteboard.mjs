// Measures the whiteboard's figures on this machine (not a test: it prints them; docs/performance.md
// "Whiteboard" has the last run).
//   sync latency: a stroke committed on the teacher's page → in a viewer's document, p50/p95 of 200
//     (both pages in one Chromium on this machine: one clock; a page sends at most one update per
//     100 ms, merging what comes meanwhile)
//   hub CPU: its user+system time over 10 s with the teacher drawing 100 strokes/s (to 3 viewers),
//     minus the same 10 s with nobody drawing
// Run: cargo build -p lectern-hub --bins && node tests/browser/measure/whiteboard.mjs
import { readFileSync } from 'node:fs';

import { Env, inLesson, openLesson, waitFor } from '../harness.mjs';

const ROOM = 'measure-board';
const env = new Env('measure-board');
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const TICKS = 100; // USER_HZ on Linux

function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** The teacher's page commits `n` strokes, `perSecond` of them a second, each stamped with Date.now(). */
function drawStrokes(page, n, perSecond) {
  return page.evaluate(({ n, perSecond }) => new Promise((resolve) => {
    const board = window.lectern.boards.view();
    let i = 0;
    const every = 1000 / perSecond;
    const started = performance.now();
    const tick = () => {
      while (i < n && performance.now() - started >= i * every) {
        const pts = [];
        for (let k = 0; k < 40; k++) pts.push((i * 37 + k * 113) % 10000, (i * 53 + k * 71) % 10000);
        board.commit({ id: `m${i}`, by: 1, tool: 'pen', color: '#1f4ea8', width: 4, pts, t: Date.now() });
        i += 1;
      }
      if (i < n) setTimeout(tick, 2); else resolve();
    };
    tick();
  }), { n, perSecond });
}

/** Arrival times of stamped strokes in a viewer's document. */
function watchArrivals(page) {
  return page.evaluate(() => {
    window.__arrivals = [];
    const seen = new Set();
    const doc = window.lectern.boards.view().doc;
    doc.on('afterTransaction', () => {
      const now = Date.now();
      for (const item of doc.getArray('page-0').toArray()) {
        if (item.t && !seen.has(item.id)) { seen.add(item.id); window.__arrivals.push(now - item.t); }
      }
    });
  });
}

try {
  await env.startHub();
  const hubPid = env.hub.proc.pid;
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Teacher' });
  await inLesson(teacher, 'teacher in');
  const viewers = [];
  for (let i = 0; i < 3; i++) {
    const { page } = await openLesson(env, browser, { room: ROOM, role: 'viewer', name: `Viewer ${i}` });
    await inLesson(page, `viewer ${i} in`);
    viewers.push(page);
  }
  await watchArrivals(viewers[0]);

  // Latency: 200 strokes at 5 a second (a teacher writing).
  await drawStrokes(teacher, 200, 5);
  await waitFor(() => viewers[0].evaluate(() => window.__arrivals.length >= 200), { what: 'all strokes arrived', timeoutMs: 60000 });
  const lat = await viewers[0].evaluate(() => window.__arrivals);
  console.log(`sync latency teacher → viewer, 200 strokes: p50 ${pct(lat, 0.5)} ms, p95 ${pct(lat, 0.95)} ms, max ${Math.max(...lat)} ms`);

  // Hub CPU: idle 10 s, then 10 s at 100 strokes/s.
  let t0 = cpuTicks(hubPid);
  await new Promise((r) => setTimeout(r, 10000));
  const idle = cpuTicks(hubPid) - t0;
  t0 = cpuTicks(hubPid);
  const wall = Date.now();
  await drawStrokes(teacher, 1000, 100);
  await waitFor(() => viewers[2].evaluate(() => window.lectern.boards.board().pages[0].length >= 1200), { what: '1200 strokes at the last viewer', timeoutMs: 60000 }).catch(async (e) => { console.log('teacher', (await teacher.evaluate(() => window.lectern.boards.board().pages[0].length)), 'viewer', await viewers[2].evaluate(() => window.lectern.boards.board().pages[0].length), await teacher.evaluate(() => window.lectern.events.slice(-5))); throw e; });
  const secs = (Date.now() - wall) / 1000;
  const busy = cpuTicks(hubPid) - t0;
  const perSecond = (busy / secs - idle / 10) / TICKS;
  console.log(`hub CPU at 100 strokes/s to 3 viewers: ${(perSecond * 100).toFixed(1)} % of a core above idle (${busy} ticks in ${secs.toFixed(1)} s, idle ${idle} ticks in 10 s)`);
} finally {
  await env.close();
}
