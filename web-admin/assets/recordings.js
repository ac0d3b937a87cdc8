// Recordings page: what the storage holds (files, bytes, uploads in progress), per room with its
// retention, and the lessons with a legal hold switch for admins. User data is set as text only.

import { api, startPage } from './api.js';

const $ = (id) => document.getElementById(id);

/** Bytes as people read them (decimal units, like the fleet view). */
export function size(bytes) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = Number(bytes) || 0;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

function kept(days, fallback) {
  const d = days === null || days === undefined ? fallback : days;
  const text = d === 0 ? 'Forever' : `${d} day${d === 1 ? '' : 's'}`;
  return days === null || days === undefined ? `${text} (default)` : text;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function roomRow(r, fallback) {
  const tr = document.createElement('tr');
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = r.room;
  tr.append(th, cell(String(r.lessons)), cell(String(r.files)), cell(size(r.bytes)),
    cell(r.partialFiles ? `${r.partialFiles} (${size(r.partialBytes)})` : '—'), cell(kept(r.retentionDays, fallback)));
  return tr;
}

function lessonRow(l, isAdmin) {
  const tr = document.createElement('tr');
  const th = document.createElement('th');
  th.scope = 'row';
  const code = document.createElement('code');
  code.textContent = l.id;
  th.append(code);
  const files = l.deletedFiles ? `${l.files} (${l.deletedFiles} deleted by retention)` : String(l.files);
  tr.append(th, cell(l.room), cell(new Date(l.startedAt).toLocaleString()), cell(files), cell(size(l.bytes)));
  const td = document.createElement('td');
  const label = document.createElement('label');
  label.className = 'check';
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = l.legalHold;
  box.disabled = !isAdmin;
  box.setAttribute('aria-label', `Legal hold on lesson ${l.id}`);
  box.addEventListener('change', () => setHold(l, box));
  label.append(box, document.createTextNode(l.legalHold ? ' Held' : ' No'));
  td.append(label);
  tr.append(td);
  const page = document.createElement('td');
  if (isAdmin) {
    const open = document.createElement('button');
    open.type = 'button';
    open.textContent = 'Open';
    open.setAttribute('aria-label', `Open the lesson page of ${l.id}`);
    open.addEventListener('click', () => openLesson(l, open));
    page.append(open);
  }
  tr.append(page);
  return tr;
}

/** The hub's lesson page, in a new tab, with a short-lived admin token of the room (audited). */
async function openLesson(lesson, button) {
  const alert = $('lessons-alert');
  alert.textContent = '';
  // Opened before the request so no pop-up blocker stops it; pointed at the page once it is known.
  const tab = window.open('about:blank', '_blank');
  button.disabled = true;
  try {
    const { url } = await api('POST', `recordings/lessons/${encodeURIComponent(lesson.id)}/open`);
    if (tab) {
      tab.opener = null;
      tab.location.href = url;
    } else {
      window.location.href = url;
    }
  } catch (err) {
    if (tab) tab.close();
    alert.textContent = err.message;
    alert.focus();
  } finally {
    button.disabled = false;
  }
}

async function setHold(lesson, box) {
  const alert = $('lessons-alert');
  alert.textContent = '';
  box.disabled = true;
  try {
    await api('PUT', `recordings/lessons/${encodeURIComponent(lesson.id)}/hold`, { hold: box.checked });
    await load();
  } catch (err) {
    box.checked = !box.checked;
    box.disabled = false;
    alert.textContent = err.message;
    alert.focus();
  }
}

let isAdmin = false;

async function load() {
  const data = await api('GET', 'recordings');
  const s = data.storage;
  $('storage-alert').textContent = '';
  if (s === null) {
    $('storage-kind').textContent = 'This hub keeps no recordings';
  } else if (s.error) {
    $('storage-kind').textContent = 'Unknown';
    $('storage-alert').textContent = `The storage could not be counted: ${s.error}`;
  } else {
    $('storage-kind').textContent = s.kind === 's3' ? 'S3 bucket' : 'The hub’s data directory';
    $('storage-files').textContent = String(s.files);
    $('storage-bytes').textContent = size(s.bytes);
    $('storage-partial').textContent = s.partialFiles ? `${s.partialFiles} (${size(s.partialBytes)})` : 'None';
  }
  $('storage-retention').textContent = kept(data.defaultRetentionDays, data.defaultRetentionDays);
  $('rooms-body').replaceChildren(...data.rooms.map((r) => roomRow(r, data.defaultRetentionDays)));
  $('rooms-wrap').hidden = data.rooms.length === 0;
  $('rooms-status').textContent = data.rooms.length === 0 ? 'No recordings yet.' : '';
  $('lessons-body').replaceChildren(...data.lessons.map((l) => lessonRow(l, isAdmin)));
  $('lessons-wrap').hidden = data.lessons.length === 0;
  $('lessons-status').textContent = data.lessons.length === 0 ? 'No lessons with recordings.'
    : `${data.lessons.length} lesson${data.lessons.length === 1 ? '' : 's'}, newest first.`;
}

const me = await startPage();
isAdmin = me.role === 'admin';
try {
  await load();
} catch (err) {
  $('rooms-status').textContent = '';
  $('storage-alert').textContent = err.message;
}
