// Recording (issue 21): the red "Recording" badge every page shows while the lesson is recorded,
// announced to screen readers, and told to someone waiting in the lobby before they enter (the hub
// sends `recordingChanged` right after `waiting`). Teachers get a Start/Stop button beside it; the hub
// decides (the room's policy may forbid it) and answers with `recordingChanged`, so the page only
// ever shows what the hub says. State for tests: window.lectern.recording.

const BADGE_STYLE = 'display:inline-flex;align-items:center;gap:.35em;padding:.2em .6em;border-radius:1em;'
  + 'background:#b00020;color:#fff;font-weight:600;font-size:.9rem;';
const DOT_STYLE = 'width:.6em;height:.6em;border-radius:50%;background:#fff;display:inline-block;';

export class Recording {
  /** send: the signaling send; host: where the badge goes (the page header). */
  constructor({ send, host = document.querySelector('header') || document.body }) {
    this.send = send;
    this.on = false;
    this.teacher = false;
    this.box = document.createElement('span');
    this.box.className = 'recording';
    this.box.style.cssText = 'display:inline-flex;gap:.5em;align-items:center;';
    this.badge = document.createElement('span');
    this.badge.dataset.testid = 'recording-badge';
    this.badge.setAttribute('role', 'status');
    this.badge.style.cssText = BADGE_STYLE;
    this.badge.hidden = true;
    const dot = document.createElement('span');
    dot.setAttribute('aria-hidden', 'true');
    dot.style.cssText = DOT_STYLE;
    this.badge.append(dot, document.createTextNode('Recording'));
    this.badge.title = 'This lesson is being recorded';
    this.toggle = document.createElement('button');
    this.toggle.type = 'button';
    this.toggle.dataset.testid = 'recording-toggle';
    this.toggle.hidden = true;
    this.toggle.addEventListener('click', () => {
      this.toggle.disabled = true; // until the hub says (a refusal comes as an error)
      this.send({ type: 'setRecording', on: !this.on });
      setTimeout(() => { this.toggle.disabled = false; }, 3000);
    });
    this.box.append(this.badge, this.toggle);
    host.append(this.box);
    this.publish();
  }

  /** Looks at every hub message; true for the ones only this module handles. */
  observe(msg) {
    switch (msg && msg.type) {
      case 'joined':
        this.teacher = msg.role === 'teacher';
        this.render();
        return false;
      case 'state':
        if (typeof msg.recording === 'boolean') this.set(msg.recording, false);
        return false;
      case 'recordingChanged':
        this.set(!!msg.recording, true);
        return true;
      case 'lessonEnded':
        this.set(false, false);
        return false;
      default:
        return false;
    }
  }

  set(on, announce) {
    const changed = on !== this.on;
    this.on = on;
    this.render();
    if (changed && (announce || on)) {
      // The badge is a live region: saying it once is enough (a joiner hears it before entering).
      this.badge.setAttribute('aria-label', on ? 'This lesson is being recorded' : 'Recording stopped');
    }
  }

  render() {
    this.badge.hidden = !this.on;
    this.toggle.hidden = !this.teacher;
    this.toggle.disabled = false;
    this.toggle.textContent = this.on ? 'Stop recording' : 'Start recording';
    this.publish();
  }

  publish() {
    if (window.lectern) window.lectern.recording = this.on;
  }
}
