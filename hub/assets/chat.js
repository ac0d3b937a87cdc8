// Chat: the room's messages and private ones (students may write privately only to a teacher).
// User text is only ever set with textContent: a message is plain text, never markup, and links in
// it are not made clickable.

import { fileCard, mountFileShare } from './files.js';
import { h, replaceKeepingFocus } from './ui.js';

const MAX_CHARS = 1000;

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * ctx: { store, send, role, token, room(), selfId(), people() -> {id: {name, role}}, onUnread(n) }.
 */
export function mountChat(box, ctx) {
  const { store, send, role } = ctx;
  const log = h('ol', { class: 'chat-log', role: 'log', 'aria-label': 'Chat messages', 'data-testid': 'chat-log' });
  const empty = h('p', { class: 'empty' }, 'No messages yet.');
  const note = h('p', { class: 'help', hidden: true });
  const to = h('select', { id: 'chat-to', 'data-testid': 'chat-to' });
  const text = h('textarea', { id: 'chat-text', rows: 2, maxlength: MAX_CHARS, 'data-testid': 'chat-input', 'aria-describedby': 'chat-hint' });
  const sendBtn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'chat-send' }, 'Send');
  const form = h('form', { class: 'chat-form' },
    h('div', { class: 'chat-to' }, h('label', { for: 'chat-to' }, 'To'), to),
    h('label', { for: 'chat-text', class: 'visually-hidden' }, 'Message'),
    h('div', { class: 'chat-compose' }, text, sendBtn),
    h('p', { id: 'chat-hint', class: 'help' }, 'Enter sends, Shift+Enter starts a new line.'));
  box.append(h('h2', { class: 'visually-hidden' }, 'Chat'), log, empty, note, form);
  mountFileShare(form, ctx);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    const msg = { type: 'sendChat', text: body };
    if (to.value) msg.to = Number(to.value);
    if (send(msg)) text.value = '';
  });
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });

  const nameOf = (id) => {
    if (id === ctx.selfId()) return 'you';
    const p = ctx.people()[id];
    return (p && p.name) || `participant ${id}`;
  };

  function item(m) {
    const mine = m.from === ctx.selfId();
    const meta = h('p', { class: 'meta' },
      h('span', { class: 'from' }, mine ? 'You' : m.fromName || `Participant ${m.from}`));
    if (m.fromRole === 'teacher') meta.append(h('span', { class: 'tag' }, 'teacher'));
    if (m.to != null) {
      meta.append(h('span', { class: 'private' }, m.to === ctx.selfId() ? 'privately to you' : `privately to ${nameOf(m.to)}`));
    }
    meta.append(h('time', { datetime: new Date(m.sentAt).toISOString() }, clock(m.sentAt)));
    const body = h('p', { class: 'text' });
    body.textContent = m.text; // plain text, always
    const li = h('li', { class: `msg${m.to != null ? ' is-private' : ''}${m.file ? ' is-file' : ''}`, 'data-testid': 'chat-message', 'data-message-id': m.id }, meta, m.file ? fileCard(m.file) : body);
    if (role === 'teacher') {
      const del = h('button', { type: 'button', class: 'small link', 'aria-label': `Delete message from ${m.fromName}`, 'data-testid': 'chat-delete' }, 'Delete');
      del.addEventListener('click', () => send({ type: 'deleteChat', messageId: m.id }));
      li.append(del);
    }
    return li;
  }

  let shown = 0;
  function render() {
    const msgs = store.view.chat;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    replaceKeepingFocus(log, msgs.map(item));
    empty.hidden = msgs.length > 0;
    if (atBottom || msgs.length > shown) log.scrollTop = log.scrollHeight;
    if (msgs.length > shown) ctx.onNew?.(msgs.length - shown);
    shown = msgs.length;
    renderPolicy();
  }

  /** Recipients: everyone (if allowed) and, privately, teachers (students) or anyone (teachers). */
  function refreshPeople() {
    const keep = to.value;
    const options = [];
    const roomChat = role === 'teacher' || store.view.policy?.studentsMayChat !== false;
    if (roomChat) options.push(h('option', { value: '' }, 'Everyone'));
    for (const p of Object.values(ctx.people())) {
      if (p.id === ctx.selfId()) continue;
      const ok = role === 'teacher' ? p.role === 'student' || p.role === 'teacher' : p.role === 'teacher';
      if (ok) options.push(h('option', { value: p.id }, `${p.name || `Participant ${p.id}`} (private)`));
    }
    to.replaceChildren(...options);
    if ([...to.options].some((o) => o.value === keep)) to.value = keep;
    const none = options.length === 0;
    text.disabled = none;
    sendBtn.disabled = none;
  }

  function renderPolicy() {
    const off = role === 'student' && store.view.policy?.studentsMayChat === false;
    note.hidden = !off;
    note.textContent = off ? 'The teacher turned off room chat. You can still write privately to a teacher.' : '';
  }

  store.on('chat', render);
  store.on('policy', () => { refreshPeople(); renderPolicy(); });
  render();
  refreshPeople();
  return { refreshPeople, focus: () => text.focus() };
}
