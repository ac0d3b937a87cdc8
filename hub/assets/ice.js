// ICE on the browser's two peer connections: waiting (bounded) for candidates before an offer, and
// restarting ICE on the same connections when the path to the hub breaks or the network changes.
//
// Gathering: the hub is ICE-lite and takes no trickle. It does not need our candidates: it answers
// the connectivity checks the browser sends from each of its candidates (host, ICE-TCP, or a TURN
// relay) and learns that address from the check (a peer-reflexive candidate). So a relay candidate
// gathered after the offer went out still works, and the deadline only decides how long the offer
// may wait to carry what was gathered by then; trickling late candidates would add nothing.

export const GATHER_DEADLINE_MS = 2000;

/** Resolves when gathering is complete or the deadline passes, whichever comes first. */
export function iceGatheringDone(pc, deadlineMs = GATHER_DEADLINE_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, deadlineMs);
    pc.addEventListener('icegatheringstatechange', onChange);
  });
}

/** The `a=ice-ufrag` of an SDP (null if none): a new one means an ICE restart. */
export function iceUfrag(sdp) {
  return (sdp && /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1]) || null;
}

/** A connection `disconnected` this long is restarted (it may come back on its own before). */
export const DISCONNECTED_RESTART_MS = 2000;
/** A restart that has not brought every connection back by then gives way to a full reconnect. */
export const RESTART_DEADLINE_MS = 10000;
/**
 * The hub answers a restart's offer (or request) over the socket at once; no answer by then means
 * the socket is dead without knowing it (after an address change its TCP connection can never
 * deliver again), so the full reconnect starts without waiting out the deadline.
 */
export const SOCKET_REPLY_MS = 4000;

const isUp = (pc) => pc.connectionState === 'connected';

/**
 * Watches the session's peer connections and restarts ICE on them instead of rejoining.
 *
 * Triggers: a connection `disconnected` for more than DISCONNECTED_RESTART_MS, or `failed`; a
 * network change (`online`, `navigator.connection` `change`). A restart: the publish connection
 * gets `restartIce()` and a new offer (`restartPublish`), the hub is asked to re-offer the
 * subscribe connection with new credentials (`restartSubscribe`). If the connections are not all
 * `connected` within RESTART_DEADLINE_MS, or the hub answers nothing within SOCKET_REPLY_MS, `giveUp`
 * runs (the full reconnect).
 *
 * hooks: { pcs(): the session's RTCPeerConnections, restartPublish() and restartSubscribe(): each a
 *          promise of that connection's new offer/answer exchange (or nothing without the
 *          connection), giveUp(reason), canRestart(): whether the signalling socket is open,
 *          log: an array the restarts are recorded in ({reason, at, ms, outcome}) }
 */
export class IceRestarter {
  constructor(hooks) {
    this.hooks = hooks;
    this.watched = new WeakSet();
    this.disconnectTimers = new Map();
    this.current = null; // { reason, at, deadline, retry }
    this.closed = false;
    this.onNetwork = (ev) => this.restart(`network ${ev.type}`);
    window.addEventListener('online', this.onNetwork);
    navigator.connection?.addEventListener?.('change', this.onNetwork);
  }

  /** Start watching a (new) peer connection of this session. */
  watch(pc) {
    if (this.watched.has(pc)) return;
    this.watched.add(pc);
    pc.addEventListener('connectionstatechange', () => this.onState(pc));
  }

  onState(pc) {
    if (this.closed || !this.hooks.pcs().includes(pc)) return;
    const state = pc.connectionState;
    clearTimeout(this.disconnectTimers.get(pc));
    this.disconnectTimers.delete(pc);
    if (state === 'disconnected') {
      this.disconnectTimers.set(pc, setTimeout(() => {
        if (pc.connectionState === 'disconnected') this.restart('disconnected for 2 s');
      }, DISCONNECTED_RESTART_MS));
    } else if (state === 'failed') {
      this.restart('failed');
    } else if (state === 'connected') {
      this.settle();
    }
  }

  /** Restart ICE on every connection of the session (once at a time). */
  restart(reason) {
    if (this.closed || this.current) return;
    const pcs = this.hooks.pcs();
    if (!pcs.length) return;
    if (!this.hooks.canRestart()) {
      // The socket is gone too: the signalling reconnect (a new session) is already on its way.
      return;
    }
    const at = performance.now();
    console.warn(`lectern: restarting ICE (${reason})`);
    // Done once each restarted connection has its new credentials on both sides and is connected
    // (a connection whose path still worked may stay `connected` all along).
    const cur = { reason, at, deadline: null, poll: null, silent: null, pending: 0, answered: 0 };
    this.current = cur;
    this.hooks.log.push({ reason, at: Math.round(at), ms: null, outcome: 'pending' });
    cur.deadline = setTimeout(() => this.fail(cur), RESTART_DEADLINE_MS);
    // Asked once each: a second request after the hub's new offer would restart the restart.
    for (const step of [this.hooks.restartPublish, this.hooks.restartSubscribe]) {
      const p = step();
      if (!p) continue;
      cur.pending += 1;
      p.then(() => { cur.pending -= 1; cur.answered += 1; this.settle(); },
        (err) => console.warn('lectern: ICE restart negotiation failed', err));
    }
    cur.poll = setInterval(() => this.settle(), 250);
    if (cur.pending) cur.silent = setTimeout(() => { if (!cur.answered) this.fail(cur, 'the hub does not answer on the socket'); }, SOCKET_REPLY_MS);
  }

  settle() {
    const cur = this.current;
    if (!cur || cur.pending > 0 || !this.hooks.pcs().every(isUp)) return;
    this.finish(cur, 'ok');
  }

  fail(cur, why = 'not connected within 10 s') {
    if (this.current !== cur) return;
    this.finish(cur, `gave up: ${why}`);
    console.warn(`lectern: ICE restart failed (${why}); rejoining`);
    this.hooks.giveUp(`ICE restart (${cur.reason}): ${why}`);
  }

  finish(cur, outcome) {
    clearTimeout(cur.deadline);
    clearTimeout(cur.silent);
    clearInterval(cur.poll);
    this.current = null;
    const rec = this.hooks.log[this.hooks.log.length - 1];
    if (rec) {
      rec.ms = Math.round(performance.now() - cur.at);
      rec.outcome = outcome;
    }
  }

  /** The session ended (socket dropped, left): stop everything, a new session gets a new one. */
  close() {
    this.closed = true;
    if (this.current) this.finish(this.current, 'session ended');
    for (const t of this.disconnectTimers.values()) clearTimeout(t);
    this.disconnectTimers.clear();
    window.removeEventListener('online', this.onNetwork);
    navigator.connection?.removeEventListener?.('change', this.onNetwork);
  }
}
