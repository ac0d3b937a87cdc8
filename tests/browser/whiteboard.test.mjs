// The whiteboard (issue 22): two students drawing at once converge (the documents are compared,
// not pixels), a late joiner gets the whole board, pages and undo/redo work, and the teacher's lock
// and pen-to-one-student are enforced at the hub: an update sent raw from a page that may not draw
// is refused and reaches nobody.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, waitFor } from './harness.mjs';

const env = new Env('whiteboard');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

const boardOf = (page) => page.evaluate(() => window.lectern.boards.board());
/** JSON with sorted keys: the hub (yrs) re-encodes an item's keys in its own order. */
const canonical = (v) => JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
const strokes = (board) => (board ? board.pages.flat() : []);
const status = (page) => page.getByTestId('board-status').textContent();

async function openBoard(page) {
  await page.getByTestId('board-toggle').click();
  await page.getByTestId('board-canvas').waitFor({ state: 'visible' });
}

/** A pen stroke from (x0, y0) to (x1, y1), in 0..1 of the board. */
async function draw(page, [x0, y0], [x1, y1]) {
  const box = await page.getByTestId('board-canvas').boundingBox();
  await page.mouse.move(box.x + x0 * box.width, box.y + y0 * box.height);
  await page.mouse.down();
  await page.mouse.move(box.x + x1 * box.width, box.y + y1 * box.height, { steps: 8 });
  await page.mouse.up();
}

/** Sends a stroke to the hub as a raw Yjs update, bypassing the page's own checks. */
function sendRaw(page, label) {
  return page.evaluate(async (label) => {
    const Y = await import('/assets/yjs.js');
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(window.lectern.boards.view().doc));
    const before = Y.encodeStateVector(doc);
    doc.getArray('page-0').push([{ id: label, tool: 'pen', color: '#f00', width: 4, pts: [0.1, 0.1, 0.9, 0.9] }]);
    const update = Y.encodeStateAsUpdate(doc, before);
    let s = '';
    for (const b of update) s += String.fromCharCode(b);
    window.lectern.boards.send({ type: 'boardUpdate', doc: 'board', update: btoa(s) });
  }, label);
}

const refusals = (page) => page.evaluate(() => window.lectern.events.filter((e) => e.type === 'boardRefused').length);

async function setMode(teacher, mode, pen) {
  await teacher.getByTestId('board-mode').selectOption(mode);
  if (pen != null) await teacher.getByTestId('board-pen').selectOption(String(pen));
}

test('two students draw at once and converge; pages, undo/redo and a late joiner', { timeout: 180000 }, () => env.diagnose(async () => {
  const room = 'board-sync';
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room, role: 'teacher', name: 'Ms Hamilton' });
  await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room, name: 'Ada' });
  const { page: grace } = await openLesson(env, browser, { room, name: 'Grace' });
  await inLesson(ada, 'Ada in');
  await inLesson(grace, 'Grace in');
  for (const p of [teacher, ada, grace]) await openBoard(p);
  assert.match(await status(ada), /Only the teacher draws/);

  await setMode(teacher, 'everyone');
  await waitFor(async () => /Everyone may draw/.test(await status(ada)) && /Everyone may draw/.test(await status(grace)), { what: 'students told they may draw' });

  // Both draw at the same time, several strokes each.
  const scribble = async (page, y) => { for (let i = 0; i < 3; i++) await draw(page, [0.1 + i * 0.1, y], [0.15 + i * 0.1, y + 0.1]); };
  await Promise.all([scribble(ada, 0.2), scribble(grace, 0.6)]);
  await waitFor(async () => {
    const [t, a, g] = await Promise.all([teacher, ada, grace].map(boardOf));
    return strokes(t).length === 6 && canonical(t) === canonical(a) && canonical(a) === canonical(g);
  }, { what: 'three copies of the board with all six strokes, identical' });
  const adaId = await ada.evaluate(() => window.lectern.self.participantId);
  assert.equal(strokes(await boardOf(teacher)).filter((s) => s.by === adaId).length, 3);

  // Undo takes back Ada's own last stroke only, everywhere; redo brings it back.
  await ada.getByTestId('board-undo').click();
  await waitFor(async () => (await Promise.all([teacher, grace, ada].map(boardOf))).every((b) => strokes(b).length === 5), { what: 'undo reached everyone' });
  assert.equal(strokes(await boardOf(grace)).filter((s) => s.by === adaId).length, 2, 'the undone stroke was Ada\'s');
  await ada.getByTestId('board-redo').click();
  await waitFor(async () => (await Promise.all([teacher, grace, ada].map(boardOf))).every((b) => strokes(b).length === 6), { what: 'redo reached everyone' });

  // A second page, drawn on by the teacher.
  await teacher.getByTestId('board-add-page').click();
  await draw(teacher, [0.3, 0.3], [0.6, 0.4]);
  await waitFor(async () => { const b = await boardOf(grace); return b.pages.length === 2 && b.pages[1].length === 1; }, { what: 'the second page reached Grace' });
  assert.match(await teacher.getByTestId('board-page').textContent(), /Page 2 of 2/);

  // Bea comes late and gets the whole board.
  const { page: bea } = await openLesson(env, browser, { room, name: 'Bea' });
  await inLesson(bea, 'Bea in');
  await waitFor(async () => canonical(await boardOf(bea)) === canonical(await boardOf(teacher)), { what: 'the late joiner\'s board equals the teacher\'s' });
  assert.equal(strokes(await boardOf(bea)).length, 7);

  // The room display (the device-role page on the classroom screen) shows the board by itself.
  const { page: display } = await openLesson(env, browser, { room, role: 'device', name: 'Room 101' });
  await inLesson(display, 'the room display in');
  await display.getByTestId('board-canvas').waitFor({ state: 'visible' });
  await waitFor(async () => canonical(await boardOf(display)) === canonical(await boardOf(teacher)), { what: 'the room display shows the whole board' });
  assert.equal(await display.getByTestId('board-tool-pen').isVisible(), false, 'the display draws nothing');
}));

test('the lock and the pen are enforced at the hub: a refused stroke reaches nobody', { timeout: 180000 }, () => env.diagnose(async () => {
  const room = 'board-lock';
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room, role: 'teacher', name: 'Ms Hamilton' });
  await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room, name: 'Ada' });
  const { page: grace } = await openLesson(env, browser, { room, name: 'Grace' });
  const adaId = await inLesson(ada, 'Ada in');
  await inLesson(grace, 'Grace in');
  for (const p of [teacher, ada, grace]) await openBoard(p);
  // Locked (the default): the tools are off, and a raw update from the page is refused at the hub.
  assert.equal(await ada.getByTestId('board-tool-pen').isDisabled(), true);
  await sendRaw(ada, 'forbidden-1');
  await waitFor(async () => (await refusals(ada)) === 1, { what: 'Ada told her stroke was refused' });
  // Anything the teacher draws after the refusal reaches Grace after it would have.
  await draw(teacher, [0.2, 0.2], [0.4, 0.4]);
  await waitFor(async () => strokes(await boardOf(grace)).length === 1, { what: 'the teacher\'s stroke reached Grace' });
  for (const p of [teacher, grace, ada]) {
    await waitFor(async () => strokes(await boardOf(p)).length === 1, { what: 'one stroke on each board' });
    assert.ok(!strokes(await boardOf(p)).some((s) => s.id === 'forbidden-1'), 'the refused stroke is nowhere, not even on Ada\'s own board');
  }

  // The pen goes to Ada: she draws, Grace may not.
  await setMode(teacher, 'pen', adaId);
  await waitFor(async () => /You have the pen/.test(await status(ada)) && /Ada has the pen/.test(await status(grace)), { what: 'both told who holds the pen' });
  assert.equal(await grace.getByTestId('board-tool-pen').isDisabled(), true);
  await draw(ada, [0.5, 0.5], [0.7, 0.6]);
  await waitFor(async () => strokes(await boardOf(grace)).length === 2, { what: 'Ada\'s stroke reached Grace' });
  await sendRaw(grace, 'forbidden-2');
  await waitFor(async () => (await refusals(grace)) === 1, { what: 'Grace told her stroke was refused' });
  await draw(ada, [0.6, 0.1], [0.8, 0.2]);
  await waitFor(async () => strokes(await boardOf(teacher)).length === 3, { what: 'Ada\'s second stroke reached the teacher' });
  for (const p of [teacher, ada]) assert.ok(!strokes(await boardOf(p)).some((s) => s.id === 'forbidden-2'));
  await waitFor(async () => strokes(await boardOf(grace)).length === 3, { what: 'Grace resynced' });
  assert.ok(!strokes(await boardOf(grace)).some((s) => s.id === 'forbidden-2'));

  // Export: a PNG of the page.
  const download = teacher.waitForEvent('download');
  await teacher.getByTestId('board-export-png').click();
  assert.match((await download).suggestedFilename(), /^whiteboard-page-1\.png$/);
}));

test('the teacher draws over a frame of the shared slides', { timeout: 120000 }, () => env.diagnose(async () => {
  const room = 'board-slides';
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room, role: 'teacher', name: 'Ms Hamilton' });
  await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room, name: 'Ada' });
  await inLesson(ada, 'Ada in');
  await ada.getByTestId('share-screen').click();
  await waitFor(() => teacher.evaluate(() => document.getElementById('screen-video').videoWidth > 0), { what: 'the shared screen playing at the teacher' });
  await openBoard(teacher);
  await teacher.getByTestId('board-slides').click();
  await waitFor(async () => (await boardOf(ada))?.meta?.['bg-0'] > 1000, { what: 'the slide frame reached Ada\'s board as page 1\'s background' });
  const bytes = (await boardOf(teacher)).meta['bg-0'];
  assert.ok(bytes <= 24 * 1024, `the frame (${bytes} B) fits one update`);
  await draw(teacher, [0.2, 0.2], [0.5, 0.5]);
  await waitFor(async () => strokes(await boardOf(ada)).length === 1, { what: 'the stroke over the slide reached Ada' });
}));
