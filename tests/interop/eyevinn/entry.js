// The two Eyevinn clients as globals for eyevinn.mjs's page (bundled by `npm run bundle`).
import { WHIPClient } from '@eyevinn/whip-web-client';
import { WebRTCPlayer } from '@eyevinn/webrtc-player';

window.Eyevinn = { WHIPClient, WebRTCPlayer };
