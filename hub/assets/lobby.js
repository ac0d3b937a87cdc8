// The lobby for teachers and the room display: who is waiting, with Admit / Deny each, Admit all and
// Deny all. The waiting person's own screen is gate.js.

import { confirmAction } from './confirm.js';
import { h, replaceKeepingFocus } from './ui.js';

export function mountLobby(box, { store, send }) {
  const count = h('span', { class: 'count' });
  const list = h('ul', { class: 'lobby-list', 'data-testid': 'lobby-list', 'aria-labelledby': 'lobby-title' });
  const empty = h('p', { class: 'empty' }, 'Nobody is waiting.');
  const admitAll = h('button', { type: 'button', class: 'primary', 'data-testid': 'admit-all' }, 'Admit all');
  const denyAll = h('button', { type: 'button', 'data-testid': 'deny-all' }, 'Deny all');
  admitAll.addEventListener('click', () => send({ type: 'admitAll' }));
  denyAll.addEventListener('click', async () => {
    const n = (store.view.lobby || []).length;
    const ok = await confirmAction({
      title: 'Turn everyone away?',
      text: `${n} ${n === 1 ? 'person' : 'people'} will be told they cannot join and cannot ask again in this lesson.`,
      okLabel: 'Deny all',
    });
    if (ok) send({ type: 'denyAll' });
  });
  const all = h('div', { class: 'row' }, admitAll, denyAll);
  box.append(h('h2', { id: 'lobby-title' }, 'Waiting to enter ', count), list, empty, all);

  const render = () => {
    const waiting = store.view.lobby || [];
    count.textContent = `(${waiting.length})`;
    replaceKeepingFocus(list, waiting.map((w) => {
      const name = w.name || `Guest ${w.participantId}`;
      const admit = h('button', { type: 'button', class: 'primary small', 'data-testid': 'admit', 'aria-label': `Admit ${name}` }, 'Admit');
      const deny = h('button', { type: 'button', class: 'small', 'data-testid': 'deny', 'aria-label': `Deny ${name}` }, 'Deny');
      admit.addEventListener('click', () => send({ type: 'admit', participantId: w.participantId }));
      deny.addEventListener('click', () => send({ type: 'deny', participantId: w.participantId }));
      return h('li', { 'data-testid': 'lobby-entry', 'data-participant-id': w.participantId },
        h('span', { class: 'who' }, name, w.guest ? h('span', { class: 'tag' }, 'guest') : ''),
        h('span', { class: 'actions' }, admit, deny));
    }));
    list.hidden = !waiting.length;
    empty.hidden = !!waiting.length;
    all.hidden = waiting.length < 2;
  };
  store.on('lobby', render);
  render();
  return { render };
}
