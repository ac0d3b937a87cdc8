// Everything on the join page the user sees: the room feed, participant tiles, own preview,
// controls, status line and notices. No networking here; app.js calls in and passes handlers.

import { PAUSED_TEXT } from './quality.js';

/** Create an element: h('div', { class: 'x', 'aria-label': 'y' }, child, 'text'). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) el.append(c);
  return el;
}

const byId = (id) => document.getElementById(id);

/**
 * Plays `track` (or nothing) in the video element `el`, but not before the page's `load` event:
 * a video element given a stream holds that event until its first frame, and a track that never
 * carries one (an audio-only participant's camera m-line) would hold it for good. The room's media
 * may arrive before the app's modules have all run (boot.js); `isCurrent()` says whether `track`
 * is still the one to show when the page gets there.
 */
function playVideo(el, track, isCurrent) {
  const attach = () => {
    if (!isCurrent()) return;
    el.srcObject = track ? new MediaStream([track]) : null;
    if (track) el.play().catch(() => { /* muted autoplay is allowed; retried on next frame */ });
  };
  if (!track || document.readyState === 'complete') attach();
  else window.addEventListener('load', attach, { once: true });
}

/**
 * A copy of the inline SVG icon drawn on one of join.html's buttons (`#hand`, `#swap`, ...): labels
 * made here reuse the page's icons instead of an emoji, which a browser without an emoji font shows
 * as an empty box.
 */
export function pageIcon(buttonId) {
  const svg = document.querySelector(`#${buttonId} svg.icon`);
  return svg ? svg.cloneNode(true) : document.createTextNode('');
}

function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).slice(0, 2);
  return parts.map((p) => p[0] || '').join('').toUpperCase() || '?';
}

/** One remote participant's tile: video (or placeholder), name, mic state. */
class Tile {
  constructor(info) {
    this.info = { ...info };
    this.videoTrack = null;
    this.video = h('video', { autoplay: true, playsinline: true, muted: true });
    this.video.muted = true; // the property, not just the attribute, decides autoplay
    this.video.playsInline = true;
    this.placeholder = h('div', { class: 'placeholder', 'aria-hidden': 'true' });
    this.micOff = h('span', { class: 'badge mic-off', hidden: true }, 'muted');
    this.hand = h('span', { class: 'badge hand', hidden: true, title: 'Hand raised' },
      pageIcon('hand'), h('span', { class: 'visually-hidden' }, 'hand raised'));
    this.nameEl = h('span', { class: 'name' });
    this.caption = h('figcaption', {}, this.nameEl, this.hand, this.micOff);
    // The hub paused this video for our connection (quality.js).
    this.pausedNote = h('p', { class: 'paused-note', hidden: true, 'data-testid': 'video-paused' }, PAUSED_TEXT);
    this.el = h('figure', { class: 'tile' }, this.video, this.placeholder, this.pausedNote, this.caption);
    this.update(info);
  }

  update(info) {
    Object.assign(this.info, info);
    const { id, name, role } = this.info;
    const label = role === 'device' ? `Classroom${name ? ` (${name})` : ''}` : name || `Participant ${id}`;
    for (const el of [this.el, this.video]) {
      el.dataset.participantId = String(id);
      el.dataset.role = role || '';
    }
    this.nameEl.textContent = label;
    this.video.setAttribute('aria-label', `Video of ${label}`);
    this.render();
  }

  setVideoTrack(track) {
    if (track === this.videoTrack) return;
    this.videoTrack = track;
    playVideo(this.video, track, () => this.videoTrack === track);
    this.render();
  }

  setMuted(kind, muted) {
    if (kind === 'audio') this.info.audioMuted = muted;
    if (kind === 'video') this.info.videoMuted = muted;
    this.render();
  }

  render() {
    const { role, name, videoMuted } = this.info;
    const videoOff = !this.videoTrack || videoMuted;
    this.el.classList.toggle('video-off', videoOff);
    if (role === 'device') {
      this.placeholder.textContent = videoMuted ? 'The classroom camera is off' : 'Waiting for the classroom video…';
    } else {
      this.placeholder.textContent = initials(name);
    }
    this.micOff.hidden = !this.info.audioMuted;
  }

  setHand(raised) {
    this.hand.hidden = !raised;
  }

  setPaused(paused) {
    this.pausedNote.hidden = !paused;
    this.el.classList.toggle('video-paused', paused);
  }
}

export class Ui {
  constructor() {
    this.stage = byId('stage');
    this.stageEmpty = byId('stage-empty');
    this.others = byId('others');
    this.audioBox = byId('audio-sinks');
    this.status = byId('status');
    this.notices = byId('notices');
    this.selfVideo = byId('self-video');
    this.selfBox = byId('self');
    this.micBtn = byId('mic');
    this.camBtn = byId('cam');
    this.leaveBtn = byId('leave');
    this.soundBtn = byId('enable-sound');
    this.rejoinBtn = byId('rejoin');
    this.roomName = byId('room-name');
    this.spotlightBox = byId('spotlight');
    this.screenBox = byId('screen');
    this.screenVideo = byId('screen-video');
    this.screenCaption = byId('screen-caption');
    this.view = byId('view');
    this.swapBtn = byId('swap');
    this.roomLarge = false; // the student swapped: the room camera large, the slides as the tile
    this.screenWhat = 'the slides'; // what the swap button calls the shared picture
    this.spotlightId = null;
    this.screenTrack = null;
    this.tiles = new Map(); // participantId -> Tile
    this.audios = new Map(); // mid -> { el, track, participantId }
    this.soundBtn.addEventListener('click', () => this.unlockSound());
    this.swapBtn.addEventListener('click', () => {
      this.roomLarge = !this.roomLarge;
      this.layout();
    });
    fitToWindow(byId('status').closest('.bar'), byId('controls'));
  }

  setRoom(room) {
    this.roomName.textContent = room;
    document.title = `${room} · Lectern`;
  }

  /** kind: connecting | connected | reconnecting | failed | left; text: what the user reads. */
  setStatus(kind, text) {
    this.status.dataset.state = kind;
    this.status.textContent = text;
  }

  /**
   * A notice that stays until dismissed (e.g. camera denied). `action` ({ label, run, testid }) adds a
   * button that runs and dismisses the notice.
   */
  notice(text, key = text, action = null) {
    if ([...this.notices.children].some((n) => n.dataset.key === key)) return;
    const close = h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss this notice' }, '\u00D7');
    const item = h('div', { class: 'notice', role: 'status', 'data-testid': `notice-${key}` }, h('p', {}, text));
    if (action) {
      const act = h('button', { type: 'button', class: 'primary', 'data-testid': action.testid || null }, action.label);
      act.addEventListener('click', () => { item.remove(); action.run(); });
      item.append(act);
    }
    item.append(close);
    item.dataset.key = key;
    close.addEventListener('click', () => item.remove());
    this.notices.append(item);
    return item;
  }

  clearNotice(key) {
    for (const n of [...this.notices.children]) if (n.dataset.key === key) n.remove();
  }

  // ---- participants ----

  upsertParticipant(info) {
    let tile = this.tiles.get(info.id);
    if (!tile) {
      tile = new Tile(info);
      this.tiles.set(info.id, tile);
    } else {
      tile.update(info);
    }
    this.place(tile);
    return tile;
  }

  removeParticipant(id) {
    const tile = this.tiles.get(id);
    if (tile) {
      tile.setVideoTrack(null);
      tile.el.remove();
      this.tiles.delete(id);
    }
    for (const [mid, a] of this.audios) if (a.participantId === id) this.dropAudio(mid);
    this.refreshStage();
  }

  setMuted(id, kind, muted) {
    this.tiles.get(id)?.setMuted(kind, muted);
  }

  /**
   * The spotlighted participant goes large above everything; the room feed (role "device") on the
   * stage; everyone else into the tile row.
   */
  place(tile) {
    const parent = tile.info.id === this.spotlightId ? this.spotlightBox
      : tile.info.role === 'device' ? this.stage : this.others;
    if (tile.el.parentElement !== parent) parent.append(tile.el);
    this.refreshStage();
  }

  /** `id` (or null) is shown large (our own spotlight shows in our preview's caption instead). */
  setSpotlight(id) {
    this.spotlightId = id;
    for (const tile of this.tiles.values()) this.place(tile);
    this.refreshStage();
  }

  /** Hand badges on tiles (teachers and the room display know whose hands are up). */
  setHands(ids) {
    for (const [id, tile] of this.tiles) tile.setHand(ids.has(id));
  }

  /** A shared screen, shown above the room feed; null when nobody shares. */
  setScreen(share) {
    const track = share ? share.track : null;
    if (track !== this.screenTrack) {
      this.screenTrack = track;
      playVideo(this.screenVideo, track, () => this.screenTrack === track);
    }
    this.screenBox.hidden = !track;
    if (share) {
      const info = this.tiles.get(share.participantId)?.info;
      const who = info?.name;
      // A classroom box's share is the teacher's laptop plugged into it, not someone's screen.
      const fromRoom = info?.role === 'device';
      this.screenCaption.textContent = fromRoom ? `Slides from ${who || 'the classroom'}`
        : who ? `${who}'s screen` : 'Shared screen';
      this.screenVideo.setAttribute('aria-label', this.screenCaption.textContent);
      this.screenWhat = fromRoom ? 'the slides' : 'the shared screen';
    }
    this.layout();
  }

  /**
   * Slides and room camera both on screen: one is shown large and the other as a tile beside or
   * below it (style.css places them by `data-layout` and `data-primary`); the swap button trades them.
   */
  layout() {
    const roomShown = [...this.stage.querySelectorAll('.tile')].some((t) => !t.hidden);
    const pair = !this.screenBox.hidden && roomShown;
    this.view.dataset.layout = pair ? 'pair' : 'single';
    this.view.dataset.primary = pair && this.roomLarge ? 'room' : 'screen';
    this.swapBtn.hidden = !pair;
    const label = this.roomLarge ? `Show ${this.screenWhat} large` : 'Show the room camera large';
    this.swapBtn.querySelector('.label').textContent = label;
    this.swapBtn.title = label;
  }

  /**
   * A classroom box may join twice (WHIP to publish, WHEP for the return feed): show the device
   * tiles that carry video, or the first device tile as a placeholder when none does yet.
   */
  refreshStage() {
    const devices = [...this.tiles.values()].filter((t) => t.info.role === 'device' && t.el.parentElement === this.stage);
    const withVideo = devices.filter((t) => t.videoTrack);
    for (const t of devices) t.el.hidden = withVideo.length ? !t.videoTrack : t !== devices[0];
    this.stageEmpty.hidden = devices.length > 0;
    this.others.hidden = this.others.children.length === 0;
    this.spotlightBox.hidden = !this.spotlightBox.querySelector('.tile');
    this.layout();
  }

  /** The complete set of live remote tracks after a negotiation. */
  setTracks(tracks) {
    const videoByPid = new Map();
    const liveAudio = new Map();
    let screen = null;
    for (const t of tracks) {
      if (t.kind === 'video' && t.screen) screen = t;
      else if (t.kind === 'video') videoByPid.set(t.participantId, t.track);
      else if (t.kind === 'audio') liveAudio.set(t.mid, t);
    }
    for (const [pid, track] of videoByPid) {
      const tile = this.tiles.get(pid) || this.upsertParticipant({ id: pid, name: '', role: '' });
      tile.setVideoTrack(track);
    }
    for (const [pid, tile] of this.tiles) if (!videoByPid.has(pid)) tile.setVideoTrack(null);
    this.setScreen(screen);
    this.refreshStage();
    for (const [mid, a] of this.audios) {
      const live = liveAudio.get(mid);
      if (!live || live.track !== a.track) this.dropAudio(mid);
    }
    for (const [mid, t] of liveAudio) if (!this.audios.has(mid)) this.addAudio(mid, t);
  }

  addAudio(mid, { track, participantId }) {
    const el = h('audio', { autoplay: true });
    el.dataset.participantId = String(participantId);
    el.srcObject = new MediaStream([track]);
    this.audios.set(mid, { el, track, participantId });
    this.audioBox.append(el);
    el.play().catch((err) => {
      if (err && err.name === 'NotAllowedError') this.soundBtn.hidden = false;
    });
  }

  dropAudio(mid) {
    const a = this.audios.get(mid);
    if (!a) return;
    a.el.srcObject = null;
    a.el.remove();
    this.audios.delete(mid);
  }

  unlockSound() {
    for (const { el } of this.audios.values()) el.play().catch(() => {});
    for (const t of this.tiles.values()) t.video.play().catch(() => {});
    if (this.screenTrack) this.screenVideo.play().catch(() => {});
    this.soundBtn.hidden = true;
  }

  /** Forget every remote participant and track (before a reconnect rebuilds them). */
  clearRemote() {
    for (const id of [...this.tiles.keys()]) this.removeParticipant(id);
    for (const mid of [...this.audios.keys()]) this.dropAudio(mid);
    this.setScreen(null);
    this.setSpotlight(null);
  }

  // ---- local side ----

  setLocalPreview(stream) {
    this.selfVideo.muted = true;
    this.selfVideo.srcObject = stream && stream.getVideoTracks().length ? stream : null;
    this.selfBox.classList.toggle('video-off', !this.selfVideo.srcObject);
    if (this.selfVideo.srcObject) this.selfVideo.play().catch(() => {});
  }

  /** Show or hide the publishing controls (a viewer has none). */
  setCanPublish(can) {
    this.selfBox.hidden = !can;
    this.micBtn.hidden = !can;
    this.camBtn.hidden = !can;
  }

  /** available: a track exists; muted: the user switched it off. */
  setControl(kind, { available, muted }) {
    const btn = kind === 'audio' ? this.micBtn : this.camBtn;
    const what = kind === 'audio' ? 'Microphone' : 'Camera';
    btn.disabled = !available;
    btn.setAttribute('aria-pressed', String(available && !muted));
    btn.querySelector('.label').textContent = !available ? `${what} unavailable` : muted ? `${what} off` : `${what} on`;
    btn.title = !available ? `${what} unavailable` : muted ? `Turn ${what.toLowerCase()} on` : `Turn ${what.toLowerCase()} off`;
    if (kind === 'video') this.selfBox.classList.toggle('video-off', !available || muted);
  }

  onControls({ toggleMic, toggleCam, leave, rejoin }) {
    this.micBtn.addEventListener('click', toggleMic);
    this.camBtn.addEventListener('click', toggleCam);
    this.leaveBtn.addEventListener('click', leave);
    this.rejoinBtn.addEventListener('click', rejoin);
  }

  setInCall(inCall) {
    this.leaveBtn.hidden = !inCall;
    this.rejoinBtn.hidden = inCall;
  }
}

/**
 * Keep `--bar-h` and `--controls-h` (style.css) equal to the header's and the fixed controls' heights,
 * which change as they wrap: the room's pictures are sized to the window between them.
 */
function fitToWindow(bar, controls) {
  const root = document.documentElement.style;
  const fit = () => {
    root.setProperty('--bar-h', `${bar.offsetHeight}px`);
    root.setProperty('--controls-h', `${controls.offsetHeight}px`);
  };
  const watch = new ResizeObserver(fit);
  watch.observe(bar);
  watch.observe(controls);
}

/**
 * Replace a list's children without dropping keyboard focus: a panel that re-renders on every event
 * must not throw the user back to the top of the page. Focus returns to the same control of the
 * same row, else the row's first button, else the first button of the list.
 */
export function replaceKeepingFocus(container, children) {
  const active = document.activeElement;
  if (!active || !container.contains(active)) {
    container.replaceChildren(...children);
    return;
  }
  const row = active.closest('[data-participant-id], [data-message-id]');
  const rowKey = row && (row.dataset.participantId ? `[data-participant-id="${row.dataset.participantId}"]` : `[data-message-id="${row.dataset.messageId}"]`);
  const testid = active.dataset.testid;
  container.replaceChildren(...children);
  const newRow = rowKey && container.querySelector(rowKey);
  const target = (newRow && testid && newRow.querySelector(`[data-testid="${testid}"]`))
    || (newRow && newRow.querySelector('button'))
    || container.querySelector('button');
  if (target) target.focus();
}
