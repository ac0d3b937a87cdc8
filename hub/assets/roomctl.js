// The teacher's Room panel: room policies, the guest passcode, attendance and poll downloads, End lesson.

import { confirmAction } from './confirm.js';
import { toast } from './toast.js';
import { h } from './ui.js';

const POLICIES = [
  ['everyoneWaits', 'Everyone waits in the lobby', 'Students with a personal link wait too; guests always wait.'],
  ['locked', 'Lock the room', 'Nobody new can enter, except teachers and the classroom.'],
  ['studentsMayUnmute', 'Students may unmute', ''],
  ['studentsMayStartVideo', 'Students may start their camera', ''],
  ['studentsMayShareScreen', 'Students may share their screen', ''],
  ['studentsMayChat', 'Students may chat with the room', 'Private messages to a teacher always work.'],
  ['studentsMayShareFiles', 'Students may share files in the chat', 'Teachers always can; the size and type limits apply to everyone.'],
  ['studentsSeeEachOther', 'Students see each other', 'Off: students see only the teacher and the room; their cameras reach teachers and the room display only.'],
];

const DOWNLOADS = [
  ['attendance.csv', 'Download attendance (CSV)', 'download-attendance-csv'],
  ['attendance.json', 'Attendance (JSON)', 'download-attendance-json'],
  ['polls.csv', 'Poll results (CSV)', 'download-polls-csv'],
  ['polls.json', 'Poll results (JSON)', 'download-polls-json'],
];

/** ctx: { store, send, token, room() }. */
export function mountRoomControls(box, ctx) {
  const { store, send } = ctx;
  const inputs = {};
  const toggles = POLICIES.map(([key, label, help]) => {
    const id = `policy-${key}`;
    const input = h('input', { type: 'checkbox', role: 'switch', id, 'data-testid': id, 'aria-describedby': help ? `${id}-help` : null });
    input.addEventListener('change', () => {
      input.disabled = true; // until the hub says what the policy now is
      send({ type: 'setPolicy', [key]: input.checked });
      setTimeout(() => render(), 3000); // a refusal brings no event: show the truth again
    });
    inputs[key] = input;
    return h('li', {}, input, h('label', { for: id }, label), help ? h('p', { id: `${id}-help`, class: 'help' }, help) : '');
  });

  const passcode = mountPasscode(ctx);

  const downloads = DOWNLOADS.map(([file, label, testid]) => {
    const b = h('button', { type: 'button', 'data-testid': testid }, label);
    b.addEventListener('click', () => download(ctx, file, b));
    return b;
  });

  const end = h('button', { type: 'button', class: 'danger', 'data-testid': 'end-lesson' }, 'End lesson');
  end.addEventListener('click', async () => {
    const ok = await confirmAction({
      title: 'End the lesson for everyone?',
      text: 'Everyone leaves now, the classroom stops streaming, and nobody can rejoin this lesson.',
      okLabel: 'End lesson',
    });
    if (ok) send({ type: 'endLesson' });
  });

  box.append(
    h('h2', {}, 'Room settings'),
    h('ul', { class: 'policies', 'data-testid': 'policies' }, ...toggles),
    h('h2', { id: 'passcode-title' }, 'Guest passcode'),
    passcode,
    h('h2', {}, 'Reports'),
    h('div', { class: 'row downloads' }, ...downloads),
    recordedLessons(ctx),
    h('h2', {}, 'Lesson'),
    end);

  const render = () => {
    const p = store.view.policy;
    for (const [key] of POLICIES) {
      inputs[key].disabled = !p;
      if (p) inputs[key].checked = !!p[key];
    }
  };
  store.on('policy', render);
  render();
}

/** A link to the room's recorded lessons (lessons.html), in a new tab: the token goes in the link
 * and leaves the new page's address bar as soon as it is read. */
function recordedLessons(ctx) {
  const a = h('a', { href: '#', target: '_blank', rel: 'noopener', 'data-testid': 'recorded-lessons' }, 'Recorded lessons');
  a.addEventListener('click', () => {
    a.href = `/rooms/${encodeURIComponent(ctx.room())}/lessons?token=${encodeURIComponent(ctx.token)}`;
  });
  return h('p', {}, a);
}

const PASSCODE_MIN = 4;
const PASSCODE_MAX = 32;

/**
 * Set or clear the passcode guests must give. The hub never tells anyone the passcode, not even the
 * teacher: the form only shows whether one is set, and empties once the hub confirms a new one.
 */
function mountPasscode({ store, send }) {
  const status = h('p', { id: 'passcode-status', class: 'help', role: 'status', 'data-testid': 'passcode-status' });
  const input = h('input', {
    type: 'text', id: 'passcode-input', name: 'passcode', autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'off', maxlength: PASSCODE_MAX, 'aria-describedby': 'passcode-status passcode-error',
    'data-testid': 'passcode-input',
  });
  const error = h('p', { id: 'passcode-error', class: 'error', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'passcode-save' }, 'Save passcode');
  const clear = h('button', { type: 'button', 'data-testid': 'passcode-clear' }, 'Clear passcode');
  const form = h('form', { class: 'passcode-form', 'aria-labelledby': 'passcode-title', novalidate: true },
    status, h('label', { for: 'passcode-input' }, 'New passcode (4 to 32 characters)'), input, error,
    h('div', { class: 'row' }, save, clear));
  let pending = false; // a save was sent: empty the field when the hub confirms

  const fail = (text) => {
    error.textContent = text;
    error.hidden = !text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = input.value.trim();
    const n = [...code].length;
    if (n < PASSCODE_MIN || n > PASSCODE_MAX) {
      fail(`A passcode is ${PASSCODE_MIN} to ${PASSCODE_MAX} characters long.`);
      input.focus();
      return;
    }
    fail('');
    pending = true;
    send({ type: 'setPasscode', passcode: code });
  });
  clear.addEventListener('click', () => {
    fail('');
    send({ type: 'setPasscode', passcode: null });
  });

  const render = () => {
    const p = store.view.policy;
    const set = !!p?.passcodeRequired;
    status.textContent = set
      ? 'A passcode is set: guests with the shared link must enter it to ask to join.'
      : 'No passcode: anyone with the shared guest link can ask to join.';
    save.disabled = !p;
    if (!set && document.activeElement === clear) input.focus(); // keep focus somewhere useful
    clear.hidden = !set;
    if (pending && set) {
      pending = false;
      input.value = '';
    }
  };
  store.on('policy', render);
  // A refused save (e.g. the hub finds the passcode invalid) brings no policy change.
  store.on('refused', () => { pending = false; });
  render();
  return form;
}

/** Fetch a report with the teacher's token (never in a URL) and save it through a Blob link. */
async function download(ctx, file, btn) {
  const room = ctx.room();
  btn.disabled = true;
  try {
    const res = await fetch(`/api/rooms/${encodeURIComponent(room)}/${file}`, {
      headers: { Authorization: `Bearer ${ctx.token}` },
      cache: 'no-store',
    });
    if (!res.ok) throw new Error(`the hub answered ${res.status}`);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${room}-${file}`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    console.warn('lectern: download failed', file, err);
    toast(`The ${file} report could not be downloaded (${err.message}).`, { kind: 'error' });
  } finally {
    btn.disabled = false;
  }
}
