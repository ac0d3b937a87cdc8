// Eyevinn's @eyevinn/whip-web-client (publish) and @eyevinn/webrtc-player (view) in headless Chromium,
// served from a second origin (this script's own HTTP server), against a running hub whose
// cors_origins lists that origin. Prints one JSON line per check like aiortc_whip_whep.py; exits 1
// if one failed. Started by scripts/interop.sh:
//
//   node eyevinn.mjs HUB_BASE ROOM PUBLISH_TOKEN VIEW_TOKEN PAGE_PORT EXPECTED_ICE_URL
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../browser/package.json'));
const { chromium } = require('playwright-core');
const { CHROMIUM_ARGS } = await import(path.join(here, '../../browser/harness.mjs'));

const [base, room, publishToken, viewToken, pagePort, expectedIce] = process.argv.slice(2);
const version = (name) => JSON.parse(fs.readFileSync(path.join(here, 'node_modules', name, 'package.json'))).version;
let failed = false;
// `known`: a limitation of the client, reported but not failing the suite.
const report = (client, role, check, ok, detail = '', known = false) => {
  failed ||= !ok && !known;
  console.log(JSON.stringify({ client, version: version(client), role, check, ok: !!ok, known, detail: String(detail) }));
};
const WHIP = '@eyevinn/whip-web-client';
const PLAYER = '@eyevinn/webrtc-player';

const page = `<!doctype html><meta charset="utf-8"><title>interop</title>
<video id="v" autoplay muted playsinline></video><script src="/bundle.js"></script>`;
const server = http.createServer((req, res) => {
  if (req.url === '/bundle.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    res.end(fs.readFileSync(path.join(here, 'dist/bundle.js')));
  } else {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(page);
  }
});
await new Promise((resolve) => server.listen(Number(pagePort), '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${pagePort}`;

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
try {
  const publisher = await browser.newPage();
  const consoleLines = [];
  publisher.on('console', (m) => consoleLines.push(m.text()));
  await publisher.goto(origin);
  const published = await publisher.evaluate(async ({ base, room, token }) => {
    const client = new window.Eyevinn.WHIPClient({ endpoint: `${base}/whip/${room}`, opts: { authkey: token } });
    window.client = client;
    const out = {};
    try {
      // What the page itself can read of the OPTIONS answer (CORS must expose Link).
      const options = await fetch(`${base}/whip/${room}`, { method: 'OPTIONS', headers: { Authorization: `Bearer ${token}` } });
      out.link = options.headers.get('Link');
      await client.setIceServersFromEndpoint();
      out.iceServers = (client.peer.getConfiguration().iceServers || []).map((s) => s.urls);
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      await client.ingest(stream);
      out.resource = await client.getResourceUrl();
    } catch (err) {
      out.error = String(err && err.message || err);
    }
    return out;
  }, { base, room, token: publishToken });
  report(WHIP, 'publish', `OPTIONS from ${origin}: Link header readable (CORS exposes it)`,
    !published.error && (published.link ?? '').includes(`<${expectedIce}>`), published.link ?? published.error);
  // whip-web-client 1.1.7 matches /^stun:\S+;/ on the Link value: it expects `stun:host; rel=...` without the
  // angle brackets RFC 8288 and WHIP (RFC 9725) require, so it finds no server in a standard header.
  const parsed = published.iceServers ?? [];
  report(WHIP, 'publish', 'Link ICE servers parsed by the client', parsed.includes(expectedIce),
    parsed.length ? JSON.stringify(parsed) : 'none: the client expects Link values without <>, RFC 8288 has them', true);
  report(WHIP, 'publish', 'POST (CORS) → resource URL', !!published.resource, published.resource ?? published.error);
  const connected = await publisher.waitForFunction(() => window.client.getICEConnectionState() === 'connected'
    || window.client.getICEConnectionState() === 'completed', null, { timeout: 20000 }).then(() => true, () => false);
  report(WHIP, 'publish', 'ICE + DTLS connected', connected,
    await publisher.evaluate(() => window.client.getICEConnectionState()));

  const viewer = await browser.newPage();
  await viewer.goto(origin);
  const loaded = await viewer.evaluate(async ({ base, room, token }) => {
    const player = new window.Eyevinn.WebRTCPlayer({ video: document.getElementById('v'), type: 'whep' });
    window.player = player;
    try {
      await player.load(new URL(`${base}/whep/${room}`), `Bearer ${token}`);
      return 'loaded';
    } catch (err) {
      return `error: ${err && err.message || err}`;
    }
  }, { base, room, token: viewToken });
  // load() resolves even when its POST was refused, so only what the video element shows counts.
  if (loaded !== 'loaded') report(PLAYER, 'view', 'load()', false, loaded);
  const playing = await viewer.waitForFunction(() => {
    const v = document.getElementById('v');
    return v.videoWidth > 0 && v.currentTime > 1;
  }, null, { timeout: 20000 }).then(() => true, () => false);
  const shape = await viewer.evaluate(() => {
    const v = document.getElementById('v');
    return `${v.videoWidth}x${v.videoHeight}, currentTime ${v.currentTime.toFixed(1)} s`;
  });
  report(PLAYER, 'view', `WHEP from ${origin} (CORS): plays the publisher's video`, playing, shape);

  const deleted = await publisher.evaluate(async () => {
    try { await window.client.destroy(); return 'ok'; } catch (err) { return String(err); }
  });
  report(WHIP, 'publish', 'destroy (DELETE, CORS)', deleted === 'ok', deleted);
  if (failed) console.error(consoleLines.slice(-20).join('\n'));
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
