// Login page: POST /admin/api/login, then on to the rooms page.

import { api } from './api.js';
import { submitting } from './form.js';

const form = document.getElementById('login-form');
form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  submitting(form, async () => {
    await api('POST', 'login', {
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    location.assign('/admin');
  });
});
