// Breakout groups (proto/src/breakout.rs): the teacher's panel (create a round, assign students by
// hand, at random or let them choose, start, visit, send the classroom, broadcast, recall) and what
// a student sees (their group, the timer, the teacher's broadcasts, the "choose your group" list and
// the recall countdown). The hub decides who is where: nothing moves here because of a button, only
// because of `breakoutsChanged` / `breakoutSpace`.

import { toast } from './toast.js';
import { h } from './ui.js';

const TICK_MS = 1000;

/** "4:05" from milliseconds. */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A round's time left, from what the hub said and how long ago (its clock may differ from ours). */
function left(ms, receivedAt) {
  return ms == null ? null : Math.max(0, ms - (performance.now() - receivedAt));
}

/**
 * ctx: { store, send, role, selfId(), people() -> {id: {name, role}} }. `onMoved()` is called when the
 * hub put this participant in another space (the panel's tab may want to show).
 */
export function mountBreakouts(box, ctx, onMoved = () => {}) {
  const { store, send, role } = ctx;
  const teacher = role === 'teacher';
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'assertive', 'data-testid': 'breakout-live' });
  const status = h('p', { class: 'breakout-status', role: 'status', 'data-testid': 'breakout-status' });
  // Ticking text is not a live region: the changes of phase are announced once, in `live`.
  const timer = h('p', { class: 'breakout-timer', 'data-testid': 'breakout-timer', hidden: true });
  const recall = h('p', { class: 'breakout-recall', 'data-testid': 'breakout-recall', hidden: true });
  const choose = h('fieldset', { class: 'breakout-choose', 'data-testid': 'breakout-choose', hidden: true });
  const plan = h('div', { class: 'breakout-plan', 'data-testid': 'breakout-plan' });
  const form = teacher ? createForm(send) : null;
  const controls = teacher ? h('div', { class: 'row breakout-controls', 'data-testid': 'breakout-controls' }) : null;
  const broadcastForm = teacher ? broadcastComposer(send) : null;
  const log = h('ol', { class: 'breakout-broadcasts', role: 'log', 'aria-label': 'Messages to all groups', 'data-testid': 'breakout-broadcasts' });
  box.append(h('h2', {}, 'Breakout groups'), live, status, timer, recall, choose);
  if (teacher) box.append(form.el, controls, plan, broadcastForm);
  box.append(h('h3', { class: 'visually-hidden' }, 'Messages to all groups'), log);

  let receivedAt = performance.now();
  let phase = null;
  const nameOf = (id) => {
    if (id === ctx.selfId()) return 'You';
    return ctx.people()[id]?.name || `Participant ${id}`;
  };
  const say = (text) => { live.textContent = text; };

  function render() {
    const v = store.view.breakouts;
    // Where the hub says we are (a late joiner may start in a group without a move).
    const at = v?.location ?? null;
    const here = at != null ? (v.groups.find((g) => g.id === at)?.name || `group ${at}`) : 'the main room';
    if (!v) {
      status.textContent = teacher ? 'No breakout groups. Create them below.' : 'No breakout groups now: you are in the main room.';
    } else if (v.phase === 'planning') {
      const mine = v.groups.find((g) => g.id === v.assigned);
      status.textContent = teacher
        ? `Round ${v.round}: groups planned, not started.`
        : mine ? `Groups start soon: you are in ${mine.name}.` : 'Groups start soon: you are not in a group yet.';
    } else {
      status.textContent = teacher && at == null
        ? `Round ${v.round}: groups are meeting. You are in the main room.`
        : `You are in ${here}.`;
    }
    if (v?.phase !== phase) {
      if (v?.phase === 'recalling') say(`Everyone goes back to the main room in ${clock(v.recallInMs)}.`);
      if (v?.phase === 'running' && phase === 'planning') say('The groups have started.');
      phase = v?.phase ?? null;
    }
    document.body.dataset.breakout = at != null ? String(at) : '';
    renderChoose(v);
    if (teacher) {
      form.el.hidden = !!v;
      renderControls(v);
      renderPlan(v);
    }
    tick();
  }

  function tick() {
    const v = store.view.breakouts;
    const remaining = v ? left(v.remainingMs, receivedAt) : null;
    timer.hidden = remaining == null || v.phase === 'planning';
    if (!timer.hidden) timer.textContent = `Time left in the groups: ${clock(remaining)}`;
    const back = v ? left(v.recallInMs, receivedAt) : null;
    recall.hidden = back == null;
    if (!recall.hidden) recall.textContent = `Back to the main room in ${clock(back)}`;
  }

  function renderChoose(v) {
    const open = !teacher && role === 'student' && v && v.assignment === 'choose' && v.phase !== 'recalling';
    choose.hidden = !open;
    if (!open) return;
    const buttons = v.groups.map((g) => {
      const mine = v.assigned === g.id;
      const b = h('button', { type: 'button', 'aria-pressed': String(mine), 'data-testid': `breakout-choose-${g.id}` },
        `${g.name} (${g.members.length})`);
      b.addEventListener('click', () => send({ type: 'chooseBreakout', group: mine ? null : g.id }));
      return h('li', {}, b);
    });
    choose.replaceChildren(h('legend', {}, 'Choose your group'), h('ul', { class: 'plain' }, ...buttons));
  }

  function renderControls(v) {
    const buttons = [];
    const button = (label, testid, msg, cls = '') => {
      const b = h('button', { type: 'button', class: cls, 'data-testid': testid }, label);
      b.addEventListener('click', () => send(msg));
      buttons.push(b);
    };
    if (v?.phase === 'planning') {
      button('Start the groups', 'breakout-start', { type: 'startBreakouts' }, 'primary');
      button('Discard', 'breakout-discard', { type: 'recallBreakouts' });
    }
    if (v && v.phase !== 'planning') {
      button(`Recall everyone (${v.recallSecs} s)`, 'breakout-recall-all', { type: 'recallBreakouts' }, 'danger');
      button('Back now', 'breakout-recall-now', { type: 'recallBreakouts', recallSecs: 0 });
      if (v.location != null) button('Return to the main room', 'breakout-return', { type: 'visitBreakout', group: null });
    }
    if (v) {
      const where = h('select', { id: 'breakout-classroom', 'data-testid': 'breakout-classroom' },
        h('option', { value: '' }, 'Main room'), ...v.groups.map((g) => h('option', { value: g.id }, g.name)));
      where.value = v.classroom == null ? '' : String(v.classroom);
      where.addEventListener('change', () => send({ type: 'moveClassroom', group: where.value ? Number(where.value) : null }));
      buttons.push(h('div', { class: 'field' }, h('label', { for: 'breakout-classroom' }, 'The classroom (box and room display) is in'), where));
    }
    controls.replaceChildren(...buttons);
  }

  /** A select that moves one student. */
  function mover(v, id) {
    const selectId = `breakout-move-${id}`;
    const s = h('select', { id: selectId, 'data-testid': selectId },
      h('option', { value: '' }, 'Main room'), ...v.groups.map((g) => h('option', { value: g.id }, g.name)));
    const current = v.groups.find((g) => g.members.includes(id));
    s.value = current ? String(current.id) : '';
    s.addEventListener('change', () => send({ type: 'assignBreakout', participantId: id, group: s.value ? Number(s.value) : null }));
    return h('li', { 'data-participant-id': id },
      h('label', { for: selectId }, nameOf(id)), s);
  }

  function renderPlan(v) {
    if (!v) {
      plan.replaceChildren();
      return;
    }
    const cards = v.groups.map((g) => {
      const visit = h('button', { type: 'button', 'data-testid': `breakout-visit-${g.id}`, disabled: v.phase === 'planning' || v.location === g.id },
        `Visit ${g.name}`);
      visit.addEventListener('click', () => send({ type: 'visitBreakout', group: g.id }));
      const visitors = g.visitors.length ? h('p', { class: 'help' }, `Visiting: ${g.visitors.map(nameOf).join(', ')}`) : '';
      return h('section', { class: 'breakout-group', 'aria-label': g.name, 'data-testid': `breakout-group-${g.id}` },
        h('h3', {}, `${g.name} (${g.members.length})`), visitors,
        h('ul', { class: 'plain' }, ...g.members.map((id) => mover(v, id))), visit);
    });
    const rest = v.unassigned.length
      ? h('section', { class: 'breakout-group', 'aria-label': 'Not in a group', 'data-testid': 'breakout-unassigned' },
        h('h3', {}, `Not in a group (${v.unassigned.length})`), h('ul', { class: 'plain' }, ...v.unassigned.map((id) => mover(v, id))))
      : '';
    plan.replaceChildren(...cards, rest);
  }

  store.on('breakouts', () => { receivedAt = performance.now(); render(); });
  store.on('space', () => {
    const space = store.view.space;
    const text = space?.group != null ? `You are now in ${space.name}.` : 'You are back in the main room.';
    say(text);
    toast(text);
    render();
    onMoved(space);
  });
  store.on('broadcast', (m) => {
    const item = h('li', { 'data-testid': 'breakout-broadcast' }, h('span', { class: 'from' }, `${m.fromName}: `));
    item.append(document.createTextNode(m.text)); // plain text, always
    log.append(item);
    toast(`To all groups from ${m.fromName}: ${m.text}`);
  });
  setInterval(tick, TICK_MS);
  render();
  return { render };
}

/** The teacher's "create groups" form. */
function createForm(send) {
  const count = h('input', { id: 'breakout-count', type: 'number', min: 1, max: 50, value: 3, required: true, 'data-testid': 'breakout-count' });
  const assignment = h('select', { id: 'breakout-assignment', 'data-testid': 'breakout-assignment' },
    h('option', { value: 'random' }, 'At random'),
    h('option', { value: 'manual' }, 'By hand'),
    h('option', { value: 'choose' }, 'Students choose'));
  const minutes = h('input', { id: 'breakout-minutes', type: 'number', min: 0, max: 240, step: 'any', value: 10, 'data-testid': 'breakout-minutes', 'aria-describedby': 'breakout-minutes-help' });
  const recallSecs = h('input', { id: 'breakout-recall-secs', type: 'number', min: 0, max: 300, value: 15, 'data-testid': 'breakout-recall-secs' });
  const el = h('form', { class: 'breakout-create', 'data-testid': 'breakout-create' },
    h('div', { class: 'field' }, h('label', { for: 'breakout-count' }, 'Number of groups'), count),
    h('div', { class: 'field' }, h('label', { for: 'breakout-assignment' }, 'Put students in groups'), assignment),
    h('div', { class: 'field' }, h('label', { for: 'breakout-minutes' }, 'Timer (minutes)'), minutes,
      h('p', { id: 'breakout-minutes-help', class: 'help' }, '0: no timer. When it ends, everyone is called back.')),
    h('div', { class: 'field' }, h('label', { for: 'breakout-recall-secs' }, 'Recall countdown (seconds)'), recallSecs),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'breakout-create-submit' }, 'Create groups'));
  el.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const secs = Math.round(Number(minutes.value || 0) * 60);
    const msg = { type: 'createBreakouts', groups: Number(count.value), assignment: assignment.value, recallSecs: Number(recallSecs.value || 0) };
    if (secs > 0) msg.durationSecs = secs;
    send(msg);
  });
  return { el };
}

/** The teacher's message to every group. */
function broadcastComposer(send) {
  const text = h('textarea', { id: 'breakout-broadcast-text', rows: 2, maxlength: 500, 'data-testid': 'breakout-broadcast-text' });
  const form = h('form', { class: 'breakout-broadcast-form' },
    h('label', { for: 'breakout-broadcast-text' }, 'Message to all groups'), text,
    h('button', { type: 'submit', 'data-testid': 'breakout-broadcast-send' }, 'Send to all groups'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = text.value.trim();
    if (body && send({ type: 'broadcastBreakouts', text: body })) text.value = '';
  });
  return form;
}
