// Rooms page: list configured rooms, add one, delete one. Everything user-typed is set as text,
// never as HTML.

import { api, startPage } from './api.js';
import { submitting } from './form.js';

const body = document.getElementById('rooms-body');
const wrap = document.getElementById('rooms-wrap');
const status = document.getElementById('rooms-status');
const listAlert = document.getElementById('rooms-alert');
const form = document.getElementById('room-form');
const created = document.getElementById('room-created');

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

/** The room's recording policy (issue 21), as the table shows it. */
const RECORDING = { off: 'Not recorded', on_request: 'When a teacher starts it', always: 'Every lesson' };

/** A room's retention as the table shows it. */
function retention(days) {
  if (days === null || days === undefined) return 'Hub default';
  if (days === 0) return 'Forever';
  return `${days} day${days === 1 ? '' : 's'}`;
}

function row(room) {
  const tr = document.createElement('tr');
  const id = document.createElement('th');
  id.scope = 'row';
  const code = document.createElement('code');
  code.textContent = room.id;
  id.append(code);
  tr.append(id, cell(room.name), cell(room.building || '—'),
    cell(room.zone || 'building’s or hub’s'), cell(String(room.capacity)),
    cell(room.everyoneWaits ? 'Everyone waits' : 'Guests wait'), cell(RECORDING[room.recording] || String(room.recording)),
    cell(retention(room.retentionDays)));
  const actions = document.createElement('td');
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'danger';
  del.textContent = 'Delete';
  del.setAttribute('aria-label', `Delete room ${room.id}`);
  del.addEventListener('click', () => remove(room, del));
  actions.append(del);
  tr.append(actions);
  return tr;
}

async function load() {
  listAlert.textContent = '';
  try {
    const rooms = await api('GET', 'rooms');
    body.replaceChildren(...rooms.map(row));
    // The schedule's room picker follows (schedules.js).
    document.dispatchEvent(new CustomEvent('rooms-changed', { detail: rooms }));
    wrap.hidden = rooms.length === 0;
    status.textContent = rooms.length === 0 ? 'No rooms yet. Add the first one below.'
      : `${rooms.length} room${rooms.length === 1 ? '' : 's'}.`;
  } catch (err) {
    status.textContent = '';
    listAlert.textContent = err.message;
  }
}

async function remove(room, button) {
  if (!confirm(`Delete room ${room.id} (${room.name})? Its settings are lost.`)) return;
  button.disabled = true;
  try {
    await api('DELETE', `rooms/${encodeURIComponent(room.id)}`);
    await load();
    document.getElementById('rooms-title').focus();
  } catch (err) {
    button.disabled = false;
    listAlert.textContent = err.message;
    listAlert.focus();
  }
}

/** A number field sent as typed (null when empty), so the hub's message names the field when it is not one. */
function number(value) {
  const v = value.trim();
  if (v === '') return null;
  return Number.isFinite(Number(v)) ? Number(v) : v;
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  created.textContent = '';
  submitting(form, async () => {
    const f = form.elements;
    const capacity = f.capacity.value.trim();
    const room = await api('POST', 'rooms', {
      id: f.namedItem('id').value.trim(),
      name: f.namedItem('name').value,
      building: f.building.value,
      zone: f.zone.value.trim() || null,
      // Sent as typed so the hub's message names the field when it is not a number.
      capacity: capacity === '' ? null : (Number.isFinite(Number(capacity)) ? Number(capacity) : capacity),
      everyoneWaits: f.everyoneWaits.checked,
      recording: f.recording.value,
      retentionDays: number(f.retentionDays.value),
    });
    form.reset();
    created.textContent = `Room ${room.id} added.`;
    await load();
  });
});

await startPage();
document.getElementById('rooms-title').tabIndex = -1;
await load();
