// The join link carries its token in the query string. Once the page has read it, it leaves the
// address bar, so it is not in a screenshot, a shared screen, the history or a bookmark; the tab
// keeps it in sessionStorage (this tab only, gone when it closes) so a reload still rejoins.

const KEY_PREFIX = 'lectern.token:';

/** What the first call found: boot.js and app.js both ask, and the address is cleaned by the first. */
let taken = null;

/** The token for this page: from the address (then taken out of it), or from this tab's storage. */
export function takeToken() {
  if (taken === null) taken = readToken();
  return taken;
}

function readToken() {
  const url = new URL(window.location.href);
  const key = KEY_PREFIX + url.pathname;
  const fromLink = (url.searchParams.get('token') || '').trim();
  if (!fromLink) {
    try {
      return sessionStorage.getItem(key) || '';
    } catch {
      return ''; // storage switched off: the link has to be opened again
    }
  }
  try {
    sessionStorage.setItem(key, fromLink);
  } catch {
    // Without storage a reload asks for the link again; the address is still cleaned.
  }
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
  return fromLink;
}
