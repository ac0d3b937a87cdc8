// Reaching the hub on a changing network, on loopback: `?relay=1` makes both peer connections
// relay-only, and an ICE restart (what a network change or a lasting `disconnected` triggers) keeps
// the same peer connections and the same participant: new ICE credentials on both connections, the
// other student sees nobody leave, and media flows again. The restart after a real cut and address
// change is tests/netem/reach.test.mjs (root).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, lecternSnapshot, waitFor } from './harness.mjs';

const ROOM = 'ice-restart';
const env = new Env('ice_restart');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

const selfId = (page) => waitFor(
  () => page.evaluate(() => window.lectern.state === 'connected' && window.lectern.self?.participantId),
  { what: 'connected' });

async function decodes(page, other, more, what) {
  const frames = async () => (await inboundStats(page)).find((s) => s.kind === 'video' && s.participantId === other)?.framesDecoded ?? 0;
  const from = more ? await frames() : 0;
  return waitFor(async () => ((await frames()) > from + 10 ? true : null), { what }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}`;
    throw err;
  });
}

const ufrags = (page) => page.evaluate(() => {
  const u = (d) => (d && /a=ice-ufrag:(\S+)/.exec(d.sdp)?.[1]) || null;
  const { publishPc: p, subscribePc: s } = window.lectern;
  return { pubLocal: u(p.localDescription), pubRemote: u(p.remoteDescription), subLocal: u(s.localDescription), subRemote: u(s.remoteDescription) };
});

test('?relay=1 makes both peer connections relay-only; without it they may use any path', { timeout: 60000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const ada = await env.newPage(browser, 'Ada');
  await ada.goto(joinUrl(env.baseUrl, `${ROOM}-relay`, env.mintToken({ room: `${ROOM}-relay`, role: 'student', name: 'Ada' })));
  await selfId(ada);
  const grace = await env.newPage(browser, 'Grace');
  await grace.goto(`${joinUrl(env.baseUrl, `${ROOM}-relay`, env.mintToken({ room: `${ROOM}-relay`, role: 'student', name: 'Grace' }))}&relay=1`);
  await selfId(grace);
  // Grace's subscribe connection comes with the hub's first offer of Ada's tracks. (Grace, relay
  // only and with no TURN server on loopback, never connects, so Ada gets no subscribe connection.)
  const policies = (page) => page.evaluate(() => {
    const { publishPc: p, subscribePc: s } = window.lectern;
    return p && s ? [p.getConfiguration().iceTransportPolicy, s.getConfiguration().iceTransportPolicy] : null;
  });
  assert.deepEqual(await waitFor(() => policies(grace), { what: "Grace's two peer connections" }), ['relay', 'relay']);
  assert.equal(await ada.evaluate(() => window.lectern.publishPc.getConfiguration().iceTransportPolicy), 'all');
}));

test('an ICE restart keeps the peer connections and the participant, and media comes back', { timeout: 90000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const pages = [];
  for (const name of ['Ada', 'Grace']) {
    const page = await env.newPage(browser, name);
    await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name })));
    pages.push(page);
  }
  const [ada, grace] = pages;
  const ids = [await selfId(ada), await selfId(grace)];
  await decodes(ada, ids[1], false, 'Ada decodes Grace');
  await decodes(grace, ids[0], false, 'Grace decodes Ada');
  await ada.evaluate(() => { window.lectern.publishPc.before = true; window.lectern.subscribePc.before = true; });
  const before = await ufrags(ada);

  await ada.evaluate(() => window.lectern.restartIce('test'));
  const rec = await waitFor(() => ada.evaluate(() => {
    const r = window.lectern.iceRestarts[0];
    return r && r.outcome !== 'pending' ? r : null;
  }), { what: 'the ICE restart to end' });
  assert.equal(rec.outcome, 'ok', JSON.stringify(rec));
  assert.ok(rec.ms < 10000, `restart took ${rec.ms} ms`);

  const after = await ufrags(ada);
  for (const k of Object.keys(before)) assert.notEqual(after[k], before[k], `${k}: new ICE credentials (${before[k]} → ${after[k]})`);
  assert.deepEqual(await ada.evaluate(() => [window.lectern.publishPc.before, window.lectern.subscribePc.before]), [true, true],
    'the same peer connections');
  assert.equal(await ada.evaluate(() => window.lectern.self.participantId), ids[0], 'the same participant');
  assert.equal(await ada.evaluate(() => window.lectern.state), 'connected');
  await decodes(ada, ids[1], true, 'Ada decodes Grace after the restart');
  await decodes(grace, ids[0], true, 'Grace decodes Ada after the restart');
  const graceSaw = await grace.evaluate(() => window.lectern.events.map((e) => e.type));
  assert.ok(!graceSaw.includes('participantLeft'), `Grace saw: ${graceSaw.join(' ')}`);
  assert.doesNotMatch(env.hub.tail('stdout', 400) + env.hub.tail('stderr', 400), /media connection closed/);
}));
