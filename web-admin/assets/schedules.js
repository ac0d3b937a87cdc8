// Schedules section: weekly lessons per room (list, add, edit, delete) and the lesson links to copy.
// Times are entered in this browser's time zone; its UTC offset is sent with each lesson.

import { api, requireLogin } from './api.js';
import { submitting, clearErrors } from './form.js';

const DAYS = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday',
  sat: 'Saturday', sun: 'Sunday' };

const body = document.getElementById('schedules-body');
const wrap = document.getElementById('schedules-wrap');
const status = document.getElementById('schedules-status');
const listAlert = document.getElementById('schedules-alert');
const form = document.getElementById('lesson-form');
const formTitle = document.getElementById('lesson-form-title');
const submit = document.getElementById('lesson-submit');
const cancel = document.getElementById('lesson-cancel');
const saved = document.getElementById('lesson-saved');
const roomSelect = document.getElementById('lesson-room');
const links = document.getElementById('links');

/** Minutes east of UTC, as the hub wants them (getTimezoneOffset counts the other way). */
const offset = -new Date().getTimezoneOffset();
let editing = null;

function formatOffset(minutes) {
  const sign = minutes < 0 ? '−' : '+';
  const m = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

document.getElementById('lesson-tz').textContent =
  `Times are in this browser's time zone (${formatOffset(offset)}). After a daylight-saving change, ` +
  'edit and save each lesson again.';

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function button(label, aria, onClick, cls) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.setAttribute('aria-label', aria);
  if (cls) b.className = cls;
  b.addEventListener('click', () => onClick(b));
  return b;
}

function row(lesson) {
  const tr = document.createElement('tr');
  const room = document.createElement('th');
  room.scope = 'row';
  const code = document.createElement('code');
  code.textContent = lesson.roomId;
  room.append(code);
  const zone = lesson.utcOffsetMinutes === offset ? '' : ` (${formatOffset(lesson.utcOffsetMinutes)})`;
  tr.append(room, cell(DAYS[lesson.weekday] || lesson.weekday), cell(`${lesson.start}–${lesson.end}${zone}`),
    cell(lesson.title), cell(lesson.teacher));
  const what = `${lesson.title}, ${DAYS[lesson.weekday]} ${lesson.start}`;
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.append(
    button('Links', `Links for ${what}`, (b) => showLinks(lesson, b)),
    button('Edit', `Edit ${what}`, () => edit(lesson)),
    button('Delete', `Delete ${what}`, (b) => remove(lesson, b), 'danger'),
  );
  const td = document.createElement('td');
  td.append(actions);
  tr.append(td);
  return tr;
}

async function load() {
  listAlert.textContent = '';
  try {
    const lessons = await api('GET', 'schedules');
    body.replaceChildren(...lessons.map(row));
    wrap.hidden = lessons.length === 0;
    status.textContent = lessons.length === 0 ? 'No lessons yet. Add the first one below.'
      : `${lessons.length} lesson${lessons.length === 1 ? '' : 's'}.`;
  } catch (err) {
    status.textContent = '';
    listAlert.textContent = err.message;
  }
}

function fillRooms(rooms) {
  const current = roomSelect.value;
  roomSelect.replaceChildren(...rooms.map((r) => {
    const o = document.createElement('option');
    o.value = r.id;
    o.textContent = r.name ? `${r.id} — ${r.name}` : r.id;
    return o;
  }));
  if (rooms.some((r) => r.id === current)) roomSelect.value = current;
  submit.disabled = rooms.length === 0;
}

function setEditing(lesson) {
  editing = lesson;
  formTitle.textContent = lesson ? `Edit lesson ${lesson.title}` : 'Add a lesson';
  submit.textContent = lesson ? 'Save lesson' : 'Add lesson';
  cancel.hidden = !lesson;
}

function edit(lesson) {
  clearErrors(form);
  saved.textContent = '';
  const f = form.elements;
  f.roomId.value = lesson.roomId;
  f.weekday.value = lesson.weekday;
  f.start.value = lesson.start;
  f.end.value = lesson.end === '24:00' ? '00:00' : lesson.end;
  f.title.value = lesson.title;
  f.teacher.value = lesson.teacher;
  setEditing(lesson);
  formTitle.focus();
}

async function remove(lesson, b) {
  if (!confirm(`Delete the lesson ${lesson.title} (${DAYS[lesson.weekday]} ${lesson.start})?`)) return;
  b.disabled = true;
  try {
    await api('DELETE', `schedules/${lesson.id}`);
    if (editing && editing.id === lesson.id) { form.reset(); setEditing(null); }
    links.hidden = true;
    await load();
    document.getElementById('schedules-title').focus();
  } catch (err) {
    b.disabled = false;
    listAlert.textContent = err.message;
    listAlert.focus();
  }
}

function when(unix) {
  return new Date(unix * 1000).toLocaleString(undefined, { weekday: 'long', day: 'numeric', month: 'short',
    hour: '2-digit', minute: '2-digit' });
}

async function showLinks(lesson, b) {
  b.disabled = true;
  listAlert.textContent = '';
  try {
    const l = await api('GET', `schedules/${lesson.id}/links`);
    document.getElementById('links-title').textContent = `Links: ${lesson.title} in ${lesson.roomId}`;
    document.getElementById('links-help').textContent =
      `For the lesson on ${when(l.startsAt)}; they work from ${when(l.validFrom)} until ${when(l.validUntil)}.`;
    document.getElementById('link-teacher').value = location.origin + l.teacher;
    document.getElementById('link-student').value = location.origin + l.student;
    document.getElementById('links-copied').textContent = '';
    links.hidden = false;
    document.getElementById('links-title').focus();
  } catch (err) {
    listAlert.textContent = err.message;
    listAlert.focus();
  } finally {
    b.disabled = false;
  }
}

for (const copy of links.querySelectorAll('[data-copy]')) {
  copy.addEventListener('click', async () => {
    const input = document.getElementById(copy.dataset.copy);
    const done = document.getElementById('links-copied');
    try {
      await navigator.clipboard.writeText(input.value);
      done.textContent = 'Copied.';
    } catch {
      // No clipboard access (plain HTTP): leave it selected for Ctrl+C.
      input.focus();
      input.select();
      done.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
    }
  });
}

cancel.addEventListener('click', () => {
  form.reset();
  clearErrors(form);
  setEditing(null);
  formTitle.focus();
});

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  saved.textContent = '';
  submitting(form, async () => {
    const f = form.elements;
    const end = f.end.value;
    const lesson = {
      roomId: f.roomId.value,
      weekday: f.weekday.value,
      start: f.start.value,
      // A time input cannot say 24:00; 00:00 as an end can only mean midnight.
      end: end === '00:00' ? '24:00' : end,
      utcOffsetMinutes: offset,
      title: f.title.value,
      teacher: f.teacher.value,
    };
    const result = editing ? await api('PUT', `schedules/${editing.id}`, lesson) : await api('POST', 'schedules', lesson);
    saved.textContent = `${editing ? 'Saved' : 'Added'} ${result.title} on ${DAYS[result.weekday]} ${result.start}.`;
    form.reset();
    setEditing(null);
    await load();
  });
});

document.addEventListener('rooms-changed', (ev) => {
  fillRooms(ev.detail);
  // A deleted room took its lessons with it.
  load();
});

await requireLogin();
document.getElementById('schedules-title').tabIndex = -1;
// rooms.js announces its list too, but possibly before this module listened.
try {
  fillRooms(await api('GET', 'rooms'));
} catch (err) {
  listAlert.textContent = err.message;
}
await load();
