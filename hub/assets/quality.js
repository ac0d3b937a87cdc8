// The student's connection quality as the hub's bandwidth allocation sees it (issue 16), from the
// hub's `{"type":"quality","level":"good"|"reduced"|"audioOnly","estimateKbps":n,"paused":[mids]}`:
// an indicator in the header (text and bars, never colour alone), "video paused: your connection
// is too slow" on the tiles whose video the hub paused, and a "my connection is poor: audio only"
// toggle that sends `{"type":"setAudioOnly","audioOnly":true|false}`.
// The hub sends `quality` only when the level changes, so a student on a good link never hears
// one: the indicator ("good") and the toggle show as soon as the subscribe connection is up, and
// the hub's messages take over from there.

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
    this.mediaUp = false; // the subscribe connection is connected
    this.last = null; // the hub's latest `quality`, described
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
    this.last = q;
    this.render();
  }

  /** The subscribe connection came up (or went away): the indicator and the toggle show while it is up. */
  setMediaUp(up) {
    if (up === this.mediaUp) return;
    this.mediaUp = up;
    this.render();
  }

  /** Joined (or resumed) on a new socket: a hub that starts afresh hears the user's choice again. */
  joined() {
    if (this.audioOnly) this.send({ type: 'setAudioOnly', audioOnly: true });
  }

  render() {
    // Until the hub says otherwise, the picture is what was asked for.
    const q = this.last || describeQuality({ level: 'good' }, []);
    const shown = this.mediaUp || this.last != null;
    this.indicator.hidden = !shown;
    this.toggle.hidden = !shown;
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

  /** A new session: what the last hub said no longer holds (shown as good while media is up). */
  reset() {
    this.last = null;
    this.render();
  }
}
