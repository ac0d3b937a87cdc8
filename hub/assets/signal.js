// The `/rtc` WebSocket: join with the token, hand every hub message to the app, and reconnect with
// backoff (1 s doubling to 10 s) when the socket drops. A fatal unauthorized/forbidden error stops for
// good: retrying a bad link would only hammer the hub. Wire types: proto/src/signal.rs.
// The first socket may be opened before the app has loaded (boot.js): the join then travels
// while the page's modules are still arriving, and the app takes the socket over (`takeEarlySocket`).

import { takeEarlySocket } from './boot.js';

const BACKOFF_START_MS = 1000;
const BACKOFF_CAP_MS = 10000;
/** A session that lasted this long was healthy: the next drop retries after the shortest delay. */
const STABLE_SESSION_MS = 5000;

/** Error codes after which a reconnect cannot help. */
const TERMINAL_CODES = new Set(['unauthorized', 'forbidden']);
/** Classroom verdicts after which the hub closes the socket and a reconnect must not follow. */
const FINAL_TYPES = new Set(['denied', 'removed', 'lessonEnded']);

/** The `/rtc` URL on the host that served this page (wss behind TLS). */
export function rtcUrl(loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/rtc`;
}

/**
 * One logical signaling session that survives socket drops.
 *
 * Callbacks (all optional):
 * - onSession(session): a new socket is open and `join` was sent; `session.send(msg)` sends on it.
 *   Everything built on the previous socket must be torn down by the app before this fires.
 * - onMessage(msg, session): a parsed hub message on the current socket.
 * - onDrop({ delayMs, attempt, everConnected, opened }): the socket closed (`opened`: it had connected
 *   at all); a retry is scheduled.
 * - onTerminal(error): a fatal unauthorized/forbidden error; no retry.
 * - onMoved(error): the room is served by another hub of the cluster; no retry here.
 * - onFinal(msg): `denied`, `removed` or `lessonEnded`; no retry.
 *
 * `name` and `passcode` (set before start) go with `join`: the hub uses them only for guest tokens.
 */
export class Signal {
  constructor(token, callbacks, url = rtcUrl()) {
    this.token = token;
    this.name = '';
    this.passcode = '';
    this.cb = callbacks;
    this.url = url;
    this.ws = null;
    this.session = null;
    this.attempt = 0;
    this.everConnected = false;
    this.joinedAt = 0;
    this.stopped = false;
    this.timer = null;
    // From `joined`: who this page is and its key, so a new socket stays the same participant
    // (same place in the lesson, nobody sees it leave) instead of joining afresh.
    this.resume = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** Stop for good (leave or terminal error): no reconnect. */
  stop() {
    this.stopped = true;
    this.resume = null;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try { ws.close(1000, 'bye'); } catch { /* already closed */ }
    }
    this.session = null;
  }

  /** Send on the current socket; returns false when there is none (the message is dropped). */
  send(msg) {
    return this.session ? this.session.send(msg) : false;
  }

  /**
   * The hub answered `joined`. If this session then lasts a while, the next drop starts the backoff
   * from the beginning again; a hub that accepts and drops at once still gets backed off from.
   */
  markJoined() {
    this.everConnected = true;
    this.joinedAt = Date.now();
  }

  /**
   * Force a reconnect, e.g. when the peer connections could not be brought back and the session is
   * no longer useful. Does not wait for the socket's closing handshake: after a network change the
   * old socket may be dead without knowing it, and its 'close' would come only after a long timeout.
   */
  restart() {
    const ws = this.ws;
    if (!ws) return;
    try { ws.close(4000, 'restart'); } catch { /* already closed */ }
    this.closed(ws, this.session);
  }

  connect() {
    if (this.stopped) return;
    // The socket boot.js opened, if it is for this join (a guest's name or a resume must go in
    // `join` itself, which that socket has already sent without them).
    const pre = !this.name && !this.passcode && !this.resume ? takeEarlySocket(this.token) : takeEarlySocket(null);
    let ws;
    try {
      ws = pre ? pre.ws : new WebSocket(this.url);
    } catch (err) {
      console.warn('lectern: cannot open WebSocket', err);
      this.scheduleRetry(false);
      return;
    }
    this.ws = ws;
    const session = {
      ws,
      alive: true,
      opened: false,
      send: (msg) => {
        if (!session.alive || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(JSON.stringify(msg));
        return true;
      },
    };
    const onOpen = () => {
      if (this.ws !== ws) return;
      this.session = session;
      session.opened = true;
      // The early socket sent `join` itself if it opened before it was taken over.
      if (!pre?.joinSent) {
        const join = { type: 'join', token: this.token };
        if (this.name) join.name = this.name;
        if (this.passcode) join.passcode = this.passcode;
        if (this.resume) join.resume = this.resume;
        session.send(join);
      }
      this.cb.onSession?.(session);
    };
    const onMessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        console.warn('lectern: ignoring a non-JSON message from the hub');
        return;
      }
      if (msg && msg.type === 'error' && msg.code === 'moved') {
        // Another hub of the cluster serves the room: the app opens the link there.
        this.stop();
        this.cb.onMoved?.(msg);
        return;
      }
      if (msg && msg.type === 'error' && msg.fatal && TERMINAL_CODES.has(msg.code)) {
        // Do not wait for the hub to close the socket: stop now so no retry can be scheduled.
        this.stop();
        this.cb.onTerminal?.(msg);
        return;
      }
      if (msg && msg.type === 'joined' && typeof msg.resumeKey === 'string') {
        this.resume = { participantId: msg.participantId, key: msg.resumeKey };
      }
      if (msg && FINAL_TYPES.has(msg.type)) {
        this.stop();
        this.cb.onFinal?.(msg);
        return;
      }
      this.cb.onMessage?.(msg, session);
    };
    const onClose = () => this.closed(ws, session);
    ws.addEventListener('open', onOpen);
    ws.addEventListener('message', onMessage);
    ws.addEventListener('close', onClose);
    // 'error' is always followed by 'close'; nothing to do here.
    // What the early socket saw before it was ours, in order (its join is already sent). Handled
    // in this task, so no event of the socket can come between the replay and the listeners.
    const handlers = { open: onOpen, message: onMessage, close: onClose };
    for (const ev of pre ? pre.events : []) {
      if (this.ws !== ws && ev.type !== 'close') break; // stopped or closed by a replayed message
      handlers[ev.type](ev);
    }
  }

  /** The socket `ws` (of `session`, null if it never opened) is gone: schedule the next one. */
  closed(ws, session) {
    if (session) session.alive = false;
    if (this.ws !== ws) return;
    this.ws = null;
    this.session = null;
    if (this.joinedAt && Date.now() - this.joinedAt >= STABLE_SESSION_MS) this.attempt = 0;
    this.joinedAt = 0;
    this.scheduleRetry(!!session?.opened);
  }

  /** `opened`: whether the socket that just closed had connected (the hub was reachable). */
  scheduleRetry(opened) {
    if (this.stopped) return;
    const delayMs = Math.min(BACKOFF_START_MS * 2 ** this.attempt, BACKOFF_CAP_MS);
    this.attempt += 1;
    this.cb.onDrop?.({ delayMs, attempt: this.attempt, everConnected: this.everConnected, opened });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delayMs);
  }
}
