// A room's lessons (/rooms/{room}/lessons?token=…, a teacher's or admin's token): date, teacher,
// duration and size of each, newest first, each linked to its lesson page. Text only.

import { takeToken } from './address.js';
import { clock } from './lessonplayer.js';
import { formatSize } from './files.js';

const $ = (id) => document.getElementById(id);
const room = decodeURIComponent(window.location.pathname.split('/')[2] || '');

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

async function main() {
  $('list-title').textContent = `Lessons in ${room}`;
  const token = takeToken();
  const fail = (text) => {
    $('list-error').textContent = text;
    $('list-error').hidden = false;
    $('list-status').textContent = 'Not available';
  };
  if (!token) return fail('This page needs a teacher\'s link (with its token).');
  const resp = await fetch(`/api/rooms/${encodeURIComponent(room)}/lessons`, { headers: { Authorization: `Bearer ${token}` } });
  const lessons = await resp.json().catch(() => null);
  if (!resp.ok || !Array.isArray(lessons)) return fail(lessons?.detail || `The lessons could not be loaded (${resp.status}).`);
  const rows = lessons.map((l) => {
    const tr = document.createElement('tr');
    tr.dataset.testid = 'lesson-row';
    const bytes = l.recordings.reduce((n, r) => n + (r.bytes || 0), 0);
    const duration = l.endedAt ? clock(l.endedAt - l.startedAt) : 'on now';
    const link = document.createElement('a');
    // The page reads the token from the address once, then keeps it for its tab only.
    link.href = `/lessons/${encodeURIComponent(l.id)}?token=${encodeURIComponent(token)}`;
    link.textContent = 'Open';
    link.setAttribute('aria-label', `Open the lesson of ${new Date(l.startedAt).toLocaleString()}`);
    const open = document.createElement('td');
    open.append(link);
    tr.append(cell(new Date(l.startedAt).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })),
      cell((l.teachers || []).join(', ') || '—'), cell(duration),
      cell(l.recordings.length ? `${formatSize(bytes)} (${l.recordings.length} file${l.recordings.length === 1 ? '' : 's'})` : '—'), open);
    return tr;
  });
  $('list-body').replaceChildren(...rows);
  $('list').hidden = false;
  $('list-status').textContent = `${lessons.length} lesson${lessons.length === 1 ? '' : 's'}`;
}

main().catch((e) => {
  $('list-error').textContent = `The page failed: ${e.message}`;
  $('list-error').hidden = false;
});
