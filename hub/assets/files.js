// Files in the chat: the "Share a file" control (POST /api/rooms/{room}/files with the raw file,
// its name percent-encoded in Lectern-Filename) and the card a file message shows (name, size, a
// Download link). The link is the hub's signed one and always downloads (Content-Disposition:
// attachment); names are set with textContent only.

import { h } from './ui.js';

/** 1234567 → "1.2 MB". */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** The body of a file message: its name, size and a Download link. */
export function fileCard(file) {
  const name = h('span', { class: 'file-name', 'data-testid': 'file-name' });
  name.textContent = file.name;
  const size = h('span', { class: 'file-size' }, formatSize(file.size));
  const link = h('a', {
    class: 'button small',
    href: file.url,
    download: '',
    rel: 'noopener',
    'data-testid': 'file-download',
    'aria-label': `Download ${file.name} (${formatSize(file.size)})`,
  }, 'Download');
  return h('div', { class: 'file-card', 'data-testid': 'file-card' }, name, size, link);
}

/**
 * ctx: { store, role, token, room(), selfId() }. Students see the control only while the teacher
 * allows it; the hub refuses them anyway when not.
 */
export function mountFileShare(box, ctx) {
  const { store, role } = ctx;
  const input = h('input', { type: 'file', id: 'chat-file', class: 'visually-hidden', 'data-testid': 'chat-file' });
  const label = h('label', { for: 'chat-file', class: 'button small', 'data-testid': 'chat-file-label' }, 'Share a file');
  const status = h('p', { class: 'help file-status', role: 'status', 'aria-live': 'polite', 'data-testid': 'file-status' });
  const wrap = h('div', { class: 'file-share' }, input, label, status);
  box.append(wrap);
  // The label is what a keyboard reaches: Enter or Space opens the picker.
  label.tabIndex = 0;
  label.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); input.click(); }
  });

  input.addEventListener('change', async () => {
    const file = input.files && input.files[0];
    input.value = '';
    if (file) await upload(file);
  });

  async function upload(file) {
    status.textContent = `Uploading ${file.name}…`;
    status.classList.remove('error');
    label.setAttribute('aria-disabled', 'true');
    try {
      const headers = {
        Authorization: `Bearer ${ctx.token}`,
        'Content-Type': file.type || 'application/octet-stream',
        'Lectern-Filename': encodeURIComponent(file.name),
      };
      const self = ctx.selfId();
      if (self != null) headers['Lectern-Participant'] = String(self);
      const res = await fetch(`/api/rooms/${encodeURIComponent(ctx.room())}/files`, { method: 'POST', headers, body: file, cache: 'no-store' });
      if (res.ok) {
        status.textContent = `Shared ${file.name}.`;
        return;
      }
      let detail = `the hub answered ${res.status}`;
      try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
      fail(`${file.name} was not shared: ${detail}`);
    } catch (err) {
      fail(`${file.name} was not shared: ${err.message}`);
    } finally {
      label.removeAttribute('aria-disabled');
    }
  }

  function fail(text) {
    status.textContent = text;
    status.classList.add('error');
  }

  function render() {
    const allowed = role === 'teacher' || store.view.policy?.studentsMayShareFiles === true;
    wrap.hidden = !allowed;
  }
  store.on('policy', render);
  render();
  return { upload };
}
