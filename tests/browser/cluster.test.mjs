// Three hubs as one cluster (issue 20), on a real Redis: a classroom box publishes through node A,
// which forwards its WHIP to the node placed for the room; a WHEP viewer POSTing to a node that
// does not own the room is forwarded there (the answer's Lectern-Node names the owner) and
// decodes the room; a student opening the join link on the third node lands on the owner and
// decodes the room; a node without the room answers PATCH/DELETE through the owner; the room on its
// owner reaches the box, whose control channel is on another node, through Redis.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Child, Env, inboundStats, inLesson, joinUrl, waitFor } from './harness.mjs';

const ROOM = 'cluster-lab';
const SECRET = 'cluster-test-secret-0123456789abcdef';
// Every hub and every token of the cluster share it.
process.env.LECTERN_SECRET = SECRET;

const envs = [new Env('cluster_a'), new Env('cluster_b'), new Env('cluster_c')];
const redisDir = mkdtempSync(path.join(tmpdir(), 'lectern-cluster-redis-'));
let redis = null;
let redisPort = 0;
const urls = [];
let placed = null; // the first test's owner, for the failover test
let lastViewer = null;
let studentPage = null; // the first test's student, still in the lesson
 // the failover test's viewer, still watching in the drain test

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function redisCli(...args) {
  const r = spawnSync('redis-cli', ['-p', String(redisPort), ...args], { encoding: 'utf8', timeout: 5000 });
  return (r.stdout || '').trim();
}

before(() => envs[0].diagnose(async () => {
  redisPort = await freePort();
  redis = new Child('redis', 'redis-server',
    ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', redisDir], {});
  await redis.waitForLine(/Ready to accept connections/, 20000);
  // Node A (where the box connects) gets the URL that sorts last, so placement (least loaded, then
  // by id) puts the room elsewhere and A's WHIP is forwarded.
  const ports = [await freePort(), await freePort(), await freePort()]
    .sort((x, y) => String(y).localeCompare(String(x)));
  for (const [i, env] of envs.entries()) {
    const url = `http://127.0.0.1:${ports[i]}`;
    await env.startHub({
      port: ports[i],
      config: `secret = "${SECRET}"\n[coord]\nurl = "redis://127.0.0.1:${redisPort}"\n[node]\npublic_url = "${url}"\n`,
    });
    urls.push(url);
  }
  await waitFor(() => redisCli('scard', 'lectern:nodes') === '3', { what: 'three nodes in the registry', timeoutMs: 30000 });
}));

after(async () => {
  for (const env of envs) await env.close();
  if (redis) await redis.stop();
  rmSync(redisDir, { recursive: true, force: true });
});

/** A WHEP viewer in `page` POSTing to the page's own origin; resolves with the answer's parts. */
function whepView(page, token) {
  return page.evaluate(async ({ room, token }) => {
    if (window.viewerPc) window.viewerPc.close();
    const pc = new RTCPeerConnection();
    window.viewerPc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => {
      if (pc.iceGatheringState === 'complete') r();
      else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
    });
    const res = await fetch(`/whep/${room}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    const sdp = await res.text();
    if (res.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp });
    return { status: res.status, node: res.headers.get('lectern-node'), location: res.headers.get('location'), sdp };
  }, { room: ROOM, token });
}

/** Video frames the page's WHEP viewer has decoded. */
async function framesDecoded(page) {
  return (await received(page)).video;
}

/** What the page's WHEP viewer has had: video frames decoded, audio packets received. */
function received(page) {
  return page.evaluate(async () => {
    const got = { video: 0, audio: 0 };
    if (!window.viewerPc) return got;
    (await window.viewerPc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') got.video = s.framesDecoded || 0;
      if (s.kind === 'audio') got.audio = s.packetsReceived || 0;
    });
    return got;
  });
}

/** The node holding the room's lease, from Redis (`<public url>#<generation>`). */
function ownerOf(room) {
  const token = redisCli('get', `lectern:room:${room}`);
  return token ? token.replace(/#\d+$/, '') : null;
}

/** Which nodes serve the room's join page themselves; the others redirect to the owner. */
async function joinPageServers(room, owner) {
  const found = [];
  for (const url of urls) {
    const res = await fetch(`${url}/join/${room}`, { redirect: 'manual' });
    if (res.status === 200) found.push(url);
    else {
      assert.equal(res.status, 307, `${url}/join/${room} answered ${res.status}`);
      assert.equal(new URL(res.headers.get('location')).origin, owner);
    }
  }
  return found;
}

test('a box, a WHEP viewer and a student reach one room through three hubs', { timeout: 180000 }, () =>
  envs[0].diagnose(async () => {
    const [a] = envs;
    const box = a.startAppliance({ room: ROOM, token: a.mintToken({ room: ROOM, role: 'device', name: 'Lab' }) });
    const owner = await waitFor(() => ownerOf(ROOM), { what: 'the room placed on a node by the box\'s WHIP', timeoutMs: 60000 });
    assert.ok(urls.includes(owner), `${owner} is one of ${urls}`);
    assert.deepEqual(await joinPageServers(ROOM, owner), [owner], 'only the owner serves the join page');
    assert.ok(box, 'the box runs');
    assert.notEqual(owner, urls[0], 'placement put the room on the least loaded node, not the one the box called');
    const others = urls.filter((u) => u !== owner && u !== urls[0]);
    assert.equal(others.length, 1);
    const [viaViewer, viaStudent] = [others[0], urls[0]];
    placed = owner;

    const browser = await a.launchBrowser();

    // A WHEP viewer on a node that does not own the room.
    const viewer = await a.newPage(browser, 'whep');
    await viewer.goto(`${viaViewer}/healthz`);
    const viewerToken = a.mintToken({ room: ROOM, role: 'viewer', name: 'Hall screen' });
    const answer = await whepView(viewer, viewerToken);
    assert.equal(answer.status, 201, answer.sdp);
    assert.equal(answer.node, owner, 'Lectern-Node names the owner');
    assert.match(answer.location, new RegExp(`^/whep/${ROOM}/`), 'the resource stays on the node it was created through');
    await waitFor(() => framesDecoded(viewer).then((n) => n > 10),
      { what: 'the forwarded WHEP viewer decoding the room', timeoutMs: 60000 });
    // DELETE through the same node reaches the owner.
    const del = await viewer.evaluate(async ({ location, token }) =>
      (await fetch(location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } })).status,
    { location: answer.location, token: viewerToken });
    assert.equal(del, 200);

    // A student with a link to node A lands on the owner and decodes the room.
    const student = await a.newPage(browser, 'student');
    await student.goto(joinUrl(viaStudent, ROOM, a.mintToken({ room: ROOM, role: 'student', name: 'Ada' })));
    assert.equal(new URL(student.url()).origin, owner, 'the join page moved to the owner');
    await inLesson(student);
    await waitFor(async () => (await inboundStats(student)).some((s) => s.kind === 'video' && s.framesDecoded > 10),
      { what: 'the student decoding the room', timeoutMs: 60000 });

    studentPage = student;

    // One node of the three runs the timetable (it holds the scheduler's lease).
    const leading = () => envs.filter((e) => e.hub.lines.stderr.some((l) => /this node runs the timetable now/.test(l)));
    await waitFor(() => leading().length >= 1, { what: 'a node running the timetable', timeoutMs: 20000 });
    assert.equal(leading().length, 1, 'exactly one node runs the timetable');

    // The room (on its owner) tells the box (whose control channel is on node A) who raised a hand:
    // through Redis to node A, then to the box.
    await student.getByTestId('hand-toggle').click();
    await box.waitForLine(/hub command.*Hands.*Ada/, 20000);
  }));

test('a request for another node\'s room is refused without a valid token before it is forwarded', { timeout: 60000 }, () =>
  envs[0].diagnose(async () => {
    const res = await fetch(`${urls[0]}/whep/${ROOM}`, {
      method: 'POST', headers: { Authorization: 'Bearer nonsense', 'Content-Type': 'application/sdp' }, body: 'v=0',
    });
    assert.equal(res.status, 401);
    // A forged node header does not make a node trust the request.
    const forged = await fetch(`${urls[1]}/whep/${ROOM}`, {
      method: 'POST',
      headers: { Authorization: 'Bearer nonsense', 'Content-Type': 'application/sdp', 'Lectern-Forwarded-By': `${urls[0]} ${Date.now()} 00` },
      body: 'v=0',
    });
    assert.equal(forged.status, 401);
  }));

/**
 * Audio packets the student page has received from the room. Audio, not video: on a loaded machine
 * the hub's bandwidth estimate may pause the room's single 1.5 Mbit/s layer for the student
 * (audio-only), which is adaptation at work, not the lesson stopping.
 */
async function studentFrames() {
  return (await inboundStats(studentPage)).filter((s) => s.kind === 'audio').reduce((n, s) => n + s.packetsReceived, 0);
}

// Redis restarted empty mid-lesson (no persistence): the lesson goes on, the owner keeps the room
// (it renews its lease back during the restarted store's grace) and every node registers again.
test('a Redis restart mid-lesson: the lesson goes on, the owner keeps the room, nodes register again', { timeout: 120000 }, () =>
  envs[0].diagnose(async () => {
    assert.ok(studentPage && placed, 'the first test left a student in the lesson');
    const f0 = await studentFrames();
    await waitFor(async () => (await studentFrames()) > f0 + 30, { what: 'the student hearing the room before the restart', timeoutMs: 20000 });
    await redis.stop();
    const restarted = Date.now();
    redis = new Child('redis', 'redis-server',
      ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', redisDir], {});
    await redis.waitForLine(/Ready to accept connections/, 20000);
    await waitFor(() => redisCli('scard', 'lectern:nodes') === '3', { what: 'every node registered again', timeoutMs: 30000 });
    await waitFor(() => ownerOf(ROOM), { what: 'the room\'s lease renewed back', timeoutMs: 30000 });
    assert.equal(ownerOf(ROOM), placed, 'the owner kept its room');
    console.log(`cluster-redis-restart-reregistered-ms ${Date.now() - restarted}`);
    const before = await studentFrames();
    await waitFor(async () => (await studentFrames()) > before + 30, { what: 'the student still hearing the room', timeoutMs: 20000 })
      .catch(async (err) => {
        err.message += `\ninbound: ${JSON.stringify(await inboundStats(studentPage))}`;
        for (const e of envs) err.message += `\n--- ${e.baseUrl}\n${e.hub.tail('stderr', 40)}`;
        err.message += `\n--- box\n${envs[0].appliances[0].tail('stderr', 40)}`;
        throw err;
      });
  }));

// Kill -9 of the node serving the lesson: its lease lapses, the box publishes again through the
// node it calls (which routes around the dead node and places the room on a live one), a viewer on
// a surviving node decodes the room again, and the student whose page was on the dead node is back
// in the lesson on its own. The figure (≤ 10 s in the issue) is measured
// by this test's log line and recorded in docs/cluster.md; the assertion's deadline is generous.
test('the lesson comes back on another node after the owner is killed', { timeout: 180000 }, () =>
  envs[0].diagnose(async () => {
    assert.ok(placed, 'the first test placed the room');
    const dead = envs[urls.indexOf(placed)];
    assert.notEqual(dead, envs[0], 'the box calls a node that survives');
    const survivor = urls.find((u) => u !== placed && u !== urls[0]);
    const browser = await envs[0].launchBrowser();
    const viewer = await envs[0].newPage(browser, 'whep-after');
    await viewer.goto(`${survivor}/healthz`);
    const token = envs[0].mintToken({ room: ROOM, role: 'viewer', name: 'Hall screen' });

    const killed = Date.now();
    dead.hub.proc.kill('SIGKILL');
    await dead.hub.exitPromise;
    const owner = await waitFor(() => { const o = ownerOf(ROOM); return o && o !== placed ? o : null; },
      { what: 'a live node owning the room', timeoutMs: 30000, intervalMs: 100 });
    let answer = null;
    let answeredAt = 0;
    await waitFor(async () => {
      // A viewer that got in before the box was back may wait on an empty room: ask again.
      if (!answer || answer.status !== 201 || Date.now() - answeredAt > 5000) {
        answer = await whepView(viewer, token);
        answeredAt = Date.now();
      }
      if (answer.status !== 201) return false;
      // Video, or audio where a loaded machine's bandwidth estimate paused the room's one layer.
      const got = await received(viewer);
      return got.video > 10 || got.audio > 100;
    }, { what: 'a viewer decoding the room again', timeoutMs: 30000, intervalMs: 200 });
    lastViewer = viewer;
    const backMs = Date.now() - killed;
    console.log(`cluster-failover-media-back-ms ${backMs} (new owner ${owner})`);
    assert.equal(answer.node, owner);

    // The student whose page lived on the dead node is moved by the page itself to a hub its own
    // hub listed, which sends it to the new owner: back in the lesson, hearing the room.
    await waitFor(() => new URL(studentPage.url()).origin === owner,
      { what: 'the student page on the new owner', timeoutMs: 45000, intervalMs: 200 });
    await inLesson(studentPage, 'the student back in the lesson', 30000);
    await waitFor(async () => (await studentFrames()) > 50, { what: 'the student hearing the room again', timeoutMs: 30000 });
    console.log(`cluster-failover-student-back-ms ${Date.now() - killed}`);
  }));

// SIGTERM drains a cluster node: it stops taking new rooms (the registry says it is not serving)
// while its lesson runs on; a second SIGTERM stops it.
test('SIGTERM drains a node: its lesson runs on, new rooms go elsewhere, a second SIGTERM stops it', { timeout: 120000 }, () =>
  envs[0].diagnose(async () => {
    assert.ok(lastViewer, 'the failover test left a viewer watching');
    const owner = ownerOf(ROOM);
    const draining = envs[urls.indexOf(owner)];
    assert.ok(draining && !draining.hub.exited, `the owner ${owner} runs`);
    draining.hub.proc.kill('SIGTERM');
    await waitFor(() => {
      const record = redisCli('get', `lectern:node:${owner}`);
      return record && JSON.parse(record).serving === false;
    }, { what: 'the draining node saying it is not serving', timeoutMs: 15000 });
    assert.equal(draining.hub.exited, null, 'a draining node keeps running while its lesson does');
    const before = (await received(lastViewer)).audio;
    await waitFor(async () => (await received(lastViewer)).audio > before + 50,
      { what: 'the lesson running on during the drain', timeoutMs: 20000 });
    // A room nobody has yet, asked of the draining node, is placed on another.
    const viewer = await envs[0].newPage(await envs[0].launchBrowser(), 'whep-new-room');
    await viewer.goto(`${owner}/healthz`);
    const answer = await viewer.evaluate(async ({ token }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch('/whep/cluster-new', {
        method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
      });
      pc.close();
      return { status: res.status, node: res.headers.get('lectern-node'), text: res.status === 201 ? '' : await res.text() };
    }, { token: envs[0].mintToken({ room: 'cluster-new', role: 'viewer', name: 'Screen' }) });
    assert.equal(answer.status, 201, answer.text);
    assert.notEqual(answer.node, owner, 'a draining node takes no new room');
    draining.hub.proc.kill('SIGTERM');
    await waitFor(() => draining.hub.exited, { what: 'a second SIGTERM stopping the node', timeoutMs: 15000 });
  }));
