// The student's connection quality as the hub's bandwidth allocation sees it (issue 16), from the
// hub's `{"type":"quality","level":"good"|"reduced"|"audioOnly","estimateKbps":n,"paused":[mids]}`:
// an indicator in the header (text and bars, never colour alone), "video paused: your connection
// is too slow" on the tiles whose video the hub paused, and a "my connection is poor: audio only"
// toggle that sends `{"type":"setAudioOnly","audioOnly":true|false}`.
// Guarded: everything stays hidden until the hub sends a first `quality` message, so a hub without
// the feature never sees `setAudioOnly` (it would refuse an unknown message).

export const PAUSED_TEXT = 'video paused: your connection is too slow';
const LEVELS = {
  good: { text: 'Connection: good', bars: 3 },
  reduced: { text: 'Connection: reduced', bars: 2 },
  audioOnly: { text: 'Connection: audio only', bars: 1 },
};

/**
 * What a `quality` message means for the page, or null if it is malformed: { level, text, bars,
 * pausedParticipants: Set of participant ids whose video m-line is paused } (`tracks`: the latest
 * subscribe mapping, [{ mid, participantId, kind }]).
 */
export function describeQuality(msg, tracks) {
  if (!msg || !Object.hasOwn(LEVELS, msg.level)) return null;
  const kbps = Number.isFinite(msg.estimateKbps) && msg.estimateKbps >= 0 ? Math.round(msg.estimateKbps) : null;
  const paused = Array.isArray(msg.paused) ? new Set(msg.paused.map(String)) : new Set();
  const pausedParticipants = new Set((tracks || [])
    .filter((t) => t.kind === 'video' && paused.has(String(t.mid)))
    .map((t) => t.participantId));
  const { text, bars } = LEVELS[msg.level];
  return { level: msg.level, text: kbps == null ? text : `${text} (about ${kbps} kbit/s)`, bars, pausedParticipants };
}

export class Quality {
  /** `send(msg)` sends on the current socket; `ui` has tiles (participantId -> Tile with setPaused). */
  constructor({ send, ui, tracks }) {
    this.send = send;
    this.ui = ui;
    this.tracks = tracks;
    this.indicator = document.getElementById('quality');
    this.toggle = document.getElementById('audio-only');
    this.audioOnly = false; // the user's choice, kept across reconnects
    this.supported = false; // this session's hub sent `quality`
    this.last = null;
    this.toggle.addEventListener('click', () => {
      this.audioOnly = !this.audioOnly;
      this.renderToggle();
      this.send({ type: 'setAudioOnly', audioOnly: this.audioOnly });
    });
  }

  /** A `quality` message from the hub. */
  apply(msg) {
    const q = describeQuality(msg, this.tracks());
    if (!q) {
      console.warn('lectern: ignoring a malformed quality message');
      return;
    }
    if (!this.supported) {
      this.supported = true;
      this.toggle.hidden = false;
      // Chosen before a reconnect: the new session's hub hears it again.
      if (this.audioOnly) this.send({ type: 'setAudioOnly', audioOnly: true });
    }
    this.last = q;
    this.indicator.hidden = false;
    this.indicator.dataset.level = q.level;
    this.indicator.querySelector('.bars').textContent = '▮'.repeat(q.bars) + '▯'.repeat(3 - q.bars);
    this.indicator.querySelector('.text').textContent = q.text;
    this.renderPaused();
  }

  /** After every negotiation too: a paused mid may now map to another tile. */
  renderPaused() {
    const paused = this.last ? this.last.pausedParticipants : new Set();
    for (const [id, tile] of this.ui.tiles) tile.setPaused(paused.has(id));
  }

  renderToggle() {
    this.toggle.setAttribute('aria-pressed', String(this.audioOnly));
    this.toggle.querySelector('.label').textContent = this.audioOnly
      ? 'Audio only: on (tap to get video back)' : 'My connection is poor: audio only';
  }

  /** A new session: hidden until its hub says it supports this. */
  reset() {
    this.supported = false;
    this.last = null;
    this.indicator.hidden = true;
    this.toggle.hidden = true;
    this.renderPaused();
  }
}
