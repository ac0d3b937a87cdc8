// The join page joins while it is still loading (boot.js, issue 24): its first `/rtc` socket and
// subscribe connection are made before the app runs, and the app takes both over. Taken over, not
// doubled: one socket, one join, one answer to the hub's first offer, one participant in the room;
// and the room's video plays. A guest (asked for a name first) joins the ordinary way.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, lecternSnapshot, openLesson, inLesson, waitFor } from './harness.mjs';

const ROOM = 'early-join';
const env = new Env('early_join');
let browser;

before(async () => {
  await env.diagnose(async () => {
    await env.startHub();
    env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 7' }) });
    browser = await env.launchBrowser();
  });
});

after(() => env.close());

/** Every JSON message `page` sends on any WebSocket, and how many sockets it opened. */
function watchSockets(page) {
  const seen = { sockets: 0, sent: [] };
  page.on('websocket', (ws) => {
    seen.sockets += 1;
    ws.on('framesent', (f) => {
      try { seen.sent.push(JSON.parse(f.payload).type); } catch { /* not JSON */ }
    });
  });
  return seen;
}

async function roomVideoPlays(page) {
  await waitFor(async () => {
    const v = (await inboundStats(page)).find((s) => s.role === 'device' && s.kind === 'video');
    return v && v.framesDecoded > 10;
  }, { timeoutMs: 45000, what: 'the room video decoding' }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}`;
    throw err;
  });
  await waitFor(() => page.locator('#stage video[data-role="device"]').evaluate((v) => v.videoWidth > 0), {
    what: 'the room video element rendering',
  });
}

test('a student joins on the socket and connection boot.js opened, once', { timeout: 120000 }, () => env.diagnose(async () => {
  const teacher = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Mr Early' });
  await inLesson(teacher.page);

  const page = await env.newPage(browser, 'student');
  const seen = watchSockets(page);
  await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name: 'Ada' })));
  await roomVideoPlays(page);
  // The student publishes too, on the same socket (the app's own publish connection).
  await waitFor(() => seen.sent.includes('publishOffer'), { what: 'the student publishing' });

  assert.equal(seen.sockets, 1, 'one /rtc socket: the app took over the early one');
  assert.equal(seen.sent.filter((t) => t === 'join').length, 1, 'one join');
  // The first offer was answered by boot.js and not again by the app (the hub re-offers only for
  // a change of tracks: the teacher and the student's own tracks may bring one more).
  const answers = seen.sent.filter((t) => t === 'subscribeAnswer').length;
  const offers = await page.evaluate(() => window.lectern.events.filter((e) => e.type === 'subscribeOffer').length);
  assert.equal(answers, offers, `one answer per offer (${answers} answers, ${offers} offers)`);
  assert.equal(await page.evaluate(() => window.lectern.state), 'connected');

  // The teacher sees Ada once.
  await waitFor(() => teacher.page.evaluate(() => Object.values(window.lectern.participants).filter((p) => p.name === 'Ada').length === 1),
    { what: 'the teacher seeing Ada' });
  const ada = await teacher.page.evaluate(() => Object.values(window.lectern.participants).filter((p) => p.name === 'Ada').length);
  assert.equal(ada, 1, 'Ada is in the room once');

  // A reload (the token now in this tab's storage, not the address) joins early again.
  await page.reload();
  await roomVideoPlays(page);
  assert.equal(seen.sockets, 2, 'one more socket for the reload');
  await waitFor(() => teacher.page.evaluate(() => Object.values(window.lectern.participants).filter((p) => p.name === 'Ada').length === 1),
    { what: 'the teacher seeing Ada once after her reload' });
  await page.context().close();
  await teacher.page.context().close();
}));

test('a guest gives a name first and then joins on one socket', { timeout: 120000 }, () => env.diagnose(async () => {
  const teacher = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Gate' });
  await inLesson(teacher.page);
  const page = await env.newPage(browser, 'guest');
  const seen = watchSockets(page);
  await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', guest: true })));
  await page.getByTestId('guest-name').waitFor();
  assert.equal(seen.sockets, 0, 'no socket before the guest has said who they are');
  await page.getByTestId('guest-name').fill('Grace');
  await page.getByTestId('guest-join').click();
  await waitFor(() => page.evaluate(() => window.lectern.state === 'waiting'), { what: 'the guest waiting in the lobby' });
  assert.equal(seen.sockets, 1);
  assert.equal(seen.sent.filter((t) => t === 'join').length, 1, 'one join, with the name');
  await page.context().close();
  await teacher.page.context().close();
}));

test('a room whose camera line carries nothing does not hold the page\'s load event', { timeout: 120000 }, () => env.diagnose(async () => {
  // An audio-only teacher: the hub still offers her camera's m-line, on which nothing ever comes.
  // A video element given that track before the page's `load` event holds the event for good
  // (Chromium waits for its first frame), and `page.goto` with it (breakout.test.mjs's seven pages).
  const room = 'early-join-audio';
  const teacher = await env.newPage(browser, 'teacher');
  await teacher.addInitScript(() => {
    const md = navigator.mediaDevices;
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = (c) => original({ ...c, video: false });
  });
  await teacher.goto(joinUrl(env.baseUrl, room, env.mintToken({ room, role: 'teacher', name: 'Ms Quiet' })));
  await inLesson(teacher);
  await waitFor(() => teacher.evaluate(() => window.lectern.publishPc?.connectionState === 'connected'), { what: 'the teacher publishing' });

  // The student's app is held back (notes.js, one of its modules) until boot.js's connection is up
  // with the teacher's tracks: the app then shows them while the page is still loading.
  const page = await env.newPage(browser, 'student');
  await page.addInitScript(() => {
    const native = RTCPeerConnection.prototype.setRemoteDescription;
    RTCPeerConnection.prototype.setRemoteDescription = function srd(...args) {
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected' && this.getReceivers().some((r) => r.track.kind === 'video')) window.earlyUp = true;
      });
      return native.apply(this, args);
    };
  });
  let held = false;
  await page.route(/\/assets\/notes\.js$/, async (route) => {
    held = true;
    await waitFor(() => page.evaluate(() => window.earlyUp === true), { what: 'boot.js connected with the teacher\'s camera line' });
    await route.fallback();
  });
  await page.goto(joinUrl(env.baseUrl, room, env.mintToken({ room, role: 'student', name: 'Alan' })));
  assert.ok(held, 'the app was held until the room was connected');
  const tracks = await page.evaluate(() => window.lectern.tracks.map((t) => t.kind));
  assert.ok(tracks.includes('video'), `the teacher's camera line is offered (${tracks})`);
  await inLesson(page);
  await page.context().close();
  await teacher.context().close();
}));
