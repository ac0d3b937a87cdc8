// What stands between a link and the lesson: a guest's name and the room passcode, the lobby's
// waiting screen, and the final screens (denied, removed, lesson ended) after which the page does not
// reconnect.

const DENIED = {
  deniedByTeacher: 'The teacher did not let you in to this lesson.',
  blocked: 'You cannot join this lesson again: you were removed from it or turned away earlier.',
  roomLocked: 'The teacher has locked the room, so nobody new can come in. Ask them to unlock it, then try again.',
  lobbyFull: 'Too many people are waiting to join right now. Try again in a few minutes.',
  lessonEnded: 'This lesson has already ended.',
  notAParticipant: 'This link is not for taking part in lessons.',
  wrongPasscode: 'This lesson needs the passcode the teacher gave out.',
};
const RETRY_REASONS = new Set(['roomLocked', 'lobbyFull']);

/**
 * Shows the guest form until a name is given; resolves with { name, passcode } (passcode '' when
 * left empty). `wrongPasscode`: the hub refused the last one, so the form says so and requires it.
 * The passcode is kept only in memory: it is the teacher's, not this browser's, to remember.
 */
export function askGuest({ wrongPasscode = false } = {}) {
  const section = document.getElementById('guest-entry');
  const form = document.getElementById('guest-form');
  const nameInput = document.getElementById('guest-name');
  const passInput = document.getElementById('guest-passcode');
  const error = document.getElementById('guest-error');
  const fail = (input, text) => {
    error.textContent = text;
    error.hidden = false;
    for (const i of [nameInput, passInput]) {
      if (i === input) i.setAttribute('aria-invalid', 'true');
      else i.removeAttribute('aria-invalid');
    }
    input.focus();
  };
  document.getElementById('call').hidden = true;
  section.hidden = false;
  nameInput.value = nameInput.value || sessionStorage.getItem('lectern.guestName') || '';
  passInput.value = '';
  if (wrongPasscode) {
    fail(passInput, 'Wrong passcode, try again.');
  } else {
    error.hidden = true;
    nameInput.focus();
  }
  return new Promise((resolve) => {
    form.addEventListener('submit', function onSubmit(ev) {
      ev.preventDefault();
      const name = nameInput.value.trim().replace(/\s+/g, ' ');
      const passcode = passInput.value.trim();
      if (!name) {
        fail(nameInput, 'Enter your name so the teacher knows who is asking to join.');
        return;
      }
      if (wrongPasscode && !passcode) {
        fail(passInput, 'Enter the room passcode the teacher gave you.');
        return;
      }
      form.removeEventListener('submit', onSubmit);
      sessionStorage.setItem('lectern.guestName', name);
      error.hidden = true;
      for (const i of [nameInput, passInput]) i.removeAttribute('aria-invalid');
      section.hidden = true;
      document.getElementById('call').hidden = false;
      resolve({ name, passcode });
    });
  });
}

/** The full-page message in place of the lesson. */
export class Gate {
  constructor({ onLeave }) {
    this.el = document.getElementById('gate');
    this.title = document.getElementById('gate-title');
    this.text = document.getElementById('gate-text');
    this.extra = document.getElementById('gate-extra');
    this.leaveBtn = document.getElementById('gate-leave');
    this.retryBtn = document.getElementById('gate-retry');
    this.call = document.getElementById('call');
    this.kind = null;
    this.leaveBtn.addEventListener('click', onLeave);
    this.retryBtn.addEventListener('click', () => window.location.reload());
  }

  show(kind, title, text, extra = '') {
    const first = this.kind !== kind;
    this.kind = kind;
    this.el.dataset.kind = kind;
    this.title.textContent = title;
    this.text.textContent = text;
    this.extra.textContent = extra;
    this.extra.hidden = !extra;
    this.el.hidden = false;
    this.call.hidden = true;
    this.leaveBtn.hidden = kind !== 'waiting';
    this.retryBtn.hidden = true;
    if (first) this.title.focus();
  }

  waiting(position) {
    const where = position === 1 ? 'You are next in line.' : position ? `You are number ${position} in line.` : '';
    this.show('waiting', 'Waiting to be let in', 'The teacher will let you in soon. Keep this page open.', where);
  }

  /** Final: denied (with reason), removed or ended. */
  final(kind, reason) {
    if (kind === 'denied') {
      this.show('denied', 'You cannot join this lesson', DENIED[reason] || 'The hub did not let you in.');
      this.retryBtn.hidden = !RETRY_REASONS.has(reason);
    } else if (kind === 'removed') {
      this.show('removed', 'You were removed from the lesson', 'A teacher removed you. You cannot rejoin this lesson with the same link.');
    } else {
      this.show('ended', 'The lesson has ended', 'Thank you for joining. You can close this page.');
    }
  }

  hide() {
    this.kind = null;
    this.el.hidden = true;
    this.call.hidden = false;
  }
}
