// What a student sees with the classroom box's slides and camera both live, on a laptop and on a
// phone held either way: both pictures decode and fit the window without scrolling (the slides
// large, the room camera as a tile the student can swap with them), and no control's label needs an
// emoji font (a bare Chromium draws an empty box for a missing glyph). Hub + a virtual box with
// `--content virtual` (slides on a second video track, "plugged in" while a file exists) + Chromium.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Env, classroomOf, inLesson, inboundStats, lecternSnapshot, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'room-layout';
const VIEWPORTS = [
  { what: 'a laptop', width: 1280, height: 720 },
  { what: 'a phone in portrait', width: 390, height: 844 },
  { what: 'a phone in landscape', width: 844, height: 390 },
];
/** The share of each picture that must be on screen (not under the fixed controls bar either). */
const MIN_VISIBLE = 0.6;
const PICTOGRAPH = /\p{Extended_Pictographic}/u;
const SLIDES = '#screen-video';
const CAMERA = '#stage .tile:not([hidden]) video';

const env = new Env('student_layout');
let browser;

before(() => env.diagnose(async () => {
  await env.startHub();
  const plug = path.join(env.dataDir, 'laptop-plug');
  writeFileSync(plug, '');
  const box = env.startAppliance({
    room: ROOM,
    token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' }),
    args: ['--content', 'virtual'],
    env: { LECTERN_TEST_CONTENT_PLUG: plug },
  });
  const m = await box.waitForLine(/status endpoint listening.*?(\d+\.\d+\.\d+\.\d+:\d+)/, 30000);
  await waitFor(async () => {
    const res = await fetch(`http://${m[1]}/status`, { signal: AbortSignal.timeout(2000) });
    return res.ok && (await res.json()).state === 'live';
  }, { timeoutMs: 90000, what: 'the box live with camera and slides' });
  browser = await env.launchBrowser();
}));

after(() => env.close());

/** Resolves once `selector`'s video has a picture and paints `frames` more frames. */
async function decodes(page, selector, what, frames = 5) {
  const video = page.locator(selector);
  const painted = () => video.evaluate((v) => (v.videoWidth > 0 ? v.getVideoPlaybackQuality().totalVideoFrames : -1));
  const first = await waitFor(async () => {
    const n = await painted();
    return n >= 0 ? { n } : null;
  }, { timeoutMs: 60000, what: `${what} has a picture` }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}` +
      `\ninbound: ${JSON.stringify(await inboundStats(page).catch(() => null))}`;
    throw err;
  });
  await waitFor(async () => (await painted()) >= first.n + frames, { timeoutMs: 30000, what: `${what} painting ${frames} more frames` });
}

/**
 * Where `selector` is and how much of it the student sees without scrolling: the window minus the
 * fixed controls bar at its bottom.
 */
function placement(page, selector) {
  return page.locator(selector).evaluate((el) => {
    const r = el.getBoundingClientRect();
    const bottom = Math.min(window.innerHeight, document.getElementById('controls').getBoundingClientRect().top);
    const w = Math.max(0, Math.min(r.right, window.innerWidth) - Math.max(r.left, 0));
    const h = Math.max(0, Math.min(r.bottom, bottom) - Math.max(r.top, 0));
    const area = r.width * r.height;
    return {
      rect: [r.x, r.y, r.width, r.height].map(Math.round),
      area,
      visible: area > 0 ? (w * h) / area : 0,
      scrolled: document.scrollingElement.scrollTop,
    };
  });
}

/** Both pictures at least MIN_VISIBLE on screen, unscrolled; returns their placements. */
async function bothOnScreen(page, when) {
  const slides = await placement(page, SLIDES);
  const camera = await placement(page, CAMERA);
  const seen = `slides ${JSON.stringify(slides)}, camera ${JSON.stringify(camera)}`;
  assert.equal(slides.scrolled, 0, `the page is not scrolled (${when})`);
  assert.ok(slides.visible >= MIN_VISIBLE, `the slides are ${Math.round(slides.visible * 100)} % on screen ${when}: ${seen}`);
  assert.ok(camera.visible >= MIN_VISIBLE, `the room camera is ${Math.round(camera.visible * 100)} % on screen ${when}: ${seen}`);
  return { slides, camera, seen };
}

/** Every visible control's label is words, and every icon on them is an inline SVG. */
async function assertControlsNeedNoEmojiFont(page) {
  const buttons = await page.locator('#controls button').evaluateAll((all) => all.filter((b) => b.checkVisibility())
    .map((b) => ({
      id: b.id,
      text: b.textContent.replace(/\s+/g, ' ').trim(),
      icons: [...b.querySelectorAll('.icon')].map((i) => i.tagName.toLowerCase()),
      svgWidth: b.querySelector('svg')?.getBoundingClientRect().width ?? 0,
    })));
  const ids = buttons.map((b) => b.id);
  for (const id of ['mic', 'cam', 'hand', 'react', 'leave']) assert.ok(ids.includes(id), `#${id} is in the toolbar: ${ids}`);
  for (const b of buttons) {
    assert.doesNotMatch(b.text, PICTOGRAPH, `#${b.id}'s label "${b.text}" is a pictograph`);
    assert.ok(b.icons.every((t) => t === 'svg'), `#${b.id}'s icons are inline SVG (${b.icons})`);
    if (b.id !== 'leave') assert.ok(b.icons.length === 1 && b.svgWidth > 0, `#${b.id} shows its SVG icon: ${JSON.stringify(b)}`);
  }
  // The accessible names the other tests (and screen readers) rely on.
  await page.getByRole('button', { name: 'Raise hand' }).waitFor();
  await page.getByRole('button', { name: 'React' }).waitFor();
  // Nothing else the page says (status, captions, tiles) depends on an emoji font either.
  assert.doesNotMatch(await page.evaluate(() => document.body.innerText), PICTOGRAPH, 'no pictograph on the page');
}

for (const vp of VIEWPORTS) {
  test(`on ${vp.what} (${vp.width}x${vp.height}) a student sees slides and room camera without scrolling, and can swap them`, { timeout: 150000 }, () => env.diagnose(async () => {
    const { page } = await openLesson(env, browser, { room: ROOM, name: `Ada ${vp.width}`, viewport: { width: vp.width, height: vp.height } });
    try {
      await inLesson(page, 'the student in the lesson');
      await decodes(page, SLIDES, 'the slides');
      await decodes(page, CAMERA, 'the room camera');
      const swap = page.getByTestId('swap-view');
      await waitFor(() => swap.isVisible(), { what: 'the swap control' });

      const before = await bothOnScreen(page, 'with the slides large');
      assert.ok(before.slides.area > before.camera.area, `the slides are the large picture: ${before.seen}`);
      await assertControlsNeedNoEmojiFont(page);

      // The student wants to see the teacher, not the slides.
      assert.equal(await swap.getAttribute('title'), 'Show the room camera large');
      await swap.click();
      await waitFor(async () => (await page.locator('#view').getAttribute('data-primary')) === 'room', { what: 'the camera made large' });
      const swapped = await bothOnScreen(page, 'after the swap');
      assert.ok(swapped.camera.area > swapped.slides.area, `after the swap the room camera is the large picture: ${swapped.seen}`);
      assert.ok(swapped.camera.area >= before.slides.area * 0.9, `the camera takes the slides' place: ${swapped.seen}; before: ${before.seen}`);

      // And back, from the keyboard.
      assert.equal(await swap.getAttribute('title'), 'Show the slides large');
      await swap.focus();
      await page.keyboard.press('Enter');
      await waitFor(async () => (await page.locator('#view').getAttribute('data-primary')) === 'screen', { what: 'the slides large again' });
      const back = await bothOnScreen(page, 'after swapping back');
      assert.ok(back.slides.area > back.camera.area, `the slides are large again: ${back.seen}`);
      // Both still moving after being moved around.
      await decodes(page, SLIDES, 'the slides after the swaps', 3);
      await decodes(page, CAMERA, 'the room camera after the swaps', 3);
    } finally {
      await page.context().close();
    }
  }));
}

test('a raised hand shows as an icon and words, never as an emoji, on the tile and in the people list', { timeout: 120000 }, () => env.diagnose(async () => {
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Meitner' });
  const { page: student } = await openLesson(env, browser, { room: ROOM, name: 'Grace' });
  try {
    await inLesson(teacher, 'the teacher in the lesson');
    const grace = await inLesson(student, 'the student in the lesson');
    await student.getByRole('button', { name: 'Raise hand' }).click();
    await waitFor(async () => (await classroomOf(teacher)).hands.some((h) => h.participantId === grace), { what: 'the hand at the teacher' });

    const badge = teacher.locator(`.tile[data-participant-id="${grace}"] .badge.hand`);
    await waitFor(() => badge.isVisible(), { what: "the hand badge on Grace's tile" });
    assert.equal(await badge.locator('svg.icon').count(), 1, 'the badge draws the hand as an inline SVG');
    assert.equal((await badge.textContent()).trim(), 'hand raised', 'and says it in words');

    // Only teachers (and the room display) are told whose hands are up.
    await openTab(teacher, 'people');
    const tag = teacher.locator(`[data-testid="person"][data-participant-id="${grace}"] .tag.hand`);
    await waitFor(() => tag.isVisible(), { what: "the hand tag in the teacher's people list" });
    assert.equal(await tag.locator('svg.icon').count(), 1, 'the people list draws the hand as an inline SVG');
    assert.equal((await tag.textContent()).trim(), 'hand up');
    await openTab(student, 'people');
    for (const [page, who] of [[teacher, 'the teacher'], [student, 'Grace']]) {
      assert.doesNotMatch(await page.evaluate(() => document.body.innerText), PICTOGRAPH, `no pictograph on ${who}'s page`);
    }
    await waitFor(async () => (await student.getByTestId('hand-toggle').textContent()).trim() === 'Lower hand', { what: 'the button offers to lower the hand' });
  } finally {
    await teacher.context().close();
    await student.context().close();
  }
}));
