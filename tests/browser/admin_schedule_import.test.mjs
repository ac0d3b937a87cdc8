// Importing a school's timetable CSV from the admin's Rooms page: a file with a bad line is refused
// whole, with a report naming the line and the field, and nothing is imported; the fixed file is
// imported and its lessons show in the week view, which then follows a holiday and a cancelled
// (and restored) lesson.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Env, waitFor } from './harness.mjs';

const env = new Env('admin-schedule-import');
let browser;
let admin;

before(() => env.diagnose(async () => {
  await env.startHub();
  browser = await env.launchBrowser();
  admin = await env.newPage(browser, 'admin');
}));
after(() => env.close());

const HEADER = 'room,weekday,start,end,zone,teacher,title';

async function importFile(text) {
  await admin.locator('#import-file').setInputFiles({ name: 'timetable.csv', mimeType: 'text/csv', buffer: Buffer.from(text) });
  await admin.getByRole('button', { name: 'Import', exact: true }).click();
}

/** Timetable slots as the API has them (the page's own session). */
async function slotCount() {
  return admin.evaluate(async () => (await (await fetch('/admin/api/schedules')).json()).length);
}

test('a timetable CSV with a bad line is refused with a report naming line and field; fixed, it shows in the week',
  { timeout: 120000 }, () => env.diagnose(async () => {
    await env.setupAdmin(admin, { username: 'ada', password: 'a long admin password' });
    await env.addRoom(admin, { id: 'lab-1', name: 'Physics lab', building: 'North' });
    await admin.locator('#week-status').filter({ hasText: '0 lessons' }).waitFor();

    await importFile(`${HEADER}\nlab-1,mon,08:00,09:00,,Ms Curie,Physics\nlab-1,funday,10:00,11:00,,Mr Bohr,Chemistry\n`);
    const report = admin.locator('#import-report');
    await report.waitFor({ state: 'visible' });
    assert.match(await admin.locator('#import-summary').textContent(), /Nothing was imported: 1 problem/);
    const problems = await admin.locator('#import-problems li').allTextContents();
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^Line 3, weekday: must be one of mon, tue/);
    assert.equal(await slotCount(), 0, 'nothing imported');
    assert.equal(await admin.locator('#week-days').getByText('Physics').count(), 0);

    await importFile(`${HEADER}\nlab-1,mon,08:00,09:00,,Ms Curie,Physics\nlab-1,tue,10:00,11:00,,"Bohr, N.",Chemistry\n`);
    await admin.locator('#import-done').filter({ hasText: 'Imported 2 timetable slots' }).waitFor();
    assert.ok(await report.isHidden(), 'the old report is gone');
    assert.equal(await slotCount(), 2);
    // The week view shows both, on their days.
    const week = admin.locator('#week-days');
    await waitFor(async () => (await week.getByText(/Physics/).count()) === 1, { what: 'Physics in the week view' });
    const monday = week.locator('section').nth(0);
    const tuesday = week.locator('section').nth(1);
    assert.match(await monday.textContent(), /Monday[\s\S]*08:00–09:00 Physics, lab-1, Ms Curie/);
    assert.match(await tuesday.textContent(), /Tuesday[\s\S]*10:00–11:00 Chemistry, lab-1, Bohr, N\./);
    await admin.locator('#week-status').filter({ hasText: '2 lessons' }).waitFor();

    // The term calendar: Monday of this week a holiday for the whole hub, Tuesday's lesson cancelled.
    const from = await admin.evaluate(async () => (await (await fetch('/admin/api/lessons')).json()).from);
    await admin.locator('#period-kind').selectOption('holidays');
    await admin.locator('#period-name').fill('Staff day');
    await admin.locator('#period-start').fill(from);
    await admin.locator('#period-end').fill(from);
    await admin.getByRole('button', { name: 'Add', exact: true }).click();
    await admin.locator('#period-added').filter({ hasText: 'Staff day' }).waitFor();
    await admin.locator('#week-status').filter({ hasText: '1 lesson' }).waitFor();
    assert.doesNotMatch(await monday.textContent(), /Physics/, 'no lesson on a holiday');
    await admin.getByRole('button', { name: /^Cancel Chemistry on Tuesday/ }).click();
    await admin.locator('#week-status').filter({ hasText: '0 lessons' }).waitFor();
    assert.match(await admin.locator('#changes-list').textContent(), /Cancelled: slot 2 on/);
    // Undone: back in the week.
    await admin.getByRole('button', { name: /^Undo: Cancelled: slot 2/ }).click();
    await admin.locator('#week-status').filter({ hasText: '1 lesson' }).waitFor();
    assert.match(await tuesday.textContent(), /Chemistry/);

    // An extra lesson on Wednesday, from the change form.
    const wednesday = await admin.evaluate((monday) => {
      const d = new Date(`${monday}T00:00:00Z`);
      d.setUTCDate(d.getUTCDate() + 2);
      return d.toISOString().slice(0, 10);
    }, from);
    await admin.locator('#change-kind').selectOption('extra');
    await admin.locator('#change-room').selectOption('lab-1');
    await admin.locator('#change-to').fill(wednesday);
    await admin.locator('#change-start').fill('14:00');
    await admin.locator('#change-end').fill('15:00');
    await admin.locator('#change-title').fill('Revision');
    await admin.locator('#change-teacher').fill('Ms Curie');
    await admin.getByRole('button', { name: 'Save change' }).click();
    await admin.locator('#change-saved').filter({ hasText: 'Added Revision' }).waitFor();
    await admin.locator('#week-status').filter({ hasText: '2 lessons' }).waitFor();
    assert.match(await week.locator('section').nth(2).textContent(), /14:00–15:00 Revision \(extra lesson\), lab-1/);
  }));
