// The lesson page's player: every recorded stream of a lesson (camera, slides, participants' files)
// on one timeline. Each stream is a track of files placed by their `startedAt` (a file without one
// follows the one before, the first at the lesson's start); split files chain into one continuous
// track and a gap between files shows as a gap. One clock drives all: the camera while it plays,
// else the page's own clock; every other element is kept within SYNC_S of it. Seeking any
// element (its own controls) or the shared slider moves them all.

const SYNC_S = 0.25; // how far an element may drift from the clock before it is moved back
const TICK_MS = 200;

/** A lesson's files as tracks: [{ key, kind, segments: [{ start, end, url, name }] }], times in ms from the lesson's start. */
export function tracksOf(lesson) {
  const byKey = new Map();
  for (const f of lesson.files) {
    if (!f.url) continue; // not ready yet
    if (!byKey.has(f.track)) byKey.set(f.track, { key: f.track, kind: f.kind, segments: [] });
    const t = byKey.get(f.track);
    const prev = t.segments[t.segments.length - 1];
    // A file begun before the lesson's own start (clocks differ by a little) starts before zero:
    // its first moments are skipped, not shifted.
    const start = f.startedAt != null ? f.startedAt - lesson.startedAt : (prev ? prev.end : 0);
    const duration = f.durationMs ?? 0;
    t.segments.push({ start, end: start + duration, url: f.url, name: f.name });
  }
  const rank = (k) => (k === 'camera' ? 0 : k === 'slides' ? 1 : 2);
  return [...byKey.values()].sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key));
}

/** The segment of `track` playing at `t` ms, or null in a gap. */
export function segmentAt(track, t) {
  return track.segments.find((s) => t >= s.start && t < s.end) || null;
}

/** The lesson's length on its timeline: its end, or the last file's if that is later. */
export function lengthOf(lesson, tracks) {
  const ended = lesson.endedAt != null ? lesson.endedAt - lesson.startedAt : 0;
  return Math.max(ended, ...tracks.flatMap((t) => t.segments.map((s) => s.end)), 0);
}

export class LessonPlayer {
  /** `tiles`: [{ track, el (a <video> or <audio>), gap (an element shown in a gap) }]. */
  constructor({ tiles, length, slider, timeLabel, playButton }) {
    this.tiles = tiles;
    this.length = length;
    this.slider = slider;
    this.timeLabel = timeLabel;
    this.playButton = playButton;
    this.playing = false;
    this.base = 0; // timeline ms at `wallAt`
    this.wallAt = performance.now();
    for (const tile of tiles) this.wire(tile);
    slider.max = String(Math.max(1, Math.round(length / 1000)));
    slider.addEventListener('input', () => this.seek(Number(slider.value) * 1000));
    playButton.addEventListener('click', () => (this.playing ? this.pause() : this.play()));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.seek(0);
  }

  /** Where the lesson is, in ms from its start. */
  position() {
    const t = this.playing ? this.base + (performance.now() - this.wallAt) : this.base;
    return Math.min(Math.max(0, t), this.length);
  }

  setPosition(t) {
    this.base = Math.min(Math.max(0, t), this.length);
    this.wallAt = performance.now();
  }

  play() {
    if (this.position() >= this.length) this.setPosition(0);
    this.setPosition(this.position());
    this.playing = true;
    this.tick();
  }

  pause() {
    this.setPosition(this.position());
    this.playing = false;
    this.tick();
  }

  seek(t) {
    this.setPosition(t);
    for (const tile of this.tiles) tile.forceSeek = true;
    this.tick();
  }

  wire(tile) {
    const { el } = tile;
    tile.ours = 0; // seeks this player made and has not seen land yet
    tile.quietUntil = 0;
    el.addEventListener('seeking', () => {
      if (tile.ours > 0) return;
      // The person moved this element's own slider: the lesson goes there.
      if (tile.segment) this.seek(tile.segment.start + el.currentTime * 1000);
    });
    el.addEventListener('seeked', () => { if (tile.ours > 0) tile.ours -= 1; });
    // A person's play or pause on one element plays or pauses the lesson; the player's own (a new
    // file loaded, a gap) come back as events a moment later and are let pass.
    const quiet = () => performance.now() < tile.quietUntil;
    el.addEventListener('play', () => { if (!this.playing && !quiet()) this.play(); });
    el.addEventListener('pause', () => { if (this.playing && !quiet() && !el.ended && tile.segment) this.pause(); });
  }

  /** The element the clock follows: the first track (camera first) playing now, if any. */
  master() {
    return this.tiles.find((t) => t.segment && !t.el.paused && !t.el.seeking && t.el.readyState >= 3 && t.ours === 0) || null;
  }

  tick() {
    if (this.playing) {
      const m = this.master();
      if (m) this.setPosition(m.segment.start + m.el.currentTime * 1000);
    }
    let t = this.position();
    if (this.playing && t >= this.length) {
      this.playing = false;
      t = this.length;
    }
    for (const tile of this.tiles) this.follow(tile, t);
    this.slider.value = String(Math.round(t / 1000));
    this.timeLabel.textContent = `${clock(t)} / ${clock(this.length)}`;
    this.playButton.textContent = this.playing ? 'Pause' : 'Play';
    this.playButton.setAttribute('aria-pressed', String(this.playing));
  }

  follow(tile, t) {
    const { el } = tile;
    const seg = segmentAt(tile.track, t);
    if (!el.seeking) tile.ours = 0; // every seek of ours has landed
    {
      if (seg !== tile.segment) {
        tile.segment = seg;
        tile.forceSeek = true;
        tile.quietUntil = performance.now() + 1000;
        if (seg) {
          el.src = seg.url;
          el.dataset.offset = String(seg.start / 1000);
        } else {
          el.pause();
          el.removeAttribute('src');
        }
      }
      el.hidden = !seg;
      if (tile.gap) tile.gap.hidden = Boolean(seg);
      if (!seg) return;
      const want = (t - seg.start) / 1000;
      const drift = Math.abs(el.currentTime - want);
      if ((tile.forceSeek || drift > SYNC_S) && el.readyState >= 1 && !el.seeking) {
        tile.ours += 1;
        el.currentTime = want;
        tile.forceSeek = false;
      }
      if (this.playing && el.paused) el.play().catch(() => {});
      if (!this.playing && !el.paused) {
        tile.quietUntil = performance.now() + 300;
        el.pause();
      }
    }
  }
}

/** m:ss or h:mm:ss. */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
