// The home page (`/`): only the join form.

import { wireJoinForm } from './form.js';

wireJoinForm(document.getElementById('join-form'));
