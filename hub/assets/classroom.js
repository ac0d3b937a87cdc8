// The classroom as this browser knows it: the hub's `state` snapshot kept current by the events that
// follow it (proto/src/classroom.rs). No DOM here: panels subscribe to topics and render. The hub
// is authoritative; nothing changes here because of a button, only because of an event.

const CHAT_KEEP = 500;

/**
 * Topics: status, policy, hands, ownHand, lobby, chat, poll, spotlight, screen, reaction, mutedByTeacher,
 * unmuteRequested, breakouts, space, broadcast.
 */
export class ClassroomStore {
  constructor() {
    this.subs = new Map();
    this.view = {}; // window.lectern.classroom: the same object for the whole page
    this.view.chimes = 0; // hand chimes played (chime.js); page-local, so a reconnect keeps it
    this.reset();
  }

  /** A new socket: forget everything until the hub says again. */
  reset() {
    Object.assign(this.view, {
      state: 'none', // none | waiting | in | denied | removed | ended
      position: null, // in the lobby, 1 is next
      reason: null, // why denied
      policy: null,
      spotlight: null,
      screenSharer: null,
      handRaised: false,
      hands: null, // teachers and the room display only
      chat: [],
      poll: null,
      pollResults: null,
      myAnswer: null,
      lobby: null, // teachers and the room display only
      unmuteAllowed: false, // the teacher asked this student to unmute
      breakouts: null, // the breakout round as the hub said (proto BreakoutView), null: none
      space: null, // { group, name }: where the hub last put us (group null: the main room)
      broadcasts: [], // the teacher's messages to all groups
    });
  }

  on(topic, fn) {
    if (!this.subs.has(topic)) this.subs.set(topic, new Set());
    this.subs.get(topic).add(fn);
  }

  emit(topic, payload) {
    for (const fn of this.subs.get(topic) || []) {
      try {
        fn(payload, this.view);
      } catch (err) {
        console.error(`lectern: a ${topic} listener failed`, err);
      }
    }
  }

  /** Apply a hub message; false when it is not a classroom message. */
  apply(msg) {
    const v = this.view;
    const handler = HANDLERS[msg.type];
    if (!handler) return false;
    const topics = handler(v, msg);
    for (const t of topics) this.emit(t, msg);
    return true;
  }
}

const HANDLERS = {
  state(v, m) {
    Object.assign(v, {
      state: 'in',
      position: null,
      policy: m.policy || null,
      spotlight: m.spotlight ?? null,
      screenSharer: m.screenSharer ?? null,
      handRaised: !!m.handRaised,
      hands: m.hands ?? null,
      chat: Array.isArray(m.chat) ? m.chat.slice(-CHAT_KEEP) : [],
      poll: m.poll ?? null,
      pollResults: m.pollResults ?? null,
      myAnswer: m.myAnswer ?? null,
      lobby: m.lobby ?? null,
    });
    return ['status', 'policy', 'spotlight', 'screen', 'ownHand', 'hands', 'chat', 'poll', 'lobby'];
  },
  waiting(v, m) {
    Object.assign(v, { state: 'waiting', position: m.position ?? null });
    return ['status'];
  },
  denied(v, m) {
    Object.assign(v, { state: 'denied', reason: m.reason || null });
    return ['status'];
  },
  removed(v) {
    v.state = 'removed';
    return ['status'];
  },
  lessonEnded(v) {
    v.state = 'ended';
    return ['status'];
  },
  lobbyChanged(v, m) {
    v.lobby = m.waiting || [];
    return ['lobby'];
  },
  policyChanged(v, m) {
    v.policy = m.policy;
    return ['policy'];
  },
  handsChanged(v, m) {
    v.hands = m.hands || [];
    return ['hands'];
  },
  ownHand(v, m) {
    v.handRaised = !!m.raised;
    return ['ownHand'];
  },
  chat(v, m) {
    v.chat.push(m.message);
    if (v.chat.length > CHAT_KEEP) v.chat.shift();
    return ['chat'];
  },
  chatDeleted(v, m) {
    v.chat = v.chat.filter((c) => c.id !== m.messageId);
    return ['chat'];
  },
  reacted() {
    return ['reaction'];
  },
  pollOpened(v, m) {
    Object.assign(v, { poll: m.poll, pollResults: null, myAnswer: null });
    return ['poll'];
  },
  pollAnswered(v, m) {
    if (v.poll && v.poll.id === m.pollId) v.myAnswer = m.choices;
    return ['poll'];
  },
  pollResults(v, m) {
    if (!v.poll || v.poll.id === m.results.pollId) v.pollResults = m.results;
    return ['poll'];
  },
  pollClosed(v, m) {
    if (v.poll && v.poll.id === m.pollId) v.poll = { ...v.poll, open: false };
    return ['poll'];
  },
  mutedByTeacher(v, m) {
    if (m.kind === 'audio') v.unmuteAllowed = false;
    return ['mutedByTeacher'];
  },
  unmuteRequested(v) {
    v.unmuteAllowed = true;
    return ['unmuteRequested'];
  },
  spotlightChanged(v, m) {
    v.spotlight = m.participantId ?? null;
    return ['spotlight'];
  },
  screenShareChanged(v, m) {
    v.screenSharer = m.participantId ?? null;
    return ['screen'];
  },
  breakoutsChanged(v, m) {
    v.breakouts = m.breakouts ?? null;
    return ['breakouts'];
  },
  // Moved to another space: its chat replaces ours (its board and notes follow as boardSync).
  breakoutSpace(v, m) {
    v.space = { group: m.group ?? null, name: m.name || '' };
    v.chat = Array.isArray(m.chat) ? m.chat.slice(-CHAT_KEEP) : [];
    return ['chat', 'space'];
  },
  breakoutBroadcast(v, m) {
    v.broadcasts.push({ text: m.text, fromName: m.fromName, sentAt: m.sentAt });
    if (v.broadcasts.length > 50) v.broadcasts.shift();
    return ['broadcast'];
  },
};
