// Polls and quizzes as students see them (answer, change the answer while open, see results once the
// teacher shares them), and the results view teachers share with students.

import { h } from './ui.js';

/** Votes per option as labelled bars; a quiz's correct options are marked once known. */
export function resultsView(poll, results, { myAnswer = null } = {}) {
  const total = Math.max(results.respondents, 1);
  const correct = new Set(results.correct || []);
  const rows = poll.options.map((text, i) => {
    const votes = results.counts[i] || 0;
    const pct = Math.round((votes / total) * 100);
    const label = h('span', { class: 'opt' }, text);
    if (correct.has(i)) label.append(h('span', { class: 'tag ok' }, 'correct'));
    if (myAnswer && myAnswer.includes(i)) label.append(h('span', { class: 'tag' }, 'your answer'));
    const fill = h('span');
    fill.style.width = `${pct}%`; // the CSSOM, not a style attribute: the CSP allows no inline styles
    return h('li', { 'data-testid': 'poll-result', 'data-option': i, 'data-votes': votes },
      label,
      h('span', { class: 'votes' }, `${votes} ${votes === 1 ? 'vote' : 'votes'} (${pct}%)`),
      h('span', { class: 'bar', 'aria-hidden': 'true' }, fill));
  });
  const n = results.respondents;
  return h('div', { class: 'poll-results', 'data-testid': 'poll-results', 'data-respondents': n },
    h('ol', { class: 'results' }, ...rows),
    h('p', { class: 'help' }, `${n} ${n === 1 ? 'person' : 'people'} answered.`));
}

/** The student's Polls panel. ctx: { store, send, onNew() }. */
export function mountPollAnswer(box, ctx) {
  const { store, send } = ctx;
  let shownId = null;

  function form(poll, mine) {
    const kind = poll.multiple ? 'checkbox' : 'radio';
    const inputs = poll.options.map((text, i) => {
      const input = h('input', { type: kind, name: `poll-${poll.id}`, value: i, id: `poll-${poll.id}-${i}`, 'data-testid': 'poll-option' });
      input.checked = !!mine && mine.includes(i);
      return h('div', { class: 'choice' }, input, h('label', { for: input.id }, text));
    });
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'poll-submit' }, mine ? 'Change answer' : 'Send answer');
    const f = h('form', { class: 'poll-answer', 'data-testid': 'poll-answer' },
      h('fieldset', {},
        h('legend', {}, poll.question),
        h('p', { class: 'help' }, poll.multiple ? 'Choose one or more.' : 'Choose one.'),
        ...inputs),
      error, submit);
    f.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const choices = [...f.querySelectorAll('input:checked')].map((el) => Number(el.value));
      if (!choices.length) {
        error.textContent = 'Choose an answer first.';
        error.hidden = false;
        return;
      }
      error.hidden = true;
      send({ type: 'answerPoll', pollId: poll.id, choices });
    });
    return f;
  }

  function render() {
    const { poll, pollResults, myAnswer } = store.view;
    const parts = [h('h2', {}, poll && poll.quiz ? 'Quiz' : 'Poll')];
    if (!poll) {
      parts.push(h('p', { class: 'empty' }, 'No poll right now. When the teacher starts one, it shows here.'));
    } else {
      const status = poll.open
        ? (myAnswer ? 'Your answer was recorded. You can change it while the poll is open.' : poll.anonymous ? 'Answers are anonymous.' : 'The teacher sees who answered what.')
        : 'The poll is closed.';
      if (poll.open) parts.push(form(poll, myAnswer));
      else parts.push(h('p', { class: 'question' }, poll.question));
      parts.push(h('p', { class: 'help', 'data-testid': 'poll-status', role: 'status' }, status));
      if (pollResults) parts.push(h('h3', {}, 'Results'), resultsView(poll, pollResults, { myAnswer }));
    }
    // Keep the user's unsent ticks when only the results changed.
    const open = box.querySelector('form.poll-answer');
    const keep = open && poll && poll.open && shownId === poll.id && !myAnswer
      ? [...open.querySelectorAll('input:checked')].map((el) => el.value) : null;
    box.replaceChildren(...parts);
    if (keep) for (const v of keep) { const el = box.querySelector(`input[value="${v}"]`); if (el) el.checked = true; }
    if (poll && poll.open && shownId !== poll.id) ctx.onNew?.();
    shownId = poll ? poll.id : null;
  }

  store.on('poll', render);
  render();
}
