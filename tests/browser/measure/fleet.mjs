// The live fleet view with 500 boxes (issue 23): how long the first render takes and how much
// main-thread work a pushed row update costs, from a Chromium trace. Not a test: it prints figures.
//   first render: navigation start → the rows on the page (`fleet-rendered` mark), wall clock and
//     the renderer main thread's busy time in between;
//   row update: each pushed `rows` event (the boxes report every 5 s, so each event carries the
//     rows that changed in its 250 ms): the task that dispatched it (script, style and layout it
//     forced) and the frame's rendering work after it; plus one box going live, timed from the
//     teacher's request to its row saying Live.
// Run: cargo build -p lectern-hub --bins --examples && node tests/browser/measure/fleet.mjs [boxes]
import path from 'node:path';

import { Child, Env, TARGET, waitFor } from '../harness.mjs';

const BOXES = Number(process.argv[2] || 500);
const env = new Env('measure-fleet');
const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] : NaN);
const ms = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

/** The renderer main thread's complete events, by the thread that did the most work. */
function mainThread(events) {
  const names = new Map(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
    .map((e) => [`${e.pid}:${e.tid}`, true]));
  const busy = new Map();
  for (const e of events) {
    const key = `${e.pid}:${e.tid}`;
    if (e.ph === 'X' && names.has(key) && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask')) {
      busy.set(key, (busy.get(key) || 0) + (e.dur || 0));
    }
  }
  const [key] = [...busy.entries()].sort((a, b) => b[1] - a[1])[0] || [];
  const onMain = events.filter((e) => `${e.pid}:${e.tid}` === key);
  // Top-level tasks only (RunTask nests inside ThreadControllerImpl::RunTask in some versions).
  const nested = onMain.filter((e) => e.ph === 'X' && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask'))
    .sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const tasks = [];
  for (const t of nested) {
    const last = tasks[tasks.length - 1];
    if (!last || t.ts >= last.ts + last.dur) tasks.push(t);
  }
  return { tasks, all: onMain };
}

let boxes = null;
try {
  await env.startHub();
  const browser = await env.launchBrowser();
  const page = await env.newPage(browser, 'admin');
  await env.setupAdmin(page, { username: 'ada', password: 'a long admin password' });
  boxes = new Child('fleet_load', path.join(TARGET, 'debug', 'examples', 'fleet_load'),
    ['--attach', env.baseUrl, '--data-dir', env.dataDir, '--boxes', String(BOXES), '--hold', '600'], {});
  await boxes.waitForLine(/attached (\d+)/, 120000);
  // Every box has reported once (they spread their reports over 5 s).
  await new Promise((r) => setTimeout(r, 6000));

  await browser.startTracing(page, { categories: ['devtools.timeline', 'toplevel', 'blink.user_timing', 'disabled-by-default-devtools.timeline'] });
  await page.goto(`${env.baseUrl}/admin/fleet`);
  await page.waitForFunction((n) => document.querySelectorAll('#fleet-body tr').length >= n, BOXES, { timeout: 60000 });
  await page.locator('#fleet-wrap[data-feed="push"]').waitFor({ timeout: 30000 });
  const rendered = await page.evaluate(() => performance.getEntriesByName('fleet-rendered')[0]?.startTime);
  // Pushed updates for a while, then one box goes live.
  await new Promise((r) => setTimeout(r, 10000));
  const room = 'fleet-250';
  const teacher = env.mintToken({ room, role: 'teacher', name: 'Teacher' });
  const asked = Date.now();
  const res = await fetch(`${env.baseUrl}/api/rooms/${room}/live`, { method: 'POST', headers: { authorization: `Bearer ${teacher}` } });
  if (res.status !== 202) throw new Error(`go live: ${res.status}`);
  await waitFor(async () => (await page.locator(`tr[data-room="${room}"] .badge`).textContent()) === 'Live',
    { what: 'the row saying Live', timeoutMs: 20000, intervalMs: 20 });
  const liveAfter = Date.now() - asked;
  const measures = await page.evaluate(() => performance.getEntriesByName('fleet-rows').map((m) => [m.duration, m.detail]));
  const trace = JSON.parse((await browser.stopTracing()).toString('utf8'));
  const events = trace.traceEvents || trace;

  const { tasks, all } = mainThread(events);
  const navStart = all.find((e) => e.name === 'navigationStart')?.ts ?? events.find((e) => e.name === 'navigationStart')?.ts;
  const mark = events.find((e) => e.name === 'fleet-rendered')?.ts;
  const busyBetween = (a, b) => tasks.filter((t) => t.ts >= a && t.ts < b).reduce((sum, t) => sum + Math.min(t.dur, b - t.ts), 0) / 1000;
  // Each applyRows call is a user timing measure (`fleet-rows`): the task around its start.
  const applied = events.filter((e) => e.name === 'fleet-rows' && (e.ph === 'b' || e.ph === 'X' || e.ph === 'R'));
  const rowTasks = applied.map((d) => tasks.find((t) => t.ts <= d.ts && t.ts + t.dur >= d.ts)).filter(Boolean);
  // The frame after each update: style, layout and paint tasks within 50 ms after it.
  const renderWork = rowTasks.map((t) => tasks.filter((x) => x.ts > t.ts && x.ts < t.ts + t.dur + 50_000
    && all.some((e) => ['UpdateLayoutTree', 'Layout', 'Paint', 'PrePaint'].includes(e.name) && e.ts >= x.ts && e.ts < x.ts + x.dur))
    .reduce((sum, x) => sum + x.dur, 0) / 1000);
  const taskMs = rowTasks.map((t) => t.dur / 1000);
  if (process.env.FLEET_BREAKDOWN) {
    // Where the frames' time goes, by trace event name (nested events counted in their parents too).
    const frames = rowTasks.flatMap((t) => tasks.filter((x) => x.ts >= t.ts && x.ts < t.ts + t.dur + 50_000));
    const by = new Map();
    for (const x of frames) {
      for (const e of all.filter((e) => e.ph === 'X' && e.ts >= x.ts && e.ts < x.ts + x.dur && e !== x)) by.set(e.name, (by.get(e.name) || 0) + e.dur / 1000);
    }
    console.log([...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([n, d]) => `${n} ${d.toFixed(1)} ms`).join('\n'));
  }
  const perEvent = taskMs.map((d, i) => d + (renderWork[i] || 0));
  const rowsPerEvent = measures.map(([, n]) => n);

  console.log(`| figure (${BOXES} boxes, debug hub, ${new Date().toISOString().slice(0, 16)}Z) | value |`);
  console.log('|---|---|');
  console.log(`| first render: navigation → rows on the page | ${ms(rendered)} ms |`);
  console.log(`| first render: renderer main thread busy in it | ${ms(navStart && mark ? busyBetween(navStart, mark) : NaN)} ms |`);
  console.log(`| pushed \`rows\` events traced | ${rowTasks.length} (rows each: p50 ${pct(rowsPerEvent, 0.5)}, max ${Math.max(0, ...rowsPerEvent)}) |`);
  console.log(`| one event: dispatch task, p50 / p95 / max | ${ms(pct(taskMs, 0.5))} / ${ms(pct(taskMs, 0.95))} / ${ms(Math.max(...taskMs))} ms |`);
  console.log(`| one event: task + its frame's style/layout/paint, p50 / p95 / max | ${ms(pct(perEvent, 0.5))} / ${ms(pct(perEvent, 0.95))} / ${ms(Math.max(...perEvent))} ms |`);
  console.log(`| one event: applyRows script only, p50 / p95 | ${ms(pct(measures.map(([d]) => d), 0.5))} / ${ms(pct(measures.map(([d]) => d), 0.95))} ms |`);
  console.log(`| teacher's go live → the row says Live | ${liveAfter} ms |`);
} finally {
  await boxes?.stop();
  await env.close();
}
