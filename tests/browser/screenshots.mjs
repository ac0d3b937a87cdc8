// Regenerates docs/teacher-view.png and docs/student-view.png: a lesson with the virtual classroom
// on air (camera and the laptop's slides), a raised hand, a chat message, an open poll and a guest in
// the lobby, at 1280x720; and the student's page on a phone, docs/student-phone-portrait.png (390x844)
// and docs/student-phone-landscape.png (844x390).
// Run: node screenshots.mjs (after cargo build -p lectern-hub -p lectern-appliance).

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { Env, REPO, inLesson, inboundStats, openLesson, openTab, waitFor } from './harness.mjs';

const ROOM = 'physics-7b';
const VIEW = { width: 1280, height: 720 };
const PHONES = [
  ['student-phone-portrait.png', { width: 390, height: 844 }],
  ['student-phone-landscape.png', { width: 844, height: 390 }],
];
const env = new Env('screenshots');
// Reactions are emoji, drawn by the viewer's own font: on a machine without an emoji font (a bare
// Debian) they would show as empty boxes, so the pictures then show none.
const EMOJI_FONT = spawnSync('fc-list', [':charset=1f44f'], { encoding: 'utf8' }).stdout?.trim() !== '';

const decoding = (page, role) => waitFor(async () => {
  const v = (await inboundStats(page)).filter((s) => s.kind === 'video' && (!role || s.role === role));
  return v.length && v.every((s) => s.framesDecoded > 20);
}, { what: `video decoding${role ? ` from ${role}` : ''}`, timeoutMs: 45000 });

try {
  await env.startHub();
  // The teacher's laptop is plugged into the box while this file exists (the appliance's test hook).
  const plug = path.join(env.dataDir, 'laptop-plug');
  writeFileSync(plug, '');
  env.startAppliance({
    room: ROOM,
    token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' }),
    args: ['--content', 'virtual'],
    env: { LECTERN_TEST_CONTENT_PLUG: plug },
  });
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room: ROOM, role: 'teacher', name: 'Ms Meitner', viewport: VIEW });
  await inLesson(teacher);
  const { page: ada } = await openLesson(env, browser, { room: ROOM, name: 'Ada Lovelace', viewport: VIEW });
  const { page: grace } = await openLesson(env, browser, { room: ROOM, name: 'Grace Hopper', viewport: VIEW });
  await inLesson(ada);
  await inLesson(grace);

  await ada.getByTestId('hand-toggle').click();
  await openTab(grace, 'chat');
  await grace.getByTestId('chat-input').fill('Could you show the second diagram again, please?');
  await grace.getByTestId('chat-send').click();

  await openTab(teacher, 'polls');
  await teacher.getByTestId('poll-question-input').fill('Which wave needs a medium to travel?');
  const options = teacher.getByTestId('poll-option-input');
  await options.nth(0).fill('Light');
  await options.nth(1).fill('Sound');
  await teacher.getByTestId('poll-add-option').click();
  await options.nth(2).fill('Radio');
  await teacher.getByTestId('poll-start').click();
  await waitFor(() => grace.evaluate(() => window.lectern.classroom.poll?.open), { what: 'poll at Grace' });
  await openTab(grace, 'polls');
  await grace.getByTestId('poll-option').nth(1).check();
  await grace.getByTestId('poll-submit').click();

  // A guest waiting in the lobby, for the teacher's panel.
  const { page: guest } = await openLesson(env, browser, { room: ROOM, guest: true, label: 'guest' });
  await guest.getByTestId('guest-name').fill('Marie (visitor)');
  await guest.getByTestId('guest-join').click();
  await waitFor(() => teacher.evaluate(() => window.lectern.classroom.lobby?.length === 1), { what: 'guest in the lobby' });

  await openTab(ada, 'polls');
  await openTab(teacher, 'chat');
  await teacher.getByTestId('chat-input').fill('Yes: right after the poll.');
  await teacher.getByTestId('chat-send').click();
  await waitFor(() => ada.evaluate(() => window.lectern.classroom.chat.length === 2), { what: 'reply at Ada' });

  for (const page of [teacher, ada]) await decoding(page);
  const slidesShown = (page) => waitFor(() => page.locator('#screen-video').evaluate((v) => v.videoWidth > 0),
    { what: 'the slides shown', timeoutMs: 45000 });
  for (const page of [teacher, ada]) await slidesShown(page);
  const clearToasts = (page) => page.evaluate(() => document.getElementById('toasts').replaceChildren());
  /** Grace reacts and `viewer` sees it on her tile. */
  const react = async (viewer, emoji) => {
    if (!EMOJI_FONT) return;
    await grace.getByTestId('react-toggle').click();
    await grace.locator(`[data-testid="react"][data-reaction="${emoji}"]`).click();
    await viewer.locator('.tile [data-testid="reaction-pop"]').waitFor({ state: 'visible' });
  };

  await openTab(teacher, 'people');
  await react(teacher, '👏');
  await clearToasts(teacher);
  await teacher.mouse.move(0, 0);
  await teacher.screenshot({ path: path.join(REPO, 'docs', 'teacher-view.png') });

  await ada.getByTestId('poll-option').nth(1).check();
  await react(ada, '❓');
  await clearToasts(ada);
  await ada.mouse.move(0, 0);
  await ada.screenshot({ path: path.join(REPO, 'docs', 'student-view.png') });

  for (const [file, size] of PHONES) {
    await ada.setViewportSize(size);
    // The pictures are sized from the header's and controls' heights, measured after a resize.
    await waitFor(() => ada.evaluate(() => document.documentElement.style.getPropertyValue('--controls-h')
      === `${document.getElementById('controls').offsetHeight}px`), { what: 'the layout settled' });
    await ada.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await ada.screenshot({ path: path.join(REPO, 'docs', file) });
  }
  if (!EMOJI_FONT) console.log('no emoji font here (fc-list :charset=1f44f): the pictures show no reaction');
  console.log(`saved docs/teacher-view.png, docs/student-view.png and ${PHONES.map(([f]) => `docs/${f}`).join(', ')}`);
} catch (err) {
  env.report(err);
  process.exitCode = 1;
} finally {
  await env.close();
}
