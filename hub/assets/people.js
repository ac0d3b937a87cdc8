// Who is in the lesson. Teachers get per-student actions (mute, ask to unmute, stop camera,
// spotlight, remove), "Mute all", and each one's connection as the hub sees it (linkstats.js);
// everyone else sees a plain list.

import { confirmAction } from './confirm.js';
import { LinkStats } from './linkstats.js';
import { h, pageIcon, replaceKeepingFocus } from './ui.js';

const ROLE_LABEL = { teacher: 'teacher', device: 'classroom', viewer: 'viewer' };
const RANK = { teacher: 0, device: 1, student: 2, viewer: 3 };

/** ctx: { store, send, role, selfId(), self(), people(), token, room() }. */
export function mountPeople(box, ctx) {
  const { store, send, role } = ctx;
  const teacher = role === 'teacher';
  // Teachers see how each participant receives: the hub's estimate, layers and pauses.
  const links = teacher ? new LinkStats(ctx, () => render()) : null;
  const count = h('span', { class: 'count' });
  const list = h('ul', { class: 'people', 'data-testid': 'people-list', 'aria-labelledby': 'people-title' });
  const head = h('div', { class: 'panel-head' }, h('h2', { id: 'people-title' }, 'In the lesson ', count));
  if (teacher) {
    const muteAll = h('button', { type: 'button', 'data-testid': 'mute-all' }, 'Mute all students');
    muteAll.addEventListener('click', () => send({ type: 'muteAllStudents' }));
    head.append(muteAll);
  }
  box.append(head, list);

  function button(label, testid, name, onClick, opts = {}) {
    const b = h('button', { type: 'button', class: `small${opts.danger ? ' danger' : ''}`, 'data-testid': testid, 'aria-label': `${label} ${name}` }, label);
    if (opts.pressed !== undefined) b.setAttribute('aria-pressed', String(opts.pressed));
    b.disabled = !!opts.disabled;
    b.addEventListener('click', onClick);
    return b;
  }

  function actions(p, name) {
    const id = p.id;
    const out = [];
    if (p.role === 'student') {
      out.push(p.audioMuted
        ? button('Ask to unmute', 'person-ask-unmute', name, () => send({ type: 'askToUnmute', participantId: id }))
        : button('Mute', 'person-mute', name, () => send({ type: 'muteParticipant', participantId: id })));
      out.push(button('Stop camera', 'person-stop-video', name, () => send({ type: 'stopVideo', participantId: id }), { disabled: p.videoMuted }));
    }
    if (p.role === 'student' || p.role === 'teacher') {
      const on = store.view.spotlight === id;
      out.push(button(on ? 'End spotlight' : 'Spotlight', 'person-spotlight', name,
        () => send({ type: 'spotlight', participantId: on ? null : id }), { pressed: on }));
    }
    if (store.view.screenSharer === id) {
      out.push(button('Stop share', 'person-stop-share', name, () => send({ type: 'stopScreenShare', participantId: id })));
    }
    if (p.role === 'student' || p.role === 'viewer') {
      out.push(button('Remove', 'person-remove', name, async () => {
        const ok = await confirmAction({
          title: `Remove ${name}?`,
          text: `${name} leaves the lesson now and cannot rejoin it with the same link.`,
          okLabel: 'Remove',
        });
        if (ok) send({ type: 'removeParticipant', participantId: id });
      }, { danger: true }));
    }
    return out;
  }

  function row(p, isSelf) {
    const name = p.name || `Participant ${p.id}`;
    const raised = (store.view.hands || []).some((hand) => hand.participantId === p.id);
    const who = h('span', { class: 'who' }, isSelf ? `${name} (you)` : name);
    if (ROLE_LABEL[p.role]) who.append(h('span', { class: 'tag' }, ROLE_LABEL[p.role]));
    const state = h('span', { class: 'state' });
    if (raised) state.append(h('span', { class: 'tag hand' }, pageIcon('hand'), 'hand up'));
    if (p.audioMuted) state.append(h('span', { class: 'tag off' }, 'mic off'));
    if (p.videoMuted) state.append(h('span', { class: 'tag off' }, 'camera off'));
    if (store.view.spotlight === p.id) state.append(h('span', { class: 'tag' }, 'spotlight'));
    if (store.view.screenSharer === p.id) state.append(h('span', { class: 'tag' }, 'sharing screen'));
    const link = !isSelf && links?.get(p.id);
    if (link) state.append(h('span', { class: `tag link link-${link.level}`, 'data-testid': 'person-link', 'data-level': link.level }, link.text));
    const li = h('li', { 'data-testid': 'person', 'data-participant-id': p.id, 'data-role': p.role }, who, state);
    if (teacher && !isSelf) li.append(h('span', { class: 'actions' }, ...actions(p, name)));
    return li;
  }

  function render() {
    const self = ctx.self();
    // A classroom box joins twice (publishing, and receiving the return feed): list it once.
    const seenDevices = new Set();
    const others = Object.values(ctx.people()).filter((p) => {
      if (p.role !== 'device') return true;
      if (seenDevices.has(p.name)) return false;
      seenDevices.add(p.name);
      return true;
    }).sort((a, b) => (RANK[a.role] ?? 9) - (RANK[b.role] ?? 9) || String(a.name).localeCompare(String(b.name)));
    const rows = others.map((p) => row(p, false));
    if (self) rows.unshift(row({ id: self.participantId, name: self.name, role: self.role }, true));
    replaceKeepingFocus(list, rows);
    count.textContent = `(${rows.length})`;
  }

  store.on('spotlight', render);
  store.on('screen', render);
  store.on('hands', render);
  render();
  links?.start();
  return { render, stop: () => links?.stop() };
}
