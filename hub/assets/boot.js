// The join page's first script: it sends `join` while the rest of the app is still loading (its
// module graph is a few dozen files) and answers the hub's first subscribe offer, so the room's
// media is connecting, often arriving, by the time the app runs. The app takes the socket
// (signal.js) and the connection (subscribe.js) over with the `take…` functions below.
//
// It imports nothing, so it runs as soon as it arrives instead of after a round of imports; the
// few lines it shares with the app (where the token is, a guest claim, the /rtc URL) are repeated
// here on purpose, and marked. Guests are asked their name first: nothing early for them.

/** The early socket nobody has taken yet: { ws, token, events, release, joinSent }. */
let early = null;
/** The subscribe connection made for the first offer: { pc, sdp (the offer it answers), done }. */
let earlySub = null;
/** The hub's ICE servers from `joined`, for that connection. */
let earlyConfig = null;

/** The join link's token, as address.js `takeToken` finds it (which also cleans the address). */
function linkToken() {
  const url = new URL(window.location.href);
  const fromLink = (url.searchParams.get('token') || '').trim();
  if (fromLink) return fromLink;
  try {
    return sessionStorage.getItem(`lectern.token:${url.pathname}`) || ''; // address.js KEY_PREFIX
  } catch {
    return '';
  }
}

/** As claims.js `isGuestToken`; a token it cannot read is not joined early (the app decides). */
function personalToken(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')));
    return !!claims && typeof claims === 'object' && claims.guest !== true;
  } catch {
    return false;
  }
}

/**
 * Opens the `/rtc` socket and sends `join` with `token` as soon as it is open, keeping what happens
 * on it (open, messages, close) until the app's Signal takes it over.
 */
function openEarly(token) {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:'; // signal.js rtcUrl
  let ws;
  try {
    ws = new WebSocket(`${scheme}//${window.location.host}/rtc`);
  } catch {
    return; // the app's own connect tries again and reports
  }
  const e = { ws, token, events: [], release: null, joinSent: false };
  const send = (msg) => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  };
  const keep = (ev) => {
    e.events.push(ev);
    if (ev.type === 'open') e.joinSent = send({ type: 'join', token });
    if (ev.type === 'message' && typeof ev.data === 'string') {
      let msg = null;
      try { msg = JSON.parse(ev.data); } catch { /* the app reports it when it takes over */ }
      if (msg && typeof msg === 'object') subscribeEarly(msg, send);
    }
  };
  for (const type of ['open', 'message', 'close']) ws.addEventListener(type, keep);
  e.release = () => {
    for (const type of ['open', 'message', 'close']) ws.removeEventListener(type, keep);
  };
  early = e;
}

/**
 * Answers the hub's first `subscribeOffer` on a connection made for it, so ICE, DTLS and the
 * room's first keyframe come while the app's modules are still arriving.
 */
function subscribeEarly(msg, send) {
  if (msg.type === 'joined' && !msg.resumed) {
    earlyConfig = Array.isArray(msg.iceServers) && msg.iceServers.length ? { iceServers: msg.iceServers } : {};
    // `?relay=1`: only TURN relay candidates, as the app's own connections (app.js rtcConfig).
    if (new URLSearchParams(window.location.search).get('relay') === '1') earlyConfig.iceTransportPolicy = 'relay';
    return;
  }
  if (msg.type !== 'subscribeOffer' || earlySub || !earlyConfig || typeof msg.sdp !== 'string') return;
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', ...earlyConfig });
  const done = (async () => {
    await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: 'subscribeAnswer', sdp: pc.localDescription.sdp });
  })();
  done.catch(() => {}); // reported by the Subscriber that takes it over
  earlySub = { pc, sdp: msg.sdp, done };
}

/**
 * The early socket if it was opened for `token` (it is then the caller's: nothing is kept from
 * it any more), else null; one opened for another token, or not wanted (`token` null), is closed.
 */
export function takeEarlySocket(token) {
  const e = early;
  early = null;
  if (!e) return null;
  e.release();
  if (token && e.token === token) return e;
  try { e.ws.close(1000, 'not needed'); } catch { /* already closed */ }
  return null;
}

/** The early subscribe connection if it answered `offerSdp` (the first offer the app sees), else null. */
export function takeEarlySubscription(offerSdp) {
  const e = earlySub;
  earlySub = null;
  earlyConfig = null;
  if (!e) return null;
  if (e.sdp === offerSdp) return e;
  e.pc.close(); // from a socket that is gone: this offer is for a new participant
  return null;
}

const token = linkToken();
if (token && personalToken(token)) openEarly(token);
