// The join page (`/join/{room}?token=T`): wires signaling, the two peer connections and the UI.
// One session per socket: on every (re)connect both peer connections are built anew; the local
// camera and microphone are opened once and kept across reconnects.

import { wireJoinForm } from './form.js';
import { roomFromPath } from './links.js';
import { openLocalMedia } from './media.js';
import { Publisher } from './publish.js';
import { Signal } from './signal.js';
import { Subscriber } from './subscribe.js';
import { Ui } from './ui.js';

const PUBLISHING_ROLES = new Set(['teacher', 'student']);
const EVENT_LOG_MAX = 200;
/** A hub that opened the socket but does not answer `join` this fast is treated as a drop. */
const JOIN_REPLY_TIMEOUT_MS = 10000;

/** What the tests (and a curious developer in the console) can look at. */
const lectern = {
  state: 'connecting', // connecting | connected | reconnecting | failed | left | idle (no token)
  publishPc: null,
  subscribePc: null,
  participants: {}, // id -> { id, name, role, audioMuted, videoMuted }
  tracks: [], // latest subscribe mapping: [{ mid, participantId, kind }]
  self: null, // { participantId, room, role, name }
  events: [], // recent hub message types, for debugging
};
window.lectern = lectern;

const params = new URLSearchParams(window.location.search);
const token = (params.get('token') || '').trim();
const pathRoom = roomFromPath(window.location.pathname);

if (!token) {
  showTokenForm();
} else {
  startCall(token);
}

function showTokenForm() {
  lectern.state = 'idle';
  document.getElementById('call').hidden = true;
  document.getElementById('status').hidden = true;
  const section = document.getElementById('token-entry');
  section.hidden = false;
  if (pathRoom) document.getElementById('token-room').textContent = pathRoom;
  wireJoinForm(document.getElementById('token-form'), pathRoom);
  document.getElementById('token-link').focus();
}

function startCall(tok) {
  const ui = new Ui();
  if (pathRoom) ui.setRoom(pathRoom);
  ui.setInCall(true);

  const local = {
    media: null, // { stream, audio, video, notice } once opened
    opening: null, // the promise while getUserMedia is pending
    audioMuted: false,
    videoMuted: false,
  };
  let publisher = null;
  let subscriber = null;
  let session = null; // the signaling session the peer connections belong to
  let joinTimer = null;

  const setState = (state, text) => {
    lectern.state = state;
    ui.setStatus(state, text);
  };

  const send = (msg) => signal.send(msg);

  function teardown() {
    publisher?.close();
    subscriber?.close();
    publisher = null;
    subscriber = null;
    lectern.publishPc = null;
    lectern.subscribePc = null;
    lectern.participants = {};
    lectern.tracks = [];
    ui.clearRemote();
  }

  /** A peer connection that fails cannot recover on its own: start a fresh session. */
  function watchPc(pc) {
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' && (pc === lectern.publishPc || pc === lectern.subscribePc)) {
        console.warn('lectern: a peer connection failed; reconnecting');
        signal.restart();
      }
    });
  }

  async function ensureLocalMedia() {
    if (local.media) return local.media;
    if (!local.opening) {
      local.opening = openLocalMedia().then((m) => {
        local.media = m;
        local.opening = null;
        if (m.notice) ui.notice(m.notice, 'media');
        ui.setLocalPreview(m.stream);
        applyMute('audio');
        applyMute('video');
        return m;
      });
    }
    return local.opening;
  }

  /** Reflect a mute state on the track, the button and (when `announce`) the hub. */
  function applyMute(kind, announce = false) {
    const track = local.media ? local.media[kind] : null;
    const muted = kind === 'audio' ? local.audioMuted : local.videoMuted;
    if (track) track.enabled = !muted;
    ui.setControl(kind, { available: local.media ? !!track : true, muted });
    if (announce) send({ type: 'setMuted', kind, muted: muted || !track });
  }

  async function startPublishing(mySession) {
    const media = await ensureLocalMedia();
    if (session !== mySession) return; // the socket dropped while the user was asked
    publisher = new Publisher(media, send, rtcConfig());
    lectern.publishPc = publisher.pc;
    watchPc(publisher.pc);
    // Tell the room what is off before anyone renders us.
    for (const kind of ['audio', 'video']) {
      const muted = kind === 'audio' ? local.audioMuted : local.videoMuted;
      if (muted || !media[kind]) applyMute(kind, true);
    }
    try {
      await publisher.start();
    } catch (err) {
      console.error('lectern: cannot start publishing', err);
      ui.notice('Your camera and microphone could not be sent to the class. Try reloading the page.', 'publish');
    }
  }

  // STUN/TURN servers the hub hands out (for students behind restrictive networks).
  let iceServers = [];
  function rtcConfig() {
    return iceServers.length ? { iceServers } : {};
  }

  function onJoined(msg, mySession) {
    clearTimeout(joinTimer);
    iceServers = Array.isArray(msg.iceServers) ? msg.iceServers : [];
    signal.markJoined();
    lectern.self = { participantId: msg.participantId, room: msg.room, role: msg.role, name: msg.name };
    ui.setRoom(msg.room);
    if (pathRoom && msg.room !== pathRoom) {
      ui.notice(`Your link is for room ${msg.room}, so that is where you are.`, 'room');
    }
    for (const p of msg.participants || []) addParticipant(p);
    setState('connected', `Connected as ${msg.name || 'guest'}`);
    const canPublish = PUBLISHING_ROLES.has(msg.role);
    ui.setCanPublish(canPublish);
    if (canPublish) startPublishing(mySession);
  }

  function addParticipant(p) {
    if (!p || typeof p.id !== 'number') return;
    lectern.participants[p.id] = { ...p };
    ui.upsertParticipant(p);
  }

  function ensureSubscriber() {
    if (subscriber) return subscriber;
    subscriber = new Subscriber(send, (tracks) => {
      lectern.tracks = tracks.map(({ mid, participantId, kind }) => ({ mid, participantId, kind }));
      ui.setTracks(tracks);
    }, rtcConfig());
    lectern.subscribePc = subscriber.pc;
    watchPc(subscriber.pc);
    return subscriber;
  }

  function onMessage(msg, mySession) {
    if (mySession !== session) return;
    lectern.events.push({ at: Math.round(performance.now()), type: msg && msg.type });
    if (lectern.events.length > EVENT_LOG_MAX) lectern.events.shift();
    switch (msg && msg.type) {
      case 'joined':
        onJoined(msg, mySession);
        break;
      case 'participantJoined':
        addParticipant(msg.participant);
        break;
      case 'participantLeft':
        delete lectern.participants[msg.participantId];
        ui.removeParticipant(msg.participantId);
        break;
      case 'publishAnswer':
        publisher?.applyAnswer(msg.sdp).catch((err) => console.error('lectern: bad publishAnswer', err));
        break;
      case 'subscribeOffer':
        ensureSubscriber().handleOffer(msg.sdp, msg.tracks);
        break;
      case 'trackMuted': {
        const p = lectern.participants[msg.participantId];
        if (p) p[msg.kind === 'audio' ? 'audioMuted' : 'videoMuted'] = !!msg.muted;
        ui.setMuted(msg.participantId, msg.kind, !!msg.muted);
        break;
      }
      case 'error':
        // Terminal codes never get here (signal.js stops first); the hub closes after other fatal ones
        // and we reconnect.
        console.warn('lectern: hub error', msg.code, msg.message, msg.fatal ? '(fatal)' : '');
        break;
      default:
        console.log('lectern: ignoring message of type', msg && msg.type);
    }
  }

  const signal = new Signal(tok, {
    onSession(s) {
      teardown();
      session = s;
      clearTimeout(joinTimer);
      joinTimer = setTimeout(() => {
        if (session !== s) return;
        console.warn('lectern: no answer to join; reconnecting');
        signal.restart();
      }, JOIN_REPLY_TIMEOUT_MS);
    },
    onMessage,
    onDrop({ delayMs, everConnected, opened }) {
      clearTimeout(joinTimer);
      session = null;
      teardown();
      const secs = Math.round(delayMs / 1000);
      const unreachable = !opened && (!everConnected || lectern.state === 'reconnecting');
      setState('reconnecting', unreachable
        ? `The hub cannot be reached. Retrying in ${secs} s…`
        : `Connection lost. Reconnecting in ${secs} s…`);
    },
    onTerminal(err) {
      clearTimeout(joinTimer);
      session = null;
      teardown();
      const text = err.code === 'forbidden'
        ? 'Your link is invalid or expired for this room. Ask your teacher for a new one.'
        : 'Your link is invalid or expired. Ask your teacher for a new one.';
      setState('failed', text);
      ui.setInCall(false);
      ui.rejoinBtn.hidden = true; // the same link will not work again
    },
  });

  ui.onControls({
    toggleMic() {
      local.audioMuted = !local.audioMuted;
      applyMute('audio', true);
    },
    toggleCam() {
      local.videoMuted = !local.videoMuted;
      applyMute('video', true);
    },
    leave() {
      send({ type: 'leave' });
      signal.stop();
      session = null;
      teardown();
      // Switch the camera light off: leaving means the class no longer sees you.
      for (const t of local.media?.stream?.getTracks() || []) t.stop();
      local.media = null;
      ui.setLocalPreview(null);
      ui.setInCall(false);
      setState('left', 'You left the lesson.');
      ui.rejoinBtn.focus();
    },
    rejoin() {
      ui.setInCall(true);
      setState('connecting', 'Connecting to the class…');
      signal.start();
    },
  });

  window.addEventListener('pagehide', () => {
    send({ type: 'leave' });
    signal.stop();
  });

  setState('connecting', 'Connecting to the class…');
  ui.setControl('audio', { available: true, muted: false });
  ui.setControl('video', { available: true, muted: false });
  signal.start();
}
