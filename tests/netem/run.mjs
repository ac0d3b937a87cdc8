// Runs one scenario of the network test bed end to end: topology up, hub + virtual box (+ coturn),
// a Chromium student in its namespace, the scenario's phases with the student sampled twice a
// second, then everything torn down and checked gone. Prints a human table, then the JSON line.
//
//   node tests/netem/run.mjs SCENARIO        (as root; scripts/netem.sh is the front door)
// Environment: NETEM_RUN (run id, default random), NETEM_WORK (logs and data, default
// target/netem/SCENARIO), NETEM_CLIENT (chromium, the student page, by default; or whep, an aiortc
// viewer), LECTERN_HUB_BIN / LECTERN_APPLIANCE_BIN, LNT_CHROMIUM.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_LADDER, Product, ROOM } from './product.mjs';
import { jsonLine, table } from './report.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { Student } from './student.mjs';
import { WhepViewer } from './whep.mjs';
import { summarise } from './summary.mjs';
import { ADDR, HUB_HTTP_PORT, tbfCounters, Topology } from './topology.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SAMPLE_MS = 500;
const FIRST_FRAME_MS = 45000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function commit() {
  try { return execFileSync('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { return null; }
}

/**
 * Runs `name`; resolves with the result (phases summarised, teardown checked) even when the product
 * misbehaves — a scenario that cannot get media says so in `note`. Rejects only when the bed
 * itself could not be built, after tearing down what was.
 */
export async function runScenario(name, { run = randomBytes(3).toString('hex'), workDir, client = 'chromium', log = (m) => console.error(m), signal } = {}) {
  if (!['chromium', 'whep'].includes(client)) throw new Error(`client '${client}': chromium or whep`);
  const sc = SCENARIOS[name];
  if (!sc) throw new Error(`unknown scenario '${name}' (one of: ${Object.keys(SCENARIOS).join(', ')})`);
  const dir = workDir || path.join(REPO, 'target', 'netem', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const topo = new Topology(run);
  const ladder = sc.ladder || DEFAULT_LADDER;
  const result = { scenario: name, what: sc.what, client, date: new Date().toISOString(), commit: commit(), run, ladder, phases: [], note: null, teardown: null, shaping: {},
    loadavg: { start: loadavg()[0], end: null } };
  const notes = [];
  let failedSamples = 0;
  const samples = [];
  let product = null;
  let student = null;
  const aborted = () => signal && signal.aborted;
  try {
    log(`==> [${name}] topology lnt-${run}-*`);
    topo.up();
    product = new Product(topo, dir);
    if (sc.turn) { log(`==> [${name}] coturn`); await product.startTurn(); }
    log(`==> [${name}] hub and virtual box (${ladder.main.width}x${ladder.main.height} + ${ladder.layers.length} simulcast layers)`);
    await product.startHub({ turn: !!sc.turn });
    await product.startBox(ladder);
    for (const [link, imp] of Object.entries(sc.setup || {})) topo.set(link, imp);
    log(`==> [${name}] student (${client})`);
    if (client === 'whep') {
      student = new WhepViewer({ netns: topo.netns('s1'), logDir: dir });
      student.start(product.baseUrl, ROOM, product.mintToken('viewer', 'Netem viewer'));
    } else {
      student = await Student.launch({ netns: topo.netns('s1'), origin: `http://${ADDR.hub}:${HUB_HTTP_PORT}` });
      await student.open(`${product.baseUrl}/join/${ROOM}?token=${encodeURIComponent(product.mintToken('student', 'Netem student'))}`);
    }

    let t0 = Date.now();
    const take = async () => {
      const t = (Date.now() - t0) / 1000;
      try {
        samples.push({ t, ...(await student.sample()) });
      } catch (err) {
        if (!failedSamples++) notes.push(`sampling failed from ${t.toFixed(1)} s: ${err.message.split('\n')[0]}`);
      }
    };
    // Warm-up (not a phase): until the first frame of the box's video, or the deadline.
    const warm = Date.now() + FIRST_FRAME_MS;
    let first = null;
    while (Date.now() < warm && !aborted()) {
      first = await student.sample().catch(() => null);
      if (first && first.video && first.video.framesDecoded > 0) break;
      await sleep(SAMPLE_MS);
    }
    if (!(first && first.video && first.video.framesDecoded > 0)) {
      notes.push(`no media: no video frame within ${FIRST_FRAME_MS / 1000} s (page ${first?.state ?? '?'}, ICE ${first?.ice ?? 'no subscribe connection'})`);
    }
    log(`==> [${name}] phases`);
    t0 = Date.now();
    const phases = [];
    for (const ph of sc.phases) {
      if (aborted()) break;
      // A phase runs from the first sample after its impairments are in place to its last sample:
      // the time `topo.sh set` takes (a few tenths of a second) belongs to no phase.
      for (const [link, imp] of Object.entries(ph.set)) topo.set(link, imp);
      const from = (Date.now() - t0) / 1000;
      await take();
      const end = Date.now() + ph.sec * 1000;
      while (Date.now() < end && !aborted()) {
        await sleep(Math.min(SAMPLE_MS, Math.max(0, end - Date.now())));
        await take();
      }
      phases.push({ name: ph.name, from, to: (Date.now() - t0) / 1000 });
      // The router's tbf counters while this phase's caps are still in place.
      const shaped = Object.fromEntries(['s1', 'box'].map((l) => [l, tbfCounters(topo.stats(l))]).filter(([, q]) => q.length));
      if (Object.keys(shaped).length) result.shaping[ph.name] = shaped;
      log(`    ${ph.name} done at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    result.phases = summarise(samples, phases);
    // The machine's 1-minute load: on 2 shared cores, CPU contention shows up as freezes and concealment.
    result.loadavg.end = loadavg()[0];
    if (product.hub.exited) notes.push(`the hub exited: ${JSON.stringify(product.hub.exited)}`);
    if (product.box.exited) notes.push(`the box exited: ${JSON.stringify(product.box.exited)}`);
    if (failedSamples) notes.push(`${failedSamples} samples failed`);
    if (aborted()) notes.push('interrupted');
  } finally {
    if (student) await student.close();
    if (product) await product.stop();
    const down = topo.down();
    if (!down.ok) notes.push(`topo.sh down: ${down.out}`);
    const left = topo.leftovers();
    result.teardown = left.length ? `LEFT: ${left.join('; ')}` : 'clean';
    result.note = notes.length ? notes.join('; ') : null;
    result.logs = path.relative(REPO, dir);
  }
  return result;
}

async function main() {
  const name = process.argv[2];
  if (!name || !SCENARIOS[name]) {
    console.error(`usage: node tests/netem/run.mjs SCENARIO   (one of: ${Object.keys(SCENARIOS).join(', ')})`);
    process.exit(2);
  }
  const ctl = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => ctl.abort());
  const result = await runScenario(name, { run: process.env.NETEM_RUN || undefined, workDir: process.env.NETEM_WORK || undefined, client: process.env.NETEM_CLIENT || undefined, signal: ctl.signal });
  console.log(table(result));
  console.log(jsonLine(result));
  process.exit(result.teardown === 'clean' ? 0 : 1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => { console.error(`netem: ${err.stack || err}`); process.exit(1); });
}
