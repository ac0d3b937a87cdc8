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
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_LADDER, Product, ROOM } from './product.mjs';
import { jsonLine, table } from './report.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { Student } from './student.mjs';
import { homeTrusting } from './testca.mjs';
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
  const sc = SCENARIOS[name];
  if (!sc) throw new Error(`unknown scenario '${name}' (one of: ${Object.keys(SCENARIOS).join(', ')})`);
  if (!['chromium', 'whep'].includes(client)) throw new Error(`client '${client}': chromium or whep`);
  const dir = workDir || path.join(REPO, 'target', 'netem', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const topo = new Topology(run);
  const ladder = sc.ladder || DEFAULT_LADDER;
  const result = { scenario: name, what: sc.what, client, date: new Date().toISOString(), commit: commit(), run, ladder,
    phases: [], note: null, teardown: null, shaping: {}, loadavg: { start: loadavg()[0], end: null } };
  const notes = [];
  const world = { product: null, student: null };
  const aborted = () => !!(signal && signal.aborted);
  try {
    log(`==> [${name}] topology lnt-${run}-*, then the product and a ${client} student`);
    topo.up();
    await startWorld(world, { sc, topo, dir, client, ladder });
    const { note: noMedia, firstFrameMs, pair } = await warmUp(world.student, aborted, world.openedAt);
    if (noMedia) notes.push(noMedia);
    // From opening the join link to the first decoded frame of the box, and the path it took.
    result.firstFrameMs = firstFrameMs;
    result.pair = pair;
    log(`==> [${name}] phases`);
    const { samples, phases, failed } = await runPhases(sc, { topo, student: world.student, result, aborted, log });
    result.phases = summarise(samples, phases);
    // Who the student was at the start and at the end, and the ICE restarts its page did.
    const selves = samples.map((x) => x.self).filter((x) => x != null);
    result.participant = { first: selves[0] ?? null, last: selves[selves.length - 1] ?? null, distinct: [...new Set(selves)].length };
    result.participant.byPhase = phases.map((ph) => [...new Set(samples.filter((x) => x.t >= ph.from && x.t <= ph.to && x.self != null).map((x) => x.self))]);
    // The box's participant ids the page saw, per phase: one throughout if it never left.
    const boxes = samples.map((x) => (x.box || []).join(',')).filter(Boolean);
    result.box = { distinct: [...new Set(boxes)], byPhase: phases.map((ph) => [...new Set(samples.filter((x) => x.t >= ph.from && x.t <= ph.to).map((x) => (x.box || []).join(',')))]) };
    result.iceRestarts = samples.length ? samples[samples.length - 1].restarts : 0;
    result.iceRestartLog = samples.length ? samples[samples.length - 1].restartLog : [];
    // The machine's 1-minute load: on 2 shared cores, CPU contention shows up as freezes and concealment.
    result.loadavg.end = loadavg()[0];
    if (failed) notes.push(`${failed.count} samples failed, the first at ${failed.first}`);
    if (world.product.hub.exited) notes.push(`the hub exited: ${JSON.stringify(world.product.hub.exited)}`);
    if (world.product.box.exited) notes.push(`the box exited: ${JSON.stringify(world.product.box.exited)}`);
    if (aborted()) notes.push('interrupted');
  } finally {
    // What the page logged (ICE restarts, reconnects), for whoever reads the logs.
    if (Array.isArray(world.student?.console)) writeFileSync(path.join(dir, 'student-console.log'), `${world.student.console.join('\n')}\n`);
    if (world.student) await world.student.close();
    if (world.product) await world.product.stop();
    const down = topo.down();
    if (!down.ok) notes.push(`topo.sh down: ${down.out}`);
    const left = topo.leftovers();
    result.teardown = left.length ? `LEFT: ${left.join('; ')}` : 'clean';
    result.note = notes.length ? notes.join('; ') : null;
    result.logs = path.relative(REPO, dir);
  }
  return result;
}

/** coturn (if the scenario wants it), the hub, the box, the scenario's setup, then the student on the room. */
async function startWorld(world, { sc, topo, dir, client, ladder }) {
  const product = new Product(topo, dir);
  world.product = product;
  if (sc.turn) await product.startTurn();
  await product.startHub({ turn: !!sc.turn, recording: !!sc.recording });
  await product.startBox(ladder, { gatherAll: !!sc.boxMoves, recording: sc.recording || null });
  if (sc.recording) product.goLive(topo, 's1');
  for (const [link, imp] of Object.entries(sc.setup || {})) topo.set(link, imp);
  if (client === 'whep') {
    world.student = new WhepViewer({ netns: topo.netns('s1'), logDir: dir });
    world.student.start(product.baseUrl, ROOM, product.mintToken('viewer', 'Netem viewer'));
  } else {
    // With coturn in the bed, Chromium trusts the run's test CA (coturn's TLS certificate);
    // NETEM_TRUST_CA=0 leaves it out (to see Chromium refuse coturn's certificate).
    const home = !sc.turn ? null : process.env.NETEM_TRUST_CA === '0'
      ? mkdirSync(path.join(dir, 'student-home'), { recursive: true }) && path.join(dir, 'student-home')
      : homeTrusting(path.join(dir, 'student-home'), product.ca.ca);
    world.student = await Student.launch({ netns: topo.netns('s1'), origin: `http://${ADDR.hub}:${HUB_HTTP_PORT}`, home });
    const relay = sc.forceRelay ? '&relay=1' : '';
    world.openedAt = Date.now();
    await world.student.open(`${product.baseUrl}/join/${ROOM}?token=${encodeURIComponent(product.mintToken('student', 'Netem student'))}${relay}`);
  }
}

/**
 * Until the first decoded frame of the box's video (not part of any phase), looked for every 100 ms:
 * { note: a `no media: …` note if none came, firstFrameMs: since `openedAt`, pair: the selected
 * candidate pair then }.
 */
async function warmUp(student, aborted, openedAt = Date.now()) {
  const deadline = Date.now() + FIRST_FRAME_MS;
  let s = null;
  while (Date.now() < deadline && !aborted()) {
    s = await student.sample().catch(() => null);
    if (s?.video?.framesDecoded > 0) return { note: null, firstFrameMs: Date.now() - openedAt, pair: s.pair };
    await sleep(100);
  }
  return { note: `no media: no video frame within ${FIRST_FRAME_MS / 1000} s (page ${s?.state ?? '?'}, ICE ${s?.ice ?? 'no subscribe connection'})`,
    firstFrameMs: null, pair: s?.pair ?? null };
}

/**
 * The phases: each sets its impairments, then samples every SAMPLE_MS for its length. A phase runs
 * from its first sample after the impairments are in place to its last: the time `topo.sh set`
 * takes (tenths of a second) belongs to no phase. Records the tbf counters of capped phases.
 */
async function runPhases(sc, { topo, student, result, aborted, log }) {
  const t0 = Date.now();
  const now = () => (Date.now() - t0) / 1000;
  const samples = [];
  const phases = [];
  let failed = null;
  const take = async () => {
    const t = now();
    try {
      samples.push({ t, ...(await student.sample()) });
    } catch (err) {
      failed = failed || { count: 0, first: `${t.toFixed(1)} s: ${err.message.split('\n')[0]}` };
      failed.count += 1;
    }
  };
  for (const ph of sc.phases) {
    if (aborted()) break;
    for (const [link, imp] of Object.entries(ph.set)) topo.set(link, imp);
    // A network change: the node moves to another address (see topo.sh readdress).
    if (ph.readdress) log(`    ${ph.readdress} now at ${topo.readdress(ph.readdress)}`);
    const from = now();
    await take();
    const end = Date.now() + ph.sec * 1000;
    while (Date.now() < end && !aborted()) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, end - Date.now())));
      await take();
    }
    phases.push({ name: ph.name, from, to: now() });
    const shaped = Object.fromEntries(['s1', 'box'].map((l) => [l, tbfCounters(topo.stats(l))]).filter(([, q]) => q.length));
    if (Object.keys(shaped).length) result.shaping[ph.name] = shaped;
    log(`    ${ph.name} done at ${now().toFixed(1)} s`);
  }
  return { samples, phases, failed };
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
  process.exit(result.teardown !== 'clean' ? 1 : ctl.signal.aborted ? 130 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => { console.error(`netem: ${err.stack || err}`); process.exit(1); });
}
