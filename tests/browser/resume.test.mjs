// A student whose signalling socket dies without the hub noticing (a network change: the old TCP
// connection is left dangling) comes back on a new socket as the same participant: same id, the
// others never see it leave, and its media flows again. The dangling socket closing later does not
// end it either.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, waitFor } from './harness.mjs';

const env = new Env('resume');
const ROOM = 'resume';

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

/** Video frames `page` has decoded from participant `from`, over every stream it sent (a resumed
 * participant publishes anew: another stream, perhaps on the same m-line). */
async function framesFrom(page, from) {
  return (await inboundStats(page))
    .filter((s) => s.kind === 'video' && s.participantId === from)
    .reduce((sum, s) => sum + s.framesDecoded, 0);
}

test('a student back on a new socket stays the same participant', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const grace = await env.newPage(browser, 'Grace');
  // Everything the hub tells Grace, to see that nobody left.
  const toGrace = [];
  await grace.routeWebSocket(/\/rtc$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
      toGrace.push(JSON.parse(String(m)));
      if (process.env.DEBUG_RESUME) console.log('hub->grace', String(m).replace(/"sdp":"[^"]*"/, '"sdp":…').slice(0, 300));
      ws.send(m);
    });
  });
  await grace.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'teacher', name: 'Grace' })));
  await waitFor(() => grace.evaluate(() => window.lectern.state === 'connected'), { what: 'Grace connected' });

  const ada = await env.newPage(browser, 'Ada');
  // Ada's sockets, page side and hub side apart: closing one does not close the other, as when a
  // network change kills the page's connection and the hub's end is left open.
  const sockets = [];
  await ada.routeWebSocket(/\/rtc$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => { if (process.env.DEBUG_RESUME) console.log('page->hub', String(m).slice(0, 200)); server.send(m); });
    server.onMessage((m) => { if (process.env.DEBUG_RESUME) console.log('hub->page', String(m).slice(0, 300)); ws.send(m); });
    ws.onClose(() => {});
    server.onClose(() => {});
    sockets.push({ page: ws, hub: server });
  });
  await ada.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name: 'Ada' })));
  const adaId = await waitFor(() => ada.evaluate(() => window.lectern.state === 'connected' && window.lectern.self?.participantId),
    { what: 'Ada connected' });
  await waitFor(async () => (await framesFrom(grace, adaId)) > 10, { what: "Grace decodes Ada's camera" });

  // The page's socket dies; the hub's end of it stays open.
  sockets[0].page.close();
  await waitFor(() => sockets.length === 2, { what: 'Ada opens a new socket', timeoutMs: 30000 });
  await waitFor(() => ada.evaluate(() => window.lectern.state === 'connected'), { what: 'Ada connected again' });
  assert.equal(await ada.evaluate(() => window.lectern.self.participantId), adaId, 'the same participant');
  const before = await framesFrom(grace, adaId);
  await waitFor(async () => (await framesFrom(grace, adaId)) > before + 10,
    { what: "Grace decodes Ada's camera again", timeoutMs: 30000 });

  // The old socket's end reaches the hub at last: it is no longer Ada's.
  sockets[0].hub.close();
  const left = () => toGrace.some((m) => m.type === 'participantLeft' && m.participantId === adaId);
  // An observation window for something that must NOT happen, after the close has been handled.
  await grace.waitForTimeout(1500);
  assert.ok(!left(), 'Grace saw Ada leave');
  assert.ok(await grace.evaluate((id) => id in window.lectern.participants, adaId), 'Ada is still in the room');
  assert.equal(await ada.evaluate(() => window.lectern.state), 'connected');
}));
