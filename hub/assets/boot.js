// The join page's first script: it sends `join` while the rest of the app is still loading (the
// app's module graph is a few dozen files), so the hub's `joined` and `subscribeOffer` are waiting
// when the app starts. The app takes the socket over (signal.js `openEarly`); it reads the same
// token (address.js keeps what it took). Guests are asked their name first: nothing early for them.

import { takeToken } from './address.js';
import { isGuestToken } from './claims.js';
import { openEarly } from './signal.js';

const token = takeToken();
if (token && !isGuestToken(token)) openEarly(token);
