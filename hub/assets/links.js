// Join links: `https://hub/join/{room}?token=T`. Parse what a user pastes (a whole link or a bare
// token) and build the URL to go to. Room names follow proto/src/id.rs: 1–64 of [A-Za-z0-9_-].

const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidRoom(room) {
  return typeof room === 'string' && ROOM_RE.test(room);
}

/** The room in a `/join/{room}` path, or '' when there is none or it is malformed. */
export function roomFromPath(pathname) {
  const m = /^\/join\/([^/?#]+)\/?$/.exec(pathname);
  if (!m) return '';
  let room;
  try {
    room = decodeURIComponent(m[1]);
  } catch {
    return '';
  }
  return isValidRoom(room) ? room : '';
}

/**
 * Understand a pasted join link or token. Returns { room, token } or { error } with a sentence for
 * the user. `fallbackRoom` is used when a bare token is pasted.
 */
export function parseJoinInput(input, fallbackRoom = '') {
  const text = String(input || '').trim();
  if (!text) return { error: 'Paste the join link you were sent, or enter a room and a token.' };
  if (/^https?:\/\//i.test(text) || text.startsWith('/join/')) {
    let url;
    try {
      url = new URL(text, window.location.origin);
    } catch {
      return { error: 'That link could not be read. Copy it again from the message you received.' };
    }
    const room = roomFromPath(url.pathname);
    const token = (url.searchParams.get('token') || '').trim();
    if (!room) return { error: 'That link does not name a room. Copy the whole link you received.' };
    if (!token) return { error: 'That link has no token in it. Copy the whole link you received.' };
    return { room, token };
  }
  if (/\s/.test(text)) return { error: 'A token has no spaces in it. Copy it again.' };
  const room = String(fallbackRoom || '').trim();
  if (!isValidRoom(room)) return { error: 'Enter the room name (letters, digits, "-" and "_").' };
  return { room, token: text };
}

export function joinUrl(room, token) {
  return `/join/${encodeURIComponent(room)}?token=${encodeURIComponent(token)}`;
}
