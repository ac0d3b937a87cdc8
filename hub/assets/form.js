// The "paste your join link" form, used on the home page and on a join page opened without a token.

import { joinUrl, parseJoinInput } from './links.js';

/**
 * Wire a form with fields `link` and (optionally) `room`, and an element `[data-error]` for errors.
 * `fixedRoom` is the room from the page's path, used when only a token is pasted.
 */
export function wireJoinForm(form, fixedRoom = '') {
  const errorEl = form.querySelector('[data-error]');
  const linkInput = form.elements.namedItem('link');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const roomInput = form.elements.namedItem('room');
    const room = roomInput ? roomInput.value : fixedRoom;
    const parsed = parseJoinInput(linkInput.value, room);
    if (parsed.error) {
      errorEl.textContent = parsed.error;
      errorEl.hidden = false;
      linkInput.setAttribute('aria-invalid', 'true');
      linkInput.focus();
      return;
    }
    errorEl.hidden = true;
    linkInput.removeAttribute('aria-invalid');
    window.location.assign(joinUrl(parsed.room, parsed.token));
  });
}
