// The join page (`/join/{room}?token=T`): wires signaling, the two peer connections and the UI.
// One session per socket: on every (re)connect both peer connections are built anew; the local
// camera and microphone are opened once and kept across reconnects. Classroom messages go to the
// store (classroom.js) and the panels (lesson.js); the lobby and final screens are gate.js.

import { takeToken } from './address.js';
import { isGuestToken } from './claims.js';
import { ClassroomStore } from './classroom.js';
import { hubToTry, learnHubs, rejoinUrl } from './failover.js';
import { Recording, noticeBeforeJoining } from './recording.js';
import { wireJoinForm } from './form.js';
import { Gate, askGuest } from './gate.js';
import { IceRestarter, iceUfrag } from './ice.js';
import { Lesson } from './lesson.js';
import { Notes } from './notes.js';
import { roomFromPath } from './links.js';
import { openLocalMedia } from './media.js';
import { Publisher } from './publish.js';
import { Quality } from './quality.js';
import { Signal } from './signal.js';
import { Subscriber } from './subscribe.js';
import { toast } from './toast.js';
import { Ui } from './ui.js';

const PUBLISHING_ROLES = new Set(['teacher', 'student']);
const EVENT_LOG_MAX = 200;
/** A hub that opened the socket but does not answer `join` this fast is treated as a drop. */
const JOIN_REPLY_TIMEOUT_MS = 10000;
/**
 * Seeing the room comes first: a student's camera and microphone open (and their connection
 * starts) once the room's first video frame is decoded, or after this long at most. Opening them
 * while the room connects delayed its first frame by 100-150 ms on a 2-core machine
 * (docs/performance.md).
 */
const ROOM_FIRST_MAX_MS = 2000;
/** The hub's first subscribe offer comes right after `joined` when the room has media to show. */
const ROOM_OFFER_WAIT_MS = 300;
const ROOM_POLL_MS = 50;

/** What the tests (and a curious developer in the console) can look at. */
const lectern = {
  // connecting | waiting (lobby) | connected | reconnecting | failed | left | idle (no token)
  // | passcode (a guest is asked again after a wrong one) | denied | removed | ended (the last
  // three: final, no reconnect)
  state: 'connecting',
  publishPc: null,
  subscribePc: null,
  participants: {}, // id -> { id, name, role, audioMuted, videoMuted }
  tracks: [], // latest subscribe mapping: [{ mid, participantId, kind }]
  self: null, // { participantId, room, role, name }
  events: [], // recent hub message types, for debugging
  // { state: none|waiting|in|denied|removed|ended, hands, chat, poll, pollResults, myAnswer, lobby,
  //   policy, spotlight, screenSharer, handRaised, ... }: see classroom.js
  classroom: null,
  // ICE restarts of this page, oldest first: { reason, at, ms, outcome: pending|ok|gave up: why|session ended }
  iceRestarts: [],
  // `?relay=1`: both peer connections use only TURN relay candidates (iceTransportPolicy "relay").
  forceRelay: false,
};
window.lectern = lectern;

const params = new URLSearchParams(window.location.search);
const token = takeToken();
const pathRoom = roomFromPath(window.location.pathname);
lectern.forceRelay = params.get('relay') === '1';
if (token) noticeBeforeJoining(token, pathRoom); // recorded lessons say so before anyone enters (recording.js)

if (!token) {
  showTokenForm();
} else if (isGuestToken(token)) {
  // A shared guest link: the teacher needs a name to decide whom to let in.
  askGuest().then((guest) => startCall(token, guest));
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

/** `guest`: { name, passcode } from the guest form; null for a personal token. */
function startCall(tok, guest = null) {
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
  /** The session's publisher while it is being made: { session, hurry(), ready: Promise<Publisher|null> }. */
  let publishing = null;
  let subscriber = null;
  let session = null; // the signaling session the peer connections belong to
  let joinTimer = null;
  let restarter = null; // ICE restarts of the session's peer connections (ice.js)
  let subscribeRestarted = null; // resolves the subscribe connection's restart with the next offer answered

  const setState = (state, text) => {
    lectern.state = state;
    ui.setStatus(state, text);
  };

  const send = (msg) => signal.send(msg);

  const store = new ClassroomStore();
  lectern.classroom = store.view;
  const recording = new Recording({ send }); // the red badge and the teacher's switch (recording.js)
  const lesson = new Lesson({
    store,
    send,
    ui,
    token: tok,
    participants: () => lectern.participants,
    publisher: () => publisher,
    publisherNow,
    onUnmuteAccepted: () => {
      local.audioMuted = false;
      applyMute('audio', true);
    },
  });
  const gate = new Gate({ onLeave: () => leave() });
  const boards = mountBoards(send);
  // Connection quality from the hub's bandwidth allocation: shown ("good") once media is up.
  const quality = new Quality({ send, ui, tracks: () => lectern.tracks });

  // The hub already stopped forwarding: make the page agree, and say why.
  store.on('mutedByTeacher', ({ kind }) => {
    if (kind === 'audio') local.audioMuted = true;
    else local.videoMuted = true;
    // Not announced with setMuted: the hub already told the room, and lifts its block only when we
    // unmute ourselves.
    applyMute(kind, false);
    ui.clearNotice('unmute');
    ui.notice(kind === 'audio' ? 'The teacher muted you.' : 'The teacher stopped your camera.', `muted-${kind}`);
  });

  // Admitted into a room whose policy keeps students' mic or camera off: the hub does not forward
  // them, so the page starts with them off too.
  store.on('status', () => {
    const p = store.view.policy;
    if (store.view.state !== 'in' || lectern.self?.role !== 'student' || !p) return;
    for (const [kind, allowed] of [['audio', p.studentsMayUnmute], ['video', p.studentsMayStartVideo]]) {
      const muted = kind === 'audio' ? local.audioMuted : local.videoMuted;
      if (allowed || muted) continue;
      if (kind === 'audio') local.audioMuted = true;
      else local.videoMuted = true;
      applyMute(kind, false);
      ui.notice(kind === 'audio' ? 'Your microphone is off: the teacher turns it on for you or asks you to unmute.' : 'Cameras are off for students in this lesson.', `policy-${kind}`);
    }
  });

  /** Students may be kept from unmuting or starting their camera by the room policy. */
  function mayTurnOn(kind) {
    if (lectern.self?.role !== 'student') return true;
    const p = store.view.policy;
    if (kind === 'audio') return !p || p.studentsMayUnmute || store.view.unmuteAllowed;
    return !p || p.studentsMayStartVideo;
  }

  function teardown() {
    restarter?.close();
    restarter = null;
    publisher?.close();
    subscriber?.close();
    publisher = null;
    publishing = null;
    subscriber = null;
    lectern.publishPc = null;
    lectern.subscribePc = null;
    lectern.participants = {};
    lectern.tracks = [];
    ui.clearRemote();
    lesson.teardown();
    quality.setMediaUp(false);
  }

  /**
   * A peer connection that is disconnected for a while, fails, or whose network changed gets an ICE
   * restart on the same connection (same participant, nobody sees us leave); only if that does
   * not bring it back within 10 s does the page start a fresh session.
   */
  function newRestarter(mySession) {
    return new IceRestarter({
      pcs: () => [lectern.publishPc, lectern.subscribePc].filter(Boolean),
      restartPublish: () => publisher?.restartIce(),
      restartSubscribe: () => {
        if (!subscriber || !send({ type: 'restartIce', pc: 'subscribe' })) return null;
        // The hub's next subscribeOffer carries its new credentials.
        return new Promise((resolve) => { subscribeRestarted = resolve; });
      },
      canRestart: () => session === mySession && !!signal.session,
      giveUp: () => { if (session === mySession) signal.restart(); },
      log: lectern.iceRestarts,
    });
  }

  // For tests and a curious developer: restart ICE now, as a network change would.
  lectern.restartIce = (reason = 'requested') => restarter?.restart(reason);

  function watchPc(pc) {
    restarter?.watch(pc);
    pc.addEventListener('connectionstatechange', mediaChanged);
  }

  // The quality indicator and the audio-only toggle show once either connection is up (a student
  // alone in the room receives nothing yet); a passing disconnection (ICE restart) keeps them.
  function mediaChanged() {
    const up = [lectern.publishPc, lectern.subscribePc].some((pc) => pc && ['connected', 'disconnected'].includes(pc.connectionState));
    quality.setMediaUp(up);
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

  /**
   * The room's media is here: a first video frame decoded (or it has no video), or its connection
   * failed. (A track unmutes at its first packet, before any frame: too early to stop waiting.)
   */
  async function roomArrived() {
    const pc = subscriber?.pc;
    if (!pc) return false;
    if (['failed', 'closed'].includes(pc.connectionState)) return true;
    if (pc.connectionState !== 'connected') return false;
    if (!pc.getReceivers().some((r) => r.track && r.track.kind === 'video')) return true;
    const stats = await pc.getStats();
    let decoded = false;
    stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0) decoded = true; });
    return decoded;
  }

  /**
   * Resolves once the room's media has arrived (`roomArrived`, asked every 50 ms), at the limits
   * above, or when `hurried` resolves (the user wants to send something now).
   */
  function roomConnected(hurried) {
    return new Promise((resolve) => {
      let done = false;
      hurried.then(() => { done = true; resolve(); });
      const started = Date.now();
      const poll = async () => {
        if (done) return;
        const waited = Date.now() - started;
        if (waited >= ROOM_FIRST_MAX_MS || (!subscriber && waited >= ROOM_OFFER_WAIT_MS) || await roomArrived().catch(() => true)) {
          done = true;
          resolve();
        } else {
          setTimeout(poll, ROOM_POLL_MS);
        }
      };
      poll();
    });
  }

  /**
   * The session's publisher, made now if it is still waiting for the room (a click on Share screen
   * must not wait up to ROOM_FIRST_MAX_MS, nor be refused); null if this session does not publish.
   */
  function publisherNow() {
    if (publisher) return Promise.resolve(publisher);
    if (!publishing || publishing.session !== session) return Promise.resolve(null);
    publishing.hurry();
    return publishing.ready;
  }

  /** `roomShown`: `roomConnected`'s promise, resolved early by `hurry()`. */
  function startPublishing(mySession, roomShown, hurry) {
    publishing = { session: mySession, hurry, ready: publish(mySession, roomShown) };
  }

  /** Opens the camera and microphone and starts the publish connection; resolves to the publisher (null if the session went). */
  async function publish(mySession, roomShown) {
    await roomShown;
    if (session !== mySession) return null;
    const media = await ensureLocalMedia();
    if (session !== mySession) return null; // the socket dropped while the user was asked
    publisher = new Publisher(media, send, rtcConfig());
    lectern.publishPc = publisher.pc;
    watchPc(publisher.pc);
    // Tell the room what is off before anyone renders us.
    for (const kind of ['audio', 'video']) {
      const muted = kind === 'audio' ? local.audioMuted : local.videoMuted;
      if (muted || !media[kind]) applyMute(kind, true);
    }
    // Not awaited: what is sent next (a screen) queues behind this first offer (publish.js).
    publisher.start().catch((err) => {
      console.error('lectern: cannot start publishing', err);
      ui.notice('Your camera and microphone could not be sent to the class. Try reloading the page.', 'publish');
    });
    return publisher;
  }

  // STUN/TURN servers the hub hands out (for students behind restrictive networks): TURN with
  // credentials minted for this participant. With them in the configuration the browser falls back
  // to the relay by itself when no direct path works; `?relay=1` allows only the relay.
  let iceServers = [];
  function rtcConfig() {
    const config = iceServers.length ? { iceServers } : {};
    if (lectern.forceRelay) config.iceTransportPolicy = 'relay';
    return config;
  }

  /** A new session starts from nothing: the last socket's media, people and classroom state go. */
  function freshSession() {
    teardown();
    store.reset();
    // A new participant: the hub starts again from "good" (a resumed one keeps what it was told).
    quality.reset();
    restarter = newRestarter(session);
  }

  function onJoined(msg, mySession) {
    clearTimeout(joinTimer);
    if (msg.resumed && (publisher || subscriber)) {
      onResumed(msg);
      return;
    }
    freshSession();
    gate.hide();
    iceServers = Array.isArray(msg.iceServers) ? msg.iceServers : [];
    if (lectern.forceRelay && !iceServers.some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)))) {
      console.warn('lectern: ?relay=1 but the hub hands out no TURN server: no media can flow');
    }
    signal.markJoined();
    lectern.self = { participantId: msg.participantId, room: msg.room, role: msg.role, name: msg.name };
    ui.setRoom(msg.room);
    if (pathRoom && msg.room !== pathRoom) {
      ui.notice(`Your link is for room ${msg.room}, so that is where you are.`, 'room');
    }
    for (const p of msg.participants || []) addParticipant(p);
    lesson.joined(lectern.self);
    // The room first: a student's camera and the whiteboard's code wait for its first frame.
    let hurry;
    const roomShown = roomConnected(new Promise((resolve) => { hurry = resolve; }));
    boards.joined(lectern.self, roomShown);
    quality.joined();
    setState('connected', `Connected as ${msg.name || 'guest'}`);
    const canPublish = PUBLISHING_ROLES.has(msg.role);
    ui.setCanPublish(canPublish);
    if (canPublish) startPublishing(mySession, roomShown, hurry);
  }

  /**
   * The hub gave this new socket our participant back (the old socket died with a network
   * change): same place in the lesson, same media connections. Catch up on who is here and on the
   * classroom (its `state` follows), and restart ICE on the connections, whose path may have changed.
   */
  function onResumed(msg) {
    gate.hide();
    iceServers = Array.isArray(msg.iceServers) ? msg.iceServers : iceServers;
    signal.markJoined();
    store.reset();
    const here = new Set((msg.participants || []).map((p) => p.id));
    for (const id of Object.keys(lectern.participants).map(Number)) {
      if (!here.has(id)) {
        delete lectern.participants[id];
        ui.removeParticipant(id);
      }
    }
    for (const p of msg.participants || []) addParticipant(p);
    lesson.peopleChanged();
    setState('connected', `Connected as ${msg.name || 'guest'}`);
    for (const pc of [lectern.publishPc, lectern.subscribePc]) if (pc) restarter?.watch(pc);
    restarter?.restart('resumed on a new socket');
  }

  function addParticipant(p) {
    if (!p || typeof p.id !== 'number') return;
    lectern.participants[p.id] = { ...p };
    ui.upsertParticipant(p);
  }

  /** `offerSdp`: the offer that makes it, which boot.js may have answered already (subscribe.js). */
  function ensureSubscriber(offerSdp) {
    if (subscriber) return subscriber;
    subscriber = new Subscriber(send, (tracks) => {
      lectern.tracks = tracks.map(({ mid, participantId, kind, screen }) => ({ mid, participantId, kind, screen }));
      ui.setTracks(tracks);
      quality.renderPaused();
    }, rtcConfig(), offerSdp);
    lectern.subscribePc = subscriber.pc;
    watchPc(subscriber.pc);
    mediaChanged(); // a taken-over connection may be up already
    return subscriber;
  }

  function onMessage(msg, mySession) {
    if (mySession !== session) return;
    lectern.events.push({ at: Math.round(performance.now()), type: msg && msg.type });
    if (lectern.events.length > EVENT_LOG_MAX) lectern.events.shift();
    if (recording.observe(msg)) return;
    switch (msg && msg.type) {
      case 'joined':
        onJoined(msg, mySession);
        learnHubs(); // the cluster's hubs, in case this one goes away (failover.js)
        break;
      case 'waiting':
        // In the lobby: the socket stays open and `joined` follows when a teacher admits us.
        clearTimeout(joinTimer);
        if (publisher || subscriber) freshSession();
        signal.markJoined();
        store.apply(msg);
        setState('waiting', 'Waiting for the teacher to let you in…');
        gate.waiting(msg.position);
        break;
      case 'participantJoined':
        addParticipant(msg.participant);
        lesson.peopleChanged();
        break;
      case 'participantLeft':
        delete lectern.participants[msg.participantId];
        ui.removeParticipant(msg.participantId);
        lesson.peopleChanged();
        break;
      case 'publishAnswer':
        publisher?.applyAnswer(msg.sdp).catch((err) => console.error('lectern: bad publishAnswer', err));
        break;
      case 'subscribeOffer': {
        // The restart's offer is the one with new ICE credentials (an offer already on its way
        // when we asked is not it).
        const sub = ensureSubscriber(msg.sdp);
        const fresh = iceUfrag(msg.sdp) !== iceUfrag(sub.pc.remoteDescription?.sdp);
        const restarted = fresh ? subscribeRestarted : null;
        if (fresh) subscribeRestarted = null;
        sub.handleOffer(msg.sdp, msg.tracks).then(() => restarted?.());
        break;
      }
      case 'quality':
        quality.apply(msg);
        break;
      case 'trackMuted': {
        const p = lectern.participants[msg.participantId];
        if (p) p[msg.kind === 'audio' ? 'audioMuted' : 'videoMuted'] = !!msg.muted;
        ui.setMuted(msg.participantId, msg.kind, !!msg.muted);
        lesson.peopleChanged();
        break;
      }
      case 'error':
        // Terminal codes never get here (signal.js stops first); the hub closes after other fatal ones
        // and we reconnect.
        console.warn('lectern: hub error', msg.code, msg.message, msg.fatal ? '(fatal)' : '');
        if (restarter?.current && msg.code === 'conflict') {
          // The hub refused the subscribe restart while its last offer waits for our answer (in
          // flight): ask again once that is through. Not the user's doing: no toast.
          if (subscribeRestarted) setTimeout(() => { if (subscribeRestarted) send({ type: 'restartIce', pc: 'subscribe' }); }, 500);
          break;
        }
        if (!msg.fatal) lesson.refused(msg);
        break;
      case 'boardSync':
      case 'boardUpdate':
      case 'boardPolicy':
      case 'boardPointer':
      case 'boardRefused':
        boards.hubMessage(msg);
        break;
      default:
        if (!(msg && store.apply(msg))) console.log('lectern: ignoring message of type', msg && msg.type);
    }
  }

  const signal = new Signal(tok, {
    onSession(s) {
      // What the last socket built is replaced once the hub answers (`joined` or `waiting`): until
      // then the hub may still hold us, and closing our media would tell it we left.
      session = s;
      restarter = newRestarter(s);
      clearTimeout(joinTimer);
      joinTimer = setTimeout(() => {
        if (session !== s) return;
        console.warn('lectern: no answer to join; reconnecting');
        signal.restart();
      }, JOIN_REPLY_TIMEOUT_MS);
    },
    onMessage,
    onDrop({ delayMs, attempt, everConnected, opened }) {
      clearTimeout(joinTimer);
      session = null;
      // In a cluster: this hub stopped answering; another sends the page to the room's new owner.
      const other = everConnected ? hubToTry({ attempt, opened }) : null;
      if (other) {
        setState('reconnecting', 'This hub stopped answering. Moving to another…');
        window.location.replace(rejoinUrl(other, tok));
        return;
      }
      // The media connections stay up meanwhile: if the hub still has us, the next socket resumes
      // this participant (see Signal.resume) and only then are they replaced. Closing them now
      // would tell the hub we left. ICE restarts need a socket: none until then.
      restarter?.close();
      restarter = null;
      const secs = Math.round(delayMs / 1000);
      const unreachable = !opened && (!everConnected || lectern.state === 'reconnecting');
      setState('reconnecting', unreachable
        ? `The hub cannot be reached. Retrying in ${secs} s…`
        : `Connection lost. Reconnecting in ${secs} s…`);
    },
    onMoved() {
      // Another hub of the cluster serves the room now: this hub's join link redirects there.
      clearTimeout(joinTimer);
      setState('reconnecting', 'The lesson moved to another hub. Following it…');
      window.location.replace(rejoinUrl(window.location.origin, tok));
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
    onFinal(msg) {
      // Denied, removed or the lesson ended: the hub closes the socket; we do not come back.
      clearTimeout(joinTimer);
      session = null;
      teardown();
      store.apply(msg);
      if (guest && msg.type === 'denied' && msg.reason === 'wrongPasscode') {
        // Not final for a guest: a mistyped passcode deserves another try on a new socket.
        askPasscodeAgain();
        return;
      }
      stopLocalMedia();
      const kind = { denied: 'denied', removed: 'removed', lessonEnded: 'ended' }[msg.type];
      const text = { denied: 'You could not join the lesson.', removed: 'You were removed from the lesson.', ended: 'The lesson has ended.' }[kind];
      setState(kind, text);
      ui.setInCall(false);
      ui.rejoinBtn.hidden = true;
      gate.final(kind, msg.reason);
    },
  });
  signal.name = guest?.name || '';
  signal.passcode = guest?.passcode || '';

  async function askPasscodeAgain() {
    setState('passcode', 'The teacher asks for the room passcode.');
    const again = await askGuest({ wrongPasscode: true });
    signal.name = again.name;
    signal.passcode = again.passcode;
    setState('connecting', 'Connecting to the class…');
    signal.start();
  }

  function stopLocalMedia() {
    // Switch the camera light off: the class no longer sees you.
    for (const t of local.media?.stream?.getTracks() || []) t.stop();
    local.media = null;
    ui.setLocalPreview(null);
  }

  function leave() {
    send({ type: 'leave' });
    signal.stop();
    session = null;
    teardown();
    stopLocalMedia();
    gate.hide();
    ui.setInCall(false);
    setState('left', 'You left the lesson.');
    ui.rejoinBtn.focus();
  }

  ui.onControls({
    toggleMic() {
      if (local.audioMuted && !mayTurnOn('audio')) {
        toast('The teacher has turned off unmuting for students. Raise your hand to ask.', { kind: 'error' });
        return;
      }
      local.audioMuted = !local.audioMuted;
      applyMute('audio', true);
      if (!local.audioMuted) ui.clearNotice('unmute');
    },
    toggleCam() {
      if (local.videoMuted && !mayTurnOn('video')) {
        toast('The teacher has turned off cameras for students.', { kind: 'error' });
        return;
      }
      local.videoMuted = !local.videoMuted;
      applyMute('video', true);
    },
    leave,
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

/**
 * The whiteboard and the shared notes: their documents live as long as the page (a new session's
 * `boardSync` replaces them); the views are built once the hub says who we are. whiteboard.js and
 * the yjs it imports (117 KB, a third of the app) load once the room is shown: compiling them with
 * the rest competed with the room's connection (docs/performance.md). Hub messages for the
 * documents that come before wait, in order.
 */
function mountBoards(send) {
  let wb = null; // the whiteboard.js module once loaded
  let docs = null;
  let loading = null;
  const early = [];
  let self = null;
  let board = null;
  let notes = null;
  let policy = null; // the last boardPolicy, for views built after it came
  // For tests: the documents as JSON, and the views.
  lectern.boards = {
    board: () => board?.json() ?? null,
    notes: () => docs?.notes.doc.getText('notes').toString() ?? '',
    view: () => board,
    send,
  };
  function build() {
    if (board || !wb || !self) return;
    const ctx = { send, role: self.role, selfId: () => lectern.self?.participantId ?? null, people: () => lectern.participants };
    board = new wb.Whiteboard(ctx, docs.board);
    notes = new Notes(document.getElementById('notes-box'), ctx, docs.notes);
    if (policy) handle(policy);
  }
  function handle(msg) {
    if (msg.type === 'boardSync' || msg.type === 'boardUpdate') docs[msg.doc]?.hubMessage(msg);
    else if (msg.type === 'boardRefused') {
      toast(msg.message || 'Your change was not accepted.', { kind: 'error' });
      docs[msg.doc]?.refused();
    }
    else {
      if (msg.type === 'boardPolicy') policy = msg;
      board?.hubMessage(msg);
      if (msg.type === 'boardPolicy') notes?.policy(msg);
    }
  }
  return {
    /** `roomShown`: resolves once the room's first frame is shown (or it is given up on). */
    joined(me, roomShown) {
      self = me;
      loading ??= roomShown.then(() => import('./whiteboard.js')).then((m) => {
        wb = m;
        docs = { board: new m.SyncedDoc('board', send), notes: new m.SyncedDoc('notes', send) };
        for (const msg of early.splice(0)) handle(msg);
        build();
      }).catch((err) => {
        loading = null; // the next session tries again
        console.error('lectern: the whiteboard could not be loaded', err);
      });
      build();
    },
    hubMessage(msg) {
      if (docs) handle(msg);
      else early.push(msg);
    },
  };
}
