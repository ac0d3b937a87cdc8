// Two remote students in one room (no appliance): each receives the other's camera, and the hub's
// track list maps it to the right participant.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inboundStats, joinUrl, lecternSnapshot, waitFor } from './harness.mjs';

const ROOM = 'two-students';
const env = new Env('two_students');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

test('each student sees the other student', { timeout: 90000 }, () => env.diagnose(async () => {
  const browser = await env.launchBrowser();
  const pages = [];
  for (const name of ['Ada', 'Grace']) {
    const token = env.mintToken({ room: ROOM, role: 'student', name });
    const page = await env.newPage(browser, name); // its own browser context
    await page.goto(joinUrl(env.baseUrl, ROOM, token));
    pages.push(page);
  }
  const ids = [];
  for (const page of pages) {
    ids.push(await waitFor(() => page.evaluate(() => window.lectern.self && window.lectern.self.participantId),
      { what: 'joined' }));
  }
  assert.notEqual(ids[0], ids[1]);

  for (const [i, page] of pages.entries()) {
    const other = ids[1 - i];
    const seen = await waitFor(async () => {
      const v = (await inboundStats(page)).find((s) => s.kind === 'video' && s.participantId === other);
      return v && v.framesDecoded > 10 ? v : null;
    }, { what: `student ${i} decoding video of participant ${other}` }).catch(async (err) => {
      err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}` +
        `\ninbound: ${JSON.stringify(await inboundStats(page).catch(() => null))}`;
      throw err;
    });
    // Still flowing, not a burst at the start: the count goes on past what the first wait saw.
    const video = async () => (await inboundStats(page)).find((s) => s.kind === 'video' && s.participantId === other);
    await waitFor(async () => ((await video())?.framesDecoded ?? 0) > seen.framesDecoded + 10,
      { what: `student ${i} still decoding participant ${other} after frame ${seen.framesDecoded}` });
    // The tile for the other student carries its id and role.
    const tile = page.locator(`#others video[data-participant-id="${other}"][data-role="student"]`);
    assert.equal(await tile.count(), 1, 'a tile for the other student');
  }

  // Grace switches her camera off: Ada's tile for her shows the camera-off placeholder.
  const graceTileAtAda = pages[0].locator(`#others .tile[data-participant-id="${ids[1]}"]`);
  await pages[1].getByRole('button', { name: /camera on/i }).click();
  assert.equal(await pages[1].locator('#cam').getAttribute('aria-pressed'), 'false');
  await waitFor(async () => /video-off/.test(await graceTileAtAda.getAttribute('class')),
    { what: "Ada's tile for Grace showing camera off" });
  await pages[1].getByRole('button', { name: /camera off/i }).click();
  await waitFor(async () => !/video-off/.test(await graceTileAtAda.getAttribute('class')),
    { what: "Ada's tile for Grace showing video again" });

  // Grace leaves: her tile disappears from Ada's page.
  await pages[1].getByRole('button', { name: 'Leave' }).click();
  assert.equal(await pages[1].evaluate(() => window.lectern.state), 'left');
  await waitFor(async () => (await graceTileAtAda.count()) === 0, { what: "Grace's tile removed at Ada's" });
  assert.equal(await pages[0].evaluate(() => window.lectern.state), 'connected');
}));
