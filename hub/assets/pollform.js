// The teacher's Polls panel: write a poll or quiz (2–10 options, multiple choice, anonymous, correct
// answers), follow its live results, close it and share the results with the class.

import { resultsView } from './polls.js';
import { h } from './ui.js';

const MIN_OPTIONS = 2;
const MAX_OPTIONS = 10;

export function mountPollCreator(box, { store, send }) {
  const live = h('div', { class: 'poll-live', 'data-testid': 'poll-live' });
  const creator = buildCreator(send);
  box.append(h('h2', {}, 'Polls and quizzes'), live, creator.el);

  function render() {
    const { poll, pollResults } = store.view;
    const parts = [];
    if (poll) {
      parts.push(h('h3', {}, `${poll.quiz ? 'Quiz' : 'Poll'}: `, h('span', { 'data-testid': 'poll-question' }, poll.question)),
        h('p', { class: 'help', 'data-testid': 'poll-state' }, poll.open ? 'Open: results update as students answer.' : 'Closed.'));
      if (pollResults) parts.push(resultsView(poll, pollResults));
      const row = h('div', { class: 'row' });
      if (poll.open) {
        const close = h('button', { type: 'button', 'data-testid': 'poll-close' }, 'Close poll');
        const closeShare = h('button', { type: 'button', class: 'primary', 'data-testid': 'poll-close-share' }, 'Close and share results');
        close.addEventListener('click', () => send({ type: 'closePoll', pollId: poll.id, shareResults: false }));
        closeShare.addEventListener('click', () => send({ type: 'closePoll', pollId: poll.id, shareResults: true }));
        row.append(close, closeShare);
      }
      const share = h('button', { type: 'button', 'data-testid': 'poll-share' }, 'Share results');
      share.addEventListener('click', () => send({ type: 'sharePollResults', pollId: poll.id }));
      row.append(share);
      parts.push(row);
    }
    live.replaceChildren(...parts);
    live.hidden = !poll;
    creator.el.hidden = !!(poll && poll.open);
  }
  store.on('poll', render);
  render();
}

function buildCreator(send) {
  const question = h('input', { type: 'text', id: 'poll-question', maxlength: 500, required: true, 'data-testid': 'poll-question-input' });
  const options = h('ol', { class: 'poll-options' });
  const add = h('button', { type: 'button', class: 'small', 'data-testid': 'poll-add-option' }, 'Add option');
  const multiple = h('input', { type: 'checkbox', id: 'poll-multiple', 'data-testid': 'poll-multiple' });
  const anonymous = h('input', { type: 'checkbox', id: 'poll-anonymous', 'data-testid': 'poll-anonymous' });
  const quiz = h('input', { type: 'checkbox', id: 'poll-quiz', 'data-testid': 'poll-quiz' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const start = h('button', { type: 'submit', class: 'primary', 'data-testid': 'poll-start' }, 'Start poll');
  let seq = 0;

  function addOption(value = '') {
    seq += 1;
    const id = `poll-opt-${seq}`;
    const n = options.children.length + 1;
    const text = h('input', { type: 'text', id, maxlength: 200, 'data-testid': 'poll-option-input' });
    text.value = value;
    const correct = h('input', { type: 'checkbox', id: `${id}-ok`, 'data-testid': 'poll-correct' });
    const remove = h('button', { type: 'button', class: 'small link', 'data-testid': 'poll-remove-option' }, 'Remove');
    const li = h('li', {},
      h('label', { for: id, class: 'visually-hidden' }, `Option ${n}`), text,
      h('span', { class: 'correct' }, correct, h('label', { for: correct.id }, 'correct')),
      remove);
    remove.addEventListener('click', () => { li.remove(); relabel(); options.querySelector('input')?.focus(); });
    options.append(li);
    relabel();
    return text;
  }

  function relabel() {
    const items = [...options.children];
    items.forEach((li, i) => {
      li.querySelector('label').textContent = `Option ${i + 1}`;
      li.querySelector('.correct label').textContent = 'correct';
      li.querySelector('.correct input').setAttribute('aria-label', `Option ${i + 1} is correct`);
      li.querySelector('button').setAttribute('aria-label', `Remove option ${i + 1}`);
      li.querySelector('button').hidden = items.length <= MIN_OPTIONS;
    });
    add.hidden = items.length >= MAX_OPTIONS;
    for (const c of options.querySelectorAll('.correct')) c.hidden = !quiz.checked;
  }

  add.addEventListener('click', () => addOption().focus());
  quiz.addEventListener('change', relabel);

  const form = h('form', { class: 'poll-create', 'data-testid': 'poll-create' },
    h('h3', {}, 'New poll'),
    h('label', { for: 'poll-question' }, 'Question'), question,
    h('fieldset', {}, h('legend', {}, 'Options'), options, add),
    h('div', { class: 'checks' },
      h('span', {}, multiple, h('label', { for: 'poll-multiple' }, 'Several answers allowed')),
      h('span', {}, anonymous, h('label', { for: 'poll-anonymous' }, 'Anonymous')),
      h('span', {}, quiz, h('label', { for: 'poll-quiz' }, 'Quiz: mark the correct answers'))),
    error, start);

  const fail = (text, el) => {
    error.textContent = text;
    error.hidden = false;
    el?.focus();
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = question.value.trim();
    const items = [...options.children];
    const texts = items.map((li) => li.querySelector('input[type="text"]').value.trim());
    if (!q) return fail('Write a question.', question);
    const blank = texts.findIndex((t) => !t);
    if (blank >= 0) return fail(`Option ${blank + 1} is empty.`, items[blank].querySelector('input'));
    if (new Set(texts).size !== texts.length) return fail('Two options are the same.', null);
    const msg = { type: 'createPoll', question: q, options: texts, multiple: multiple.checked, anonymous: anonymous.checked };
    if (quiz.checked) {
      const correct = items.flatMap((li, i) => (li.querySelector('.correct input').checked ? [i] : []));
      if (!correct.length) return fail('Mark at least one correct answer for a quiz.', null);
      if (!multiple.checked && correct.length !== 1) return fail('A single-choice quiz has exactly one correct answer.', null);
      msg.correct = correct;
    }
    error.hidden = true;
    if (send(msg)) {
      question.value = '';
      options.replaceChildren();
      for (let i = 0; i < MIN_OPTIONS; i += 1) addOption();
    }
  });

  for (let i = 0; i < MIN_OPTIONS; i += 1) addOption();
  return { el: form };
}
