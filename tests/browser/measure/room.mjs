// The largest room this machine runs in headless Chromium: students (fake camera + mic, each its own
// page) join one by one; after each join every student must be decoding video from every other within
// 30 s. Prints the largest size that held and the hub's RSS. Not a test: it prints figures.
// Run: cargo build --workspace --bins && node tests/browser/measure/room.mjs [max-students]
import { readFileSync } from 'node:fs';

import { Env, inboundStats, joinUrl, waitFor } from '../harness.mjs';

const ROOM = 'big-room';
const MAX = Number(process.argv[2] || 12);
const env = new Env('measure-room');

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** Video sources this page decodes, with their frame counts. */
async function decoding(page) {
  return (await inboundStats(page)).filter((s) => s.kind === 'video' && s.framesDecoded > 0);
}

let largest = 0;
try {
  await env.startHub();
  const browser = await env.launchBrowser();
  const pages = [];
  for (let n = 1; n <= MAX; n += 1) {
    const page = await env.newPage(browser, `student-${n}`);
    await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name: `Student ${n}` })));
    pages.push(page);
    const t0 = Date.now();
    try {
      for (const p of pages) {
        const before = new Map((await decoding(p)).map((s) => [s.participantId, s.framesDecoded]));
        await waitFor(async () => {
          const now = await decoding(p);
          const moving = now.filter((s) => s.framesDecoded > (before.get(s.participantId) ?? 0));
          return moving.length >= n - 1;
        }, { timeoutMs: 30000, what: `every other student's video moving (room of ${n})` });
      }
    } catch (err) {
      console.log(`room of ${n}: failed (${err.message.split('\n')[0]})`);
      break;
    }
    largest = n;
    console.log(`room of ${n}: everyone sees everyone (${Date.now() - t0} ms to verify), hub RSS ${rssMiB(env.hub.proc.pid).toFixed(1)} MiB`);
  }
  console.log(JSON.stringify({ largestRoomInChromium: largest, machineCores: (await import('node:os')).cpus().length }));
} finally {
  await env.close();
}
