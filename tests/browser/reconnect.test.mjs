// The hub goes away mid-lesson and comes back: the page says so, retries with backoff, and on
// reconnect builds both peer connections anew, so media flows again without a reload.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, waitFor } from './harness.mjs';

const ROOM = 'reconnect';
const env = new Env('reconnect');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

async function seesOther(page, other, what) {
  return waitFor(async () => {
    const v = (await inboundStats(page)).find((s) => s.kind === 'video' && s.participantId === other);
    return v && v.framesDecoded > 10 ? v : null;
  }, { what });
}

const selfId = (page) => waitFor(
  () => page.evaluate(() => window.lectern.state === 'connected' && window.lectern.self && window.lectern.self.participantId),
  { what: 'connected' });

test('students get media back after the hub restarts', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const pages = [];
  for (const name of ['Ada', 'Grace']) {
    const page = await env.newPage(browser, name);
    await page.goto(joinUrl(env.baseUrl, ROOM, env.mintToken({ room: ROOM, role: 'student', name })));
    pages.push(page);
  }
  let ids = [await selfId(pages[0]), await selfId(pages[1])];
  await seesOther(pages[0], ids[1], 'Ada sees Grace before the restart');
  for (const page of pages) await page.evaluate(() => { window.lectern.publishPc.oldSession = true; });

  const port = env.port;
  await env.hub.stop();
  for (const page of pages) {
    await waitFor(() => page.evaluate(() => window.lectern.state === 'reconnecting'), { what: 'reconnecting' });
  }
  await waitFor(async () => /cannot be reached/i.test(await pages[0].locator('#status').textContent()),
    { what: '"the hub cannot be reached" while it is down' });

  await env.startHub({ port });
  ids = [await selfId(pages[0]), await selfId(pages[1])];
  await seesOther(pages[0], ids[1], 'Ada sees Grace after the restart');
  await seesOther(pages[1], ids[0], 'Grace sees Ada after the restart');
  for (const page of pages) {
    assert.equal(await page.evaluate(() => window.lectern.publishPc.oldSession), undefined, 'a new publish connection');
  }
}));
