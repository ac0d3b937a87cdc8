// The shared notes (issue 22): two students typing at once converge, a late joiner gets the text,
// the teacher's read-only switch is enforced at the hub (a raw update from a student's page is
// refused and reaches nobody), and the notes export as Markdown and HTML.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { Env, inLesson, openLesson, openTab, waitFor } from './harness.mjs';

const env = new Env('notes');

before(() => env.diagnose(() => env.startHub()));
after(() => env.close());

const notesOf = (page) => page.evaluate(() => window.lectern.boards.notes());
const area = (page) => page.getByTestId('notes-text');

/** Types `text` right after `marker` (each student under their own heading). */
async function typeAfter(page, marker, text) {
  await area(page).click();
  await page.evaluate((marker) => {
    const a = document.querySelector('[data-testid="notes-text"]');
    const at = a.value.indexOf(marker) + marker.length;
    a.setSelectionRange(at, at);
  }, marker);
  await page.keyboard.type(text, { delay: 5 });
}

async function typeAtEnd(page, text) {
  await area(page).click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type(text, { delay: 5 });
}

/** Inserts text into the notes as a raw Yjs update, bypassing the page's read-only textarea. */
function sendRaw(page, text) {
  return page.evaluate(async (text) => {
    const Y = await import('/assets/yjs.js');
    // A fresh client inserting at the start: it depends on nothing, only the policy can refuse it.
    const doc = new Y.Doc();
    const before = Y.encodeStateVector(doc);
    doc.getText('notes').insert(0, text);
    const update = Y.encodeStateAsUpdate(doc, before);
    let s = '';
    for (const b of update) s += String.fromCharCode(b);
    window.lectern.boards.send({ type: 'boardUpdate', doc: 'notes', update: btoa(s) });
  }, text);
}

const refusals = (page) => page.evaluate(() => window.lectern.events.filter((e) => e.type === 'boardRefused').length);

test('notes edited at once converge, go read-only at the hub, and export', { timeout: 180000 }, () => env.diagnose(async () => {
  const room = 'notes';
  const browser = await env.launchBrowser();
  const { page: teacher } = await openLesson(env, browser, { room, role: 'teacher', name: 'Ms Hamilton' });
  await inLesson(teacher, 'teacher in');
  const { page: ada } = await openLesson(env, browser, { room, name: 'Ada' });
  const { page: grace } = await openLesson(env, browser, { room, name: 'Grace' });
  await inLesson(ada, 'Ada in');
  await inLesson(grace, 'Grace in');
  for (const p of [teacher, ada, grace]) await openTab(p, 'notes');

  const start = '# Fractions\n## Ada\n## Grace\n';
  await typeAtEnd(teacher, start);
  await waitFor(async () => (await notesOf(ada)) === start && (await notesOf(grace)) === start, { what: 'the headings reached both students' });
  // Both students type at the same time, each under their heading.
  await Promise.all([typeAfter(ada, '## Ada\n', '- Ada: a half is two quarters\n'), typeAfter(grace, '## Grace\n', '- Grace: a third is 2/6\n')]);
  await waitFor(async () => {
    const [t, a, g] = await Promise.all([teacher, ada, grace].map(notesOf));
    return t === a && a === g && t.includes('Ada: a half is two quarters') && t.includes('Grace: a third is 2/6');
  }, { what: 'three identical copies holding both lines' });
  const text = await notesOf(teacher);
  await waitFor(async () => (await area(grace).inputValue()) === text, { what: 'Grace\'s textarea shows the merged text' });

  // Read-only: the textarea says so, and a raw update is refused at the hub.
  await teacher.getByTestId('notes-read-only').check();
  await waitFor(async () => (await area(ada).getAttribute('readonly')) !== null, { what: 'Ada\'s notes read-only' });
  await sendRaw(ada, 'SNEAKY ');
  await waitFor(async () => (await refusals(ada)) === 1, { what: 'Ada told her edit was refused' });
  await typeAtEnd(teacher, 'Homework: p. 12\n');
  await waitFor(async () => (await notesOf(grace)).endsWith('Homework: p. 12\n'), { what: 'the teacher still writes' });
  for (const p of [teacher, grace, ada]) {
    await waitFor(async () => (await notesOf(p)).endsWith('Homework: p. 12\n'), { what: 'everyone has the teacher\'s line' });
    assert.ok(!(await notesOf(p)).includes('SNEAKY'), 'the refused edit is nowhere');
  }

  // A late joiner gets the whole text.
  const { page: bea } = await openLesson(env, browser, { room, name: 'Bea' });
  await inLesson(bea, 'Bea in');
  await waitFor(async () => (await notesOf(bea)) === (await notesOf(teacher)), { what: 'the late joiner has the notes' });

  // Exports.
  const final = await notesOf(teacher);
  let download = grace.waitForEvent('download');
  await grace.getByTestId('notes-export-md').click();
  let file = await download;
  assert.equal(file.suggestedFilename(), 'notes.md');
  assert.equal(readFileSync(await file.path(), 'utf8'), final);
  download = grace.waitForEvent('download');
  await grace.getByTestId('notes-export-html').click();
  file = await download;
  assert.equal(file.suggestedFilename(), 'notes.html');
  const html = readFileSync(await file.path(), 'utf8');
  assert.match(html, /<h1>Fractions<\/h1>/);
  assert.match(html, /<li>Ada: a half is two quarters<\/li>/);
  assert.match(html, /<p>Homework: p. 12<\/p>/);
}));
