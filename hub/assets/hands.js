// Raised hands: the student's raise/lower button, and the queue in raising order for teachers and
// the room display (who may lower one hand or all).

import { h, replaceKeepingFocus } from './ui.js';

/** The raise/lower toggle in the controls bar. */
export function mountHandButton(btn, { store, send }) {
  const render = () => {
    const up = store.view.handRaised;
    btn.setAttribute('aria-pressed', String(up));
    btn.querySelector('.label').textContent = up ? 'Lower hand' : 'Raise hand';
  };
  btn.addEventListener('click', () => send({ type: store.view.handRaised ? 'lowerHand' : 'raiseHand' }));
  store.on('ownHand', render);
  render();
}

function since(ms) {
  const mins = Math.floor((Date.now() - ms) / 60000);
  return mins < 1 ? 'just now' : `${mins} min`;
}

/** The queue, oldest first. */
export function mountHandQueue(box, { store, send }) {
  const count = h('span', { class: 'count' });
  const list = h('ol', { class: 'hand-queue', 'data-testid': 'hand-queue' });
  const empty = h('p', { class: 'empty' }, 'No hands raised.');
  const lowerAll = h('button', { type: 'button', 'data-testid': 'lower-all-hands' }, 'Lower all hands');
  lowerAll.addEventListener('click', () => send({ type: 'lowerAllHands' }));
  box.append(h('h2', { id: 'hands-title' }, 'Raised hands ', count), list, empty, lowerAll);
  list.setAttribute('aria-labelledby', 'hands-title');

  const render = () => {
    const hands = store.view.hands || [];
    count.textContent = `(${hands.length})`;
    replaceKeepingFocus(list, hands.map((hand, i) => {
      const name = hand.name || `Participant ${hand.participantId}`;
      const lower = h('button', { type: 'button', class: 'small', 'data-testid': 'lower-hand', 'aria-label': `Lower ${name}'s hand` }, 'Lower');
      lower.addEventListener('click', () => send({ type: 'lowerHand', participantId: hand.participantId }));
      const item = h('li', { 'data-testid': 'hand', 'data-participant-id': hand.participantId },
        h('span', { class: 'pos', 'aria-hidden': 'true' }, `${i + 1}`),
        h('span', { class: 'who' }, name),
        h('span', { class: 'when' }, since(hand.raisedAt)),
        lower);
      return item;
    }));
    list.hidden = !hands.length;
    empty.hidden = !!hands.length;
    lowerAll.hidden = hands.length < 2;
  };
  store.on('hands', render);
  setInterval(render, 30000); // keeps "3 min" honest
  render();
  return { render };
}
