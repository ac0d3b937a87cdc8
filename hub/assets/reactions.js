// Reactions: a bar of six emoji to send, and each one received shown briefly over the sender's tile
// (or in a corner when they have no tile on this page).

import { h } from './ui.js';

export const REACTIONS = [
  ['👍', 'Thumbs up'], ['❤️', 'Heart'], ['😂', 'Laughing'], ['😮', 'Surprised'], ['👏', 'Applause'], ['❓', 'Question'],
];
const SHOW_MS = 3000;

/** The toggle button in the controls opens `bar`; picking an emoji sends it and closes the bar. */
export function mountReactionBar(toggle, bar, { send }) {
  const buttons = REACTIONS.map(([emoji, label]) => {
    const b = h('button', { type: 'button', class: 'emoji', 'aria-label': label, title: label, 'data-testid': 'react', 'data-reaction': emoji }, emoji);
    b.addEventListener('click', () => {
      send({ type: 'react', reaction: emoji });
      setOpen(false);
      toggle.focus();
    });
    return b;
  });
  bar.append(...buttons);
  const setOpen = (open) => {
    bar.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
  };
  toggle.addEventListener('click', () => {
    const open = bar.hidden;
    setOpen(open);
    if (open) buttons[0].focus();
  });
  bar.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      setOpen(false);
      toggle.focus();
      return;
    }
    const i = buttons.indexOf(document.activeElement);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1 }[ev.key];
    if (i >= 0 && next !== undefined) buttons[(next + buttons.length) % buttons.length].focus();
  });
  setOpen(false);
}

/** Show `reacted` events: ctx { store, selfId() }. */
export function mountReactionDisplay({ store, selfId }) {
  const corner = document.getElementById('reaction-corner');
  const live = document.getElementById('reaction-live');
  store.on('reaction', (msg) => {
    const pid = msg.participantId;
    const host = pid === selfId()
      ? document.getElementById('self')
      : document.querySelector(`.tile[data-participant-id="${pid}"]:not([hidden])`);
    const pop = h('span', { class: 'reaction-pop', 'aria-hidden': 'true', 'data-testid': 'reaction-pop', 'data-participant-id': pid }, msg.reaction);
    if (host && host.offsetParent !== null) {
      for (const old of host.querySelectorAll('.reaction-pop')) old.remove(); // the newest replaces
      host.append(pop);
    } else {
      pop.append(h('span', { class: 'who' }, msg.name || ''));
      corner.append(pop);
    }
    setTimeout(() => pop.remove(), SHOW_MS);
    live.textContent = `${pid === selfId() ? 'You' : msg.name || 'Someone'} reacted ${msg.reaction}`;
  });
}
