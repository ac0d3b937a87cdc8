// Fleet page: every configured room and connected box, pushed by the hub as they change
// (Server-Sent Events from /admin/api/fleet/events: the whole fleet first, then only the rows that
// changed), with polling every 5 s only while the push is down. Rows are updated in place (keyed by
// room) so keyboard focus stays put; only state changes are announced, politely. Everything the
// hub sends is set as text, never as HTML.

import { ApiError, api, startPage } from './api.js';
import { STATE_LABELS, configLine, figures, matches, nodeLine } from './fleet-format.js';
import { submitting } from './form.js';

const REFRESH_MS = 5000;
const COLUMNS = ['building', 'version', 'uptime', 'encoder', 'fps', 'bitrate', 'loss', 'cpu', 'temperature',
  'upload', 'lastError'];
const HEADINGS = { building: 'Building', version: 'Version', uptime: 'Uptime', encoder: 'Encoder', fps: 'FPS',
  bitrate: 'Bitrate', loss: 'Loss', cpu: 'CPU', temperature: 'Temp.', upload: 'Uploads', lastError: 'Last error' };

const body = document.getElementById('fleet-body');
const wrap = document.getElementById('fleet-wrap');
const status = document.getElementById('fleet-status');
const alertBox = document.getElementById('fleet-alert');
const notice = document.getElementById('fleet-notice');
const changes = document.getElementById('fleet-changes');
const filters = document.getElementById('fleet-filters');
const buildingSelect = document.getElementById('filter-building');

/** room → { tr, cells, badge, detail, live, end, device } */
const rows = new Map();
let devices = [];
let loaded = false;
let timer = null;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(label, action, room) {
  const b = el('button', action === 'end' ? 'danger' : '', label);
  b.type = 'button';
  b.dataset.action = action;
  b.setAttribute('aria-label', `${label}: room ${room}`);
  b.addEventListener('click', () => command(room, action, b));
  return b;
}

function createRow(room) {
  const tr = el('tr');
  tr.dataset.room = room;
  const pickCell = el('td', 'pick');
  const pick = el('input');
  pick.type = 'checkbox';
  pick.setAttribute('aria-label', `Select room ${room}`);
  pickCell.append(pick);
  tr.append(pickCell);
  const head = el('th');
  head.scope = 'row';
  const id = el('code', '', room);
  const name = el('span', 'sub');
  const picture = el('img', 'thumb');
  picture.hidden = true;
  picture.width = 160;
  picture.height = 90;
  head.append(id, name, picture);
  const stateCell = el('td', 'state');
  stateCell.dataset.label = 'State';
  const badge = el('span', 'badge');
  const detail = el('span', 'sub');
  const config = el('span', 'sub');
  const node = el('span', 'sub');
  node.dataset.field = 'node';
  stateCell.append(badge, detail, config, node);
  tr.append(head, stateCell);
  const cells = {};
  for (const key of COLUMNS) {
    const td = el('td');
    td.dataset.label = HEADINGS[key];
    td.dataset.col = key;
    cells[key] = td;
    tr.append(td);
  }
  const actions = el('td');
  const group = el('div', 'actions');
  const live = button('Go live', 'live', room);
  const end = button('End', 'end', room);
  const more = el('a', 'button-link', 'Details');
  more.href = `/admin/device?room=${encodeURIComponent(room)}`;
  more.setAttribute('aria-label', `Details: room ${room}`);
  group.append(live, end, more);
  actions.append(group);
  tr.append(actions);
  return { tr, pick, name, picture, cells, badge, detail, config, node, live, end, device: null };
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function updateRow(row, d) {
  row.device = d;
  setText(row.name, d.roomName || d.name || '');
  row.badge.className = `badge badge-${d.state}`;
  setText(row.badge, STATE_LABELS[d.state] || d.state);
  row.tr.dataset.state = d.state;
  const line = d.telemetry && d.telemetry.status !== d.state ? d.telemetry.status : '';
  setText(row.detail, line);
  setText(row.config, configLine(d));
  setText(row.node, nodeLine(d));
  // The picture of a live room, refreshed by the hub every minute; none while the camera is closed.
  const showPicture = d.online && d.state === 'live' && d.snapshotAt;
  row.picture.hidden = !showPicture;
  if (showPicture) {
    const src = `/admin/api/devices/${encodeURIComponent(d.room)}/snapshot?at=${d.snapshotAt}`;
    if (row.picture.getAttribute('src') !== src) {
      row.picture.src = src;
      row.picture.alt = `Camera of room ${d.room} at ${new Date(d.snapshotAt).toLocaleTimeString()}`;
    }
  }
  row.pick.disabled = !d.deviceId;
  const f = figures(d);
  for (const key of COLUMNS) setText(row.cells[key], f[key]);
  // Disabled buttons lose focus, so they stay enabled; the hub answers 404 for an offline box.
  row.live.setAttribute('aria-disabled', String(!d.online));
  row.end.setAttribute('aria-disabled', String(!d.online));
}

function currentFilters() {
  const f = filters.elements;
  return { building: f.building.value, room: f.room.value, state: f.state.value };
}

function applyFilters() {
  const f = currentFilters();
  let shown = 0;
  for (const row of rows.values()) {
    const keep = row.device && matches(row.device, f);
    row.tr.hidden = !keep;
    if (keep) shown += 1;
  }
  wrap.hidden = shown === 0;
  const total = rows.size;
  let text;
  if (total === 0) text = 'No rooms are configured and no box is connected.';
  else if (shown === total) text = `${total} device${total === 1 ? '' : 's'}.`;
  else text = `${shown} of ${total} devices match the filters.`;
  setText(status, text);
}

function updateBuildings() {
  const wanted = [...new Set(devices.map((d) => d.building).filter(Boolean))].sort();
  const have = [...buildingSelect.options].slice(1).map((o) => o.value);
  if (wanted.join('\n') === have.join('\n')) return;
  const selected = buildingSelect.value;
  const options = wanted.map((b) => { const o = el('option', '', b); o.value = b; return o; });
  buildingSelect.replaceChildren(buildingSelect.options[0], ...options);
  buildingSelect.value = wanted.includes(selected) ? selected : '';
}

function render(list) {
  const announce = [];
  const seen = new Set();
  list.forEach((d, i) => {
    seen.add(d.room);
    let row = rows.get(d.room);
    if (!row) {
      row = createRow(d.room);
      rows.set(d.room, row);
    } else if (loaded && row.device && row.device.state !== d.state) {
      announce.push(`${d.room}: ${STATE_LABELS[d.state] || d.state}`);
    }
    updateRow(row, d);
    // Keep the hub's order (by room) without moving rows that are already in place.
    if (body.children[i] !== row.tr) body.insertBefore(row.tr, body.children[i] || null);
  });
  for (const [room, row] of rows) {
    if (!seen.has(room)) {
      row.tr.remove();
      rows.delete(room);
    }
  }
  devices = list;
  updateBuildings();
  applyFilters();
  if (announce.length) changes.textContent = `State changed. ${announce.join('. ')}.`;
  // For tests/browser/measure/fleet.mjs (a Chromium trace shows user timing marks).
  if (!loaded) performance.mark('fleet-rendered');
  loaded = true;
}

/** Rows the push says changed (`changed`) or went (`removed`): only those rows are touched. */
function applyRows(changed, removed) {
  const started = performance.now();
  try {
    applyChanges(changed, removed);
  } finally {
    performance.measure('fleet-rows', { start: started, detail: changed.length });
  }
}

function applyChanges(changed, removed) {
  if (removed.length || changed.some((d) => !rows.has(d.room))) {
    // A row comes or goes: the whole list, in the hub's order.
    const byRoom = new Map(devices.map((d) => [d.room, d]));
    for (const room of removed) byRoom.delete(room);
    for (const d of changed) byRoom.set(d.room, d);
    render([...byRoom.values()].sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0)));
    return;
  }
  const announce = [];
  for (const d of changed) {
    const row = rows.get(d.room);
    if (row.device && row.device.state !== d.state) announce.push(`${d.room}: ${STATE_LABELS[d.state] || d.state}`);
    updateRow(row, d);
    const i = devices.findIndex((x) => x.room === d.room);
    if (i >= 0) devices[i] = d;
  }
  if (changed.some((d) => d.building && !buildingSelect.querySelector(`option[value="${CSS.escape(d.building)}"]`))) updateBuildings();
  applyFilters();
  if (announce.length) changes.textContent = `State changed. ${announce.join('. ')}.`;
}

let stream = null;

/** Listens to the hub's push; `wrap.dataset.feed` says which way the rows arrive (tests read it). */
function listen() {
  if (!window.EventSource || stream) return;
  stream = new EventSource('/admin/api/fleet/events');
  stream.addEventListener('fleet', (e) => {
    clearTimeout(timer);
    render(JSON.parse(e.data));
    setText(alertBox, '');
    wrap.dataset.feed = 'push';
  });
  stream.addEventListener('rows', (e) => {
    const { rows: changed, removed } = JSON.parse(e.data);
    applyRows(changed, removed);
  });
  stream.addEventListener('error', () => {
    // The browser retries by itself unless the hub refused (a signed-out session): poll then,
    // which also notices the sign-out and goes to the login page.
    if (stream.readyState === EventSource.CLOSED) {
      stream = null;
      wrap.dataset.feed = 'poll';
      timer = setTimeout(tick, REFRESH_MS);
    }
  });
}

async function refresh() {
  clearTimeout(timer);
  try {
    render(await api('GET', 'devices'));
    setText(alertBox, '');
  } catch (err) {
    if (err.status === 401) {
      location.assign('/admin/login');
      return;
    }
    setText(alertBox, `Could not refresh the fleet: ${err.message}`);
  }
  if (!stream) {
    timer = setTimeout(tick, REFRESH_MS);
    listen();
  }
}

function tick() {
  // A hidden tab does not poll; it refreshes when shown again.
  if (document.hidden) return;
  refresh();
}

async function command(room, action, b) {
  if (b.getAttribute('aria-disabled') === 'true') {
    setText(alertBox, `No box is connected for room ${room}.`);
    return;
  }
  setText(notice, '');
  setText(alertBox, '');
  try {
    await api('POST', `devices/${encodeURIComponent(room)}/${action}`);
    notice.textContent = action === 'live' ? `Room ${room}: told the box to go live.`
      : `Room ${room}: told the box to end the lesson.`;
  } catch (err) {
    alertBox.textContent = err.message;
  }
  await refresh();
}

async function loadRooms() {
  const select = document.getElementById('enroll-room');
  const rooms = await api('GET', 'rooms');
  const options = rooms.map((r) => { const o = el('option', '', `${r.id} — ${r.name}`); o.value = r.id; return o; });
  const none = el('option', '', rooms.length ? 'Choose a room' : 'Add a room on the Rooms page first');
  none.value = '';
  select.replaceChildren(none, ...options);
}

const enrollForm = document.getElementById('enroll-form');
enrollForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = enrollForm.elements;
  const done = document.getElementById('enroll-done');
  setText(done, '');
  submitting(enrollForm, async () => {
    const device = await api('POST', 'devices/enroll',
      { code: f.code.value.trim(), room: f.room.value, name: f.name.value.trim() });
    enrollForm.reset();
    done.textContent = `Enrolled “${device.name}” for room ${device.roomId}. It connects with its own credential within seconds.`;
    await refresh();
  });
});

const bulkForm = document.getElementById('bulk-form');
bulkForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = bulkForm.elements;
  const done = document.getElementById('bulk-done');
  setText(done, '');
  submitting(bulkForm, async () => {
    const rooms = [...rows.entries()].filter(([, r]) => r.pick.checked && !r.tr.hidden).map(([room]) => room);
    if (!rooms.length) throw new ApiError(400, 'bad_request', 'Select at least one enrolled box in the table first.');
    const set = {};
    if (f.resolution.value) {
      const [w, h] = f.resolution.value.split('x').map(Number);
      set.width = w;
      set.height = h;
    }
    if (f.framerate.value) set.framerate = Number(f.framerate.value);
    if (f.bitrateKbps.value) set.bitrateKbps = Number(f.bitrateKbps.value);
    if (!Object.keys(set).length) throw new ApiError(400, 'bad_request', 'Set at least one thing to change.');
    const sent = await api('POST', 'devices/config', { rooms, set });
    const offline = sent.filter((s) => !s.delivered).map((s) => s.room);
    done.textContent = `Sent to ${sent.length} box${sent.length === 1 ? '' : 'es'}`
      + (offline.length ? `; offline, sent when they connect: ${offline.join(', ')}.` : '.');
    await refresh();
  });
});

filters.addEventListener('input', applyFilters);
filters.addEventListener('change', applyFilters);
filters.addEventListener('submit', (ev) => ev.preventDefault());
document.addEventListener('visibilitychange', () => { if (!document.hidden && !stream) refresh(); });

const me = await startPage();
if (me.role === 'admin') {
  document.getElementById('enroll-card').hidden = false;
  document.getElementById('bulk-card').hidden = false;
  await loadRooms().catch((err) => setText(alertBox, `Could not list the rooms: ${err.message}`));
}
await refresh();
