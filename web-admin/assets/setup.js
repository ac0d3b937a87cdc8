// First-run setup page: the one-time code comes from the link the hub printed.

import { api, ApiError } from './api.js';
import { submitting } from './form.js';

const form = document.getElementById('setup-form');
const done = document.getElementById('setup-done');
const code = new URLSearchParams(location.search).get('code') || '';

if (!code) {
  document.getElementById('setup-missing').hidden = false;
  form.hidden = true;
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  submitting(form, async () => {
    const password = form.elements.password.value;
    if (password !== form.elements.confirm.value) {
      throw new ApiError(400, 'bad_request', 'confirm: the two passwords differ');
    }
    await api('POST', 'setup', { code, username: form.elements.username.value, password });
    // The code is spent: keep it out of history and bookmarks.
    history.replaceState(null, '', '/admin/setup');
    form.hidden = true;
    done.hidden = false;
    done.focus();
  });
});
