// The lesson page (/lessons/{id}): a teacher or admin opens it with their token (?token=, kept
// for this tab only, see address.js), a student with the link the teacher shared (?exp=&sig=).
// It plays the lesson's files in sync (lessonplayer.js) beside its chat, polls, attendance and
// downloads. User data is set as text only.

import { takeToken } from './address.js';
import { LessonPlayer, clock, lengthOf, tracksOf } from './lessonplayer.js';
import { formatSize } from './files.js';

const $ = (id) => document.getElementById(id);
const lessonId = decodeURIComponent(window.location.pathname.split('/').pop() || '');
const room = lessonId.slice(0, lessonId.lastIndexOf('.'));

function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function fail(text) {
  $('lesson-error').textContent = text;
  $('lesson-error').hidden = false;
  $('lesson-status').textContent = 'Not available';
}

/** The lesson's JSON with whatever credential this page was opened with. */
async function load() {
  const params = new URLSearchParams(window.location.search);
  if (params.get('exp') && params.get('sig')) {
    const q = new URLSearchParams({ exp: params.get('exp'), sig: params.get('sig') });
    return { resp: await fetch(`/api/lessons/${encodeURIComponent(lessonId)}/shared?${q}`), token: null };
  }
  const token = takeToken();
  if (!token) return { resp: null, token: null };
  const resp = await fetch(`/api/rooms/${encodeURIComponent(room)}/lessons/${encodeURIComponent(lessonId)}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  return { resp, token };
}

function when(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function tileFor(track) {
  const label = track.kind === 'camera' ? 'Room camera' : track.kind === 'slides' ? 'Slides' : track.key;
  const fig = el('figure', null, { class: `rec-tile rec-${track.kind}` });
  const audioOnly = track.kind === 'audio';
  const media = el(audioOnly ? 'audio' : 'video', null, {
    id: `video-${track.key}`, 'data-track': track.key, preload: 'auto', controls: '', 'aria-label': label,
  });
  media.playsInline = true;
  // One sound: the room's audio comes from the camera file; the slides carry none.
  if (track.kind === 'slides') media.muted = true;
  const gap = el('p', 'Nothing was recorded at this point.', { class: 'rec-gap muted', hidden: '' });
  fig.append(media, gap, el('figcaption', label));
  return { fig, tile: { track, el: media, gap } };
}

function showChat(lesson, player) {
  const list = $('chat');
  if (lesson.chat.length === 0) list.append(el('li', 'No messages.', { class: 'muted' }));
  for (const m of lesson.chat) {
    const at = m.sentAt - lesson.startedAt;
    const li = el('li', null, { 'data-testid': 'chat-message' });
    const stamp = el('button', clock(at), { type: 'button', class: 'rec-stamp', 'data-at': String(at),
      'aria-label': `Go to ${clock(at)}` });
    stamp.addEventListener('click', () => player?.seek(at));
    li.append(stamp, ' ', el('strong', m.from), ': ', el('span', m.text));
    if (m.private) li.append(' ', el('em', '(private)', { class: 'muted' }));
    list.append(li);
  }
}

function showPolls(lesson) {
  const box = $('polls');
  if (lesson.polls.length === 0) box.append(el('p', 'No polls.', { class: 'muted' }));
  for (const p of lesson.polls) {
    const sec = el('div', null, { class: 'rec-poll', 'data-testid': 'poll' });
    sec.append(el('h3', p.question));
    const ul = el('ul');
    for (const o of p.options || []) ul.append(el('li', `${o.text}: ${o.votes} vote${o.votes === 1 ? '' : 's'}`));
    sec.append(ul, el('p', `${p.respondents ?? 0} answered`, { class: 'muted' }));
    box.append(sec);
  }
}

function showAttendance(lesson) {
  if (!lesson.attendance) return;
  $('attendance-card').hidden = false;
  const time = (ms) => (ms ? new Date(ms).toLocaleTimeString([], { timeStyle: 'short' }) : '—');
  for (const p of lesson.attendance.people || []) {
    const first = p.intervals?.[0]?.joinedAt;
    const last = p.intervals?.[p.intervals.length - 1]?.leftAt;
    const tr = el('tr', null, { 'data-testid': 'attendance-row' });
    tr.append(el('td', p.name), el('td', p.role), el('td', time(first)), el('td', time(last)),
      el('td', String(Math.round((p.totalMs || 0) / 60000))));
    $('attendance').append(tr);
  }
}

function showFiles(lesson) {
  const list = $('files');
  for (const f of lesson.files) {
    const li = el('li');
    if (f.url) {
      const a = el('a', f.name, { href: f.url, download: f.name });
      li.append(a, ` (${f.kind}, ${formatSize(f.bytes)})`);
    } else {
      li.append(`${f.name} (${f.kind}): ${f.state}`);
    }
    list.append(li);
  }
  if (lesson.files.length === 0) list.append(el('li', 'No recordings.', { class: 'muted' }));
}

function wireShare(token) {
  $('share').hidden = false;
  $('share-button').addEventListener('click', async () => {
    const resp = await fetch(`/api/rooms/${encodeURIComponent(room)}/lessons/${encodeURIComponent(lessonId)}/share`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}` },
    });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      fail(body.detail || `The link could not be made (${resp.status}).`);
      return;
    }
    $('share-link').value = new URL(body.url, window.location.origin).href;
    $('share-link').hidden = false;
    $('share-link').select();
  });
}

async function main() {
  const { resp, token } = await load();
  if (!resp) {
    fail('This page needs a teacher\'s link or the link your teacher shared.');
    return;
  }
  const lesson = await resp.json().catch(() => null);
  if (!resp.ok || !lesson) {
    fail(lesson?.detail || `The lesson could not be loaded (${resp.status}).`);
    return;
  }
  $('lesson-title').textContent = `Lesson in ${lesson.room}`;
  document.title = `Lesson in ${lesson.room} · Lectern`;
  const teachers = lesson.teachers.length ? ` · ${lesson.teachers.join(', ')}` : '';
  const length = lesson.endedAt ? ` · ${clock(lesson.endedAt - lesson.startedAt)}` : ' · still on';
  $('lesson-meta').textContent = `${when(lesson.startedAt)}${length}${teachers}`;
  const tracks = tracksOf(lesson);
  const made = tracks.map(tileFor);
  $('tiles').replaceChildren(...made.map((m) => m.fig));
  let player = null;
  if (made.length > 0) {
    player = new LessonPlayer({
      tiles: made.map((m) => m.tile), length: lengthOf(lesson, tracks),
      slider: $('timeline'), timeLabel: $('time'), playButton: $('play'),
    });
  } else {
    $('tiles').append(el('p', 'No recording of this lesson is ready to play.', { class: 'muted' }));
    $('play').disabled = true;
  }
  window.lessonPlayer = player; // for the page's tests
  showChat(lesson, player);
  showPolls(lesson);
  showAttendance(lesson);
  showFiles(lesson);
  if (lesson.viewer === 'staff' && token) wireShare(token);
  $('lesson').hidden = false;
  $('lesson-status').textContent = lesson.viewer === 'staff' ? 'Teacher view' : 'Shared with you';
}

main().catch((e) => fail(`The page failed: ${e.message}`));
