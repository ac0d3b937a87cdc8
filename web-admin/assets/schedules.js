// Timetable section: the weekly timetable slots per room (list, add, edit, delete), the links to a
// slot's next lesson, the week view (the lessons that happen, terms, holidays and changes applied)
// and the import of a timetable CSV with its line-by-line report.
// Times are wall-clock times in the slot's time zone (an IANA name such as Europe/Berlin); left
// empty, the hub's own zone. A slot saved before zones that did not match the hub's zone is marked
// "zone needed" and runs no lesson until it is given one.

import { api, requireLogin } from './api.js';
import { submitting, clearErrors } from './form.js';

let isAdmin = false;
let csrfToken = '';

const DAYS = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday',
  sat: 'Saturday', sun: 'Sunday' };

const body = document.getElementById('schedules-body');
const wrap = document.getElementById('schedules-wrap');
const status = document.getElementById('schedules-status');
const listAlert = document.getElementById('schedules-alert');
const form = document.getElementById('slot-form');
const formTitle = document.getElementById('slot-form-title');
const submit = document.getElementById('slot-submit');
const cancel = document.getElementById('slot-cancel');
const saved = document.getElementById('slot-saved');
const roomSelect = document.getElementById('slot-room');
const links = document.getElementById('links');

let editing = null;
/** This browser's zone, offered as a suggestion. */
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';

const zoneList = document.getElementById('slot-zone-list');
try {
  for (const z of Intl.supportedValuesOf('timeZone')) {
    const o = document.createElement('option');
    o.value = z;
    zoneList.append(o);
  }
} catch {
  // An older browser: the field still takes any IANA name.
}
document.getElementById('slot-tz').textContent =
  `Times stay at the same wall-clock time across daylight-saving changes. This browser is in ${browserZone || 'an unknown zone'}.`;

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

function row(slot) {
  const tr = document.createElement('tr');
  const room = document.createElement('th');
  room.scope = 'row';
  const code = document.createElement('code');
  code.textContent = slot.roomId;
  room.append(code);
  const zone = slot.zoneNeeded ? ' (zone needed: edit it)' : ` (${slot.zone})`;
  if (slot.zoneNeeded) tr.classList.add('needs-zone');
  tr.append(room, cell(DAYS[slot.weekday] || slot.weekday), cell(`${slot.start}–${slot.end}${zone}`),
    cell(slot.title), cell(slot.teacher));
  const what = `${slot.title}, ${DAYS[slot.weekday]} ${slot.start}`;
  const actions = document.createElement('div');
  actions.className = 'actions';
  // A teacher's link runs the lesson: admins hand them out.
  if (isAdmin) actions.append(button('Links', `Links for ${what}`, (b) => showLinks(slot, b)));
  actions.append(
    button('Edit', `Edit ${what}`, () => edit(slot)),
    button('Delete', `Delete ${what}`, (b) => remove(slot, b), 'danger'),
  );
  const td = document.createElement('td');
  td.append(actions);
  tr.append(td);
  return tr;
}

async function load() {
  listAlert.textContent = '';
  loadWeek();
  loadCalendar();
  try {
    const slots = await api('GET', 'schedules');
    body.replaceChildren(...slots.map(row));
    fillChangePickers(slots, null);
    wrap.hidden = slots.length === 0;
    const needZone = slots.filter((l) => l.zoneNeeded).length;
    const banner = document.getElementById('schedules-zone-banner');
    banner.hidden = needZone === 0;
    banner.textContent = needZone === 0 ? '' : `${needZone} timetable slot${needZone === 1 ? '' : 's'} saved with `
      + "another UTC offset than the hub's zone need a time zone: they run no lesson until you edit them and give one.";
    status.textContent = slots.length === 0 ? 'No timetable slots yet. Add the first one below.'
      : `${slots.length} timetable slot${slots.length === 1 ? '' : 's'}.`;
  } catch (err) {
    status.textContent = '';
    listAlert.textContent = err.message;
  }
}

function fillRooms(rooms) {
  fillChangePickers(null, rooms);
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

function setEditing(slot) {
  editing = slot;
  formTitle.textContent = slot ? `Edit timetable slot ${slot.title}` : 'Add a timetable slot';
  submit.textContent = slot ? 'Save slot' : 'Add slot';
  cancel.hidden = !slot;
}

function edit(slot) {
  clearErrors(form);
  saved.textContent = '';
  const f = form.elements;
  f.roomId.value = slot.roomId;
  f.weekday.value = slot.weekday;
  f.start.value = slot.start;
  f.end.value = slot.end === '24:00' ? '00:00' : slot.end;
  f.title.value = slot.title;
  f.teacher.value = slot.teacher;
  f.zone.value = slot.zone || '';
  setEditing(slot);
  formTitle.focus();
}

async function remove(slot, b) {
  if (!confirm(`Delete the timetable slot ${slot.title} (${DAYS[slot.weekday]} ${slot.start})?`)) return;
  b.disabled = true;
  try {
    await api('DELETE', `schedules/${slot.id}`);
    if (editing && editing.id === slot.id) { form.reset(); setEditing(null); }
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

async function showLinks(slot, b) {
  b.disabled = true;
  listAlert.textContent = '';
  try {
    const l = await api('GET', `schedules/${slot.id}/links`);
    document.getElementById('links-title').textContent = `Links: ${slot.title} in ${slot.roomId}`;
    document.getElementById('links-help').textContent =
      `For the lesson on ${when(l.startsAt)}; they work from ${when(l.validFrom)} until ${when(l.validUntil)}.`;
    // The admin may have an origin of its own ([admin] listen): lessons are at the hub's public URL.
    const base = l.baseUrl || location.origin;
    document.getElementById('link-teacher').value = base + l.teacher;
    document.getElementById('link-student').value = base + l.student;
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
    const slot = {
      roomId: f.roomId.value,
      weekday: f.weekday.value,
      start: f.start.value,
      // A time input cannot say 24:00; 00:00 as an end can only mean midnight.
      end: end === '00:00' ? '24:00' : end,
      // Empty: the hub's zone.
      zone: f.zone.value.trim() || null,
      title: f.title.value,
      teacher: f.teacher.value,
    };
    const result = editing ? await api('PUT', `schedules/${editing.id}`, slot) : await api('POST', 'schedules', slot);
    saved.textContent = `${editing ? 'Saved' : 'Added'} ${result.title} on ${DAYS[result.weekday]} ${result.start}.`;
    form.reset();
    setEditing(null);
    await load();
  });
});

// ---- The week view

const weekDays = document.getElementById('week-days');
const weekStatus = document.getElementById('week-status');
const weekAlert = document.getElementById('week-alert');
/** The Monday shown (`YYYY-MM-DD`), or null for this week (the hub's zone decides which it is). */
let weekFrom = null;
const KIND = { moved: ' (moved)', extra: ' (extra lesson)', regular: '' };

/** `YYYY-MM-DD` plus `days`, as a calendar date (no time zone involved). */
function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function dayTitle(date) {
  return new Date(`${date}T00:00:00Z`).toLocaleDateString(undefined,
    { weekday: 'long', day: 'numeric', month: 'short', timeZone: 'UTC' });
}

async function loadWeek() {
  weekAlert.textContent = '';
  try {
    const w = await api('GET', weekFrom ? `lessons?from=${weekFrom}&days=7` : 'lessons?days=7');
    weekFrom = w.from;
    document.getElementById('week-title').textContent = `Week of ${dayTitle(w.from)}`;
    const days = [];
    for (let i = 0; i < w.days; i += 1) {
      const date = addDays(w.from, i);
      const section = document.createElement('section');
      section.setAttribute('aria-label', dayTitle(date));
      const h = document.createElement('h3');
      h.textContent = dayTitle(date);
      const ul = document.createElement('ul');
      for (const l of w.lessons.filter((x) => x.date === date)) {
        const li = document.createElement('li');
        li.className = l.kind;
        li.textContent = `${l.start}–${l.end} ${l.title}${KIND[l.kind] || ''}, ${l.roomId}, ${l.teacher} (${l.zone})`;
        const what = `${l.title} on ${dayTitle(date)} at ${l.start}`;
        if (l.kind === 'regular') {
          li.append(button('Cancel', `Cancel ${what}`, (b) => change(b, 'POST', 'exceptions',
            { kind: 'cancel', slotId: l.slotId, date: l.date })));
        } else {
          li.append(button('Undo', `Undo the change: ${what}`, (b) => change(b, 'DELETE', `exceptions/${l.changeId}`)));
        }
        ul.append(li);
      }
      if (!ul.children.length) {
        const li = document.createElement('li');
        li.className = 'empty';
        li.textContent = 'No lessons';
        ul.append(li);
      }
      section.append(h, ul);
      days.push(section);
    }
    weekDays.replaceChildren(...days);
    weekStatus.textContent = `${w.lessons.length} lesson${w.lessons.length === 1 ? '' : 's'} this week.`;
  } catch (err) {
    weekAlert.textContent = err.message;
  }
}

document.getElementById('week-prev').addEventListener('click', () => {
  if (weekFrom) weekFrom = addDays(weekFrom, -7);
  loadWeek();
});
document.getElementById('week-next').addEventListener('click', () => {
  if (weekFrom) weekFrom = addDays(weekFrom, 7);
  loadWeek();
});
document.getElementById('week-this').addEventListener('click', () => {
  weekFrom = null;
  loadWeek();
});

/** A one-off change from the week view or the lists, then both redrawn. */
async function change(b, method, path, body) {
  b.disabled = true;
  document.getElementById('terms-alert').textContent = '';
  try {
    await api(method, path, body);
    await Promise.all([loadWeek(), loadCalendar()]);
  } catch (err) {
    b.disabled = false;
    weekAlert.textContent = err.message;
    weekAlert.focus();
  }
}

// ---- Terms, holidays, one-off changes, buildings

let buildings = [];
const buildingName = (id) => (buildings.find((x) => x.id === id) || {}).name || `building ${id}`;

async function loadCalendar() {
  const alert = document.getElementById('terms-alert');
  alert.textContent = '';
  try {
    const [terms, holidays, changes, list] = await Promise.all(
      ['terms', 'holidays', 'exceptions', 'buildings'].map((p) => api('GET', p)));
    buildings = list;
    const periods = [...terms.map((t) => ['terms', 'Term', t]), ...holidays.map((h) => ['holidays', 'Holiday', h])]
      .sort((a, b) => a[2].start.localeCompare(b[2].start));
    const items = periods.map(([path, label, p]) => {
      const li = document.createElement('li');
      const scope = p.buildingId ? buildingName(p.buildingId) : 'whole hub';
      li.textContent = `${label}: ${p.name}, ${p.start} to ${p.end} (${scope})`;
      li.append(button('Delete', `Delete ${label.toLowerCase()} ${p.name}`, (b) => change(b, 'DELETE', `${path}/${p.id}`)));
      return li;
    });
    document.getElementById('periods-list').replaceChildren(...(items.length ? items : [emptyItem('None: every week is a teaching week.')]));
    const changeItems = changes.map((c) => {
      const li = document.createElement('li');
      const text = {
        cancel: `Cancelled: slot ${c.slotId} on ${c.date}`,
        move: `Moved: slot ${c.slotId} from ${c.date} to ${c.toDate} ${c.start}–${c.end}`,
        extra: `Extra: ${c.title} in ${c.roomId} on ${c.toDate} ${c.start}–${c.end} (${c.zone})`,
      }[c.kind] || c.kind;
      li.textContent = text;
      li.append(button('Undo', `Undo: ${text}`, (b) => change(b, 'DELETE', `exceptions/${c.id}`)));
      return li;
    });
    document.getElementById('changes-list').replaceChildren(...(changeItems.length ? changeItems : [emptyItem('None.')]));
    const select = document.getElementById('period-building');
    const current = select.value;
    const hub = document.createElement('option');
    hub.value = '';
    hub.textContent = 'The whole hub';
    select.replaceChildren(hub, ...buildings.map((x) => {
      const o = document.createElement('option');
      o.value = String(x.id);
      o.textContent = x.name;
      return o;
    }));
    if ([...select.options].some((o) => o.value === current)) select.value = current;
    document.getElementById('buildings-list').replaceChildren(...(buildings.length ? buildings.map((x) => {
      const li = document.createElement('li');
      li.textContent = `${x.name}: ${x.zone || "the hub's zone"}`;
      return li;
    }) : [emptyItem('No buildings yet (a room\'s building is added with the room).')]));
    document.getElementById('building-names').replaceChildren(...buildings.map((x) => {
      const o = document.createElement('option');
      o.value = x.name;
      return o;
    }));
  } catch (err) {
    alert.textContent = err.message;
  }
}

function emptyItem(text) {
  const li = document.createElement('li');
  li.className = 'empty';
  li.textContent = text;
  return li;
}

const periodForm = document.getElementById('period-form');
periodForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const done = document.getElementById('period-added');
  done.textContent = '';
  submitting(periodForm, async () => {
    const f = periodForm.elements;
    const body = { name: f.name.value, start: f.start.value, end: f.end.value };
    if (f.buildingId.value) body.buildingId = Number(f.buildingId.value);
    const p = await api('POST', f.kind.value, body);
    done.textContent = `Added ${p.name} (${p.start} to ${p.end}).`;
    periodForm.reset();
    await Promise.all([loadCalendar(), loadWeek()]);
  });
});

// Moving one lesson or adding an extra one: the fields of the other kind are hidden.
const changeForm = document.getElementById('change-form');
function showChangeFields() {
  const kind = changeForm.elements.kind.value;
  for (const el of changeForm.querySelectorAll('[data-for]')) el.hidden = el.dataset.for !== kind;
}
changeForm.elements.kind.addEventListener('change', showChangeFields);
changeForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const done = document.getElementById('change-saved');
  done.textContent = '';
  submitting(changeForm, async () => {
    const f = changeForm.elements;
    const end = f.end.value === '00:00' ? '24:00' : f.end.value;
    const body = f.kind.value === 'move'
      ? { kind: 'move', slotId: Number(f.slotId.value), date: f.date.value, toDate: f.toDate.value, start: f.start.value, end }
      : { kind: 'extra', roomId: f.roomId.value, toDate: f.toDate.value, start: f.start.value, end,
        zone: f.zone.value.trim() || null, teacher: f.teacher.value, title: f.title.value };
    const c = await api('POST', 'exceptions', body);
    done.textContent = c.kind === 'move' ? `Moved the lesson of ${c.date} to ${c.toDate} ${c.start}.`
      : `Added ${c.title} on ${c.toDate} ${c.start}.`;
    changeForm.reset();
    showChangeFields();
    await Promise.all([loadCalendar(), loadWeek()]);
  });
});

/** The change form's pickers follow the timetable and the rooms. */
function fillChangePickers(slots, rooms) {
  const opt = (value, label) => {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    return o;
  };
  if (slots) {
    document.getElementById('change-slot').replaceChildren(...slots.filter((x) => !x.zoneNeeded)
      .map((x) => opt(String(x.id), `${x.title}, ${DAYS[x.weekday]} ${x.start} in ${x.roomId}`)));
  }
  if (rooms) document.getElementById('change-room').replaceChildren(...rooms.map((r) => opt(r.id, r.id)));
}

const buildingForm = document.getElementById('building-form');
buildingForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const done = document.getElementById('building-saved');
  done.textContent = '';
  submitting(buildingForm, async () => {
    const f = buildingForm.elements;
    const body = { name: f.name.value.trim(), zone: f.zone.value.trim() || null };
    const known = buildings.find((x) => x.name === body.name);
    const b = known ? await api('PUT', `buildings/${known.id}`, body) : await api('POST', 'buildings', body);
    done.textContent = `${known ? 'Saved' : 'Added'} ${b.name} (${b.zone || "the hub's zone"}).`;
    buildingForm.reset();
    await loadCalendar();
  });
});

// ---- Import of a timetable CSV

const importForm = document.getElementById('import-form');
const importReport = document.getElementById('import-report');
const importDone = document.getElementById('import-done');

importForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const button = document.getElementById('import-submit');
  const file = document.getElementById('import-file').files[0];
  importReport.hidden = true;
  importDone.textContent = '';
  const problems = document.getElementById('import-problems');
  const summary = document.getElementById('import-summary');
  problems.replaceChildren();
  const show = (text, list = []) => {
    summary.textContent = text;
    problems.replaceChildren(...list.map((p) => {
      const li = document.createElement('li');
      li.textContent = `Line ${p.line}, ${p.field}: ${p.message}`;
      return li;
    }));
    importReport.hidden = false;
    importReport.focus();
  };
  if (!file) {
    show('Choose a CSV file first.');
    return;
  }
  button.disabled = true;
  try {
    const resp = await fetch('/admin/api/schedules/import', {
      method: 'POST',
      headers: { 'Content-Type': 'text/csv; charset=utf-8', 'X-CSRF-Token': csrfToken },
      body: await file.text(),
      credentials: 'same-origin',
    });
    let data = null;
    try { data = await resp.json(); } catch { data = null; }
    if (resp.ok) {
      importDone.textContent = `Imported ${data.imported} timetable slot${data.imported === 1 ? '' : 's'} from ${file.name}.`;
      importForm.reset();
      await load();
    } else {
      const list = (data && data.problems) || [];
      const more = data && data.notShown ? ` (${data.notShown} more not shown)` : '';
      show(list.length ? `Nothing was imported: ${list.length} problem${list.length === 1 ? '' : 's'} in ${file.name}${more}.`
        : (data && data.detail) || `The hub refused the file (HTTP ${resp.status}).`, list);
    }
  } catch {
    show('The hub could not be reached. Check your connection and try again.');
  } finally {
    button.disabled = false;
  }
});

document.addEventListener('rooms-changed', (ev) => {
  fillRooms(ev.detail);
  // A deleted room took its slots with it.
  load();
});

const me = await requireLogin();
isAdmin = me.role === 'admin';
csrfToken = me.csrfToken;
document.getElementById('schedules-title').tabIndex = -1;
// rooms.js announces its list too, but possibly before this module listened.
try {
  fillRooms(await api('GET', 'rooms'));
} catch (err) {
  listAlert.textContent = err.message;
}
await load();
