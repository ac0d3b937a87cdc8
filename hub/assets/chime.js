// "Chime on raised hand" for teachers and the room display: a short tone when a new hand joins the
// queue, so a teacher facing the board hears it. Made with the Web Audio API (no audio file to load).
// On by default for the room display, off for teachers (they may be on a call with headphones); the
// choice is remembered per role in localStorage.

import { h } from './ui.js';

const TONE_HZ = 880;
const TONE_S = 0.15;
const PEAK_GAIN = 0.2;

let audio = null; // one AudioContext per page: browsers limit how many may exist

/** Browsers start an AudioContext suspended until the user interacts; resuming on a gesture unlocks it. */
function audioContext() {
  if (!audio) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    audio = new Ctx();
  }
  if (audio.state === 'suspended') audio.resume().catch(() => { /* retried on the next gesture */ });
  return audio;
}

/** A soft ~150 ms sine ping (ramped in and out, so it does not click). */
function playTone() {
  const ctx = audioContext();
  if (!ctx) return;
  const t = ctx.currentTime;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = 'sine';
  osc.frequency.value = TONE_HZ;
  gain.gain.setValueAtTime(0.0001, t);
  gain.gain.exponentialRampToValueAtTime(PEAK_GAIN, t + 0.01);
  gain.gain.exponentialRampToValueAtTime(0.0001, t + TONE_S);
  osc.connect(gain).connect(ctx.destination);
  osc.start(t);
  osc.stop(t + TONE_S + 0.01);
}

/** The toggle (appended to `box`) and the listener; `store.view.chimes` counts chimes for tests. */
export function mountChime(box, { store, role }) {
  const key = `lectern.chime.${role}`;
  const saved = localStorage.getItem(key);
  const input = h('input', { type: 'checkbox', role: 'switch', id: 'chime-toggle', 'data-testid': 'chime-toggle' });
  input.checked = saved === null ? role === 'device' : saved === 'on';
  input.addEventListener('change', () => {
    localStorage.setItem(key, input.checked ? 'on' : 'off');
    if (input.checked) audioContext(); // this click is the gesture that lets sound play later
  });
  box.append(h('p', { class: 'chime' }, input, h('label', { for: 'chime-toggle' }, 'Chime on raised hand')));
  // A kiosk room display may never see its toggle clicked: any first interaction unlocks audio.
  const unlock = () => { if (input.checked) audioContext(); };
  window.addEventListener('pointerdown', unlock, { once: true });
  window.addEventListener('keydown', unlock, { once: true });

  let known = null; // ids in the queue at the last update; null until the first snapshot
  store.on('hands', () => {
    const ids = (store.view.hands || []).map((hand) => hand.participantId);
    const fresh = known ? ids.filter((id) => !known.has(id)) : [];
    known = new Set(ids);
    if (!fresh.length || !input.checked) return;
    store.view.chimes += 1;
    try {
      playTone();
    } catch (err) {
      console.warn('lectern: cannot play the hand chime', err);
    }
  });
  return { input };
}
