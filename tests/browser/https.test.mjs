// HTTPS served by the hub itself ([tls]) with a test CA made here: the classroom box connects
// with hub.ca_file, Chromium trusts the CA through an NSS database in its own HOME (certutil from
// libnss3-tools, as a school would install its CA) and decodes the room over https:// and wss://.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, Child, Env, HUB_BIN, inboundStats, joinUrl, lecternSnapshot, waitFor } from './harness.mjs';

const ROOM = 'room-https';
const env = new Env('https');
const dir = path.join(env.dataDir, 'pki');

const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

/** A CA and a leaf for 127.0.0.1 / localhost, with openssl (EC P-256, 30 days). */
function makeTestCa() {
  mkdirSync(dir, { recursive: true });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
    '-subj', '/CN=Lectern browser test CA', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  writeFileSync(path.join(dir, 'leaf.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  issueLeaf('localhost', 'cert.pem', 'key.pem');
}

/** A leaf with common name `cn` from the test CA (the name tells browsers' certificates apart). */
function issueLeaf(cn, cert, key) {
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`,
    '-keyout', key, '-out', 'leaf.csr');
  ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30',
    '-extfile', 'leaf.ext', '-out', cert);
}

/** $HOME/.pki/nssdb trusting the test CA for TLS servers: where Chromium on Linux looks. */
function nssHome() {
  const home = path.join(env.dataDir, 'home');
  const db = path.join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password']);
  execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'lectern-test-ca', '-i', path.join(dir, 'ca.pem')]);
  return home;
}

async function startTlsHub() {
  const config = path.join(env.dataDir, 'hub.toml');
  writeFileSync(config, `[tls]\ncert = "${path.join(dir, 'cert.pem')}"\nkey = "${path.join(dir, 'key.pem')}"\n`);
  env.hub = new Child('hub', HUB_BIN, ['serve', '--listen', '127.0.0.1:0', '--config', config, '--data-dir', env.dataDir], {
    LECTERN_UDP_PORT: '0',
    LECTERN_BIND_IP: '127.0.0.1',
    LECTERN_JOIN_LIMIT: 'false',
    RUST_LOG: process.env.RUST_LOG || 'info',
    NO_COLOR: '1',
  });
  const m = await env.hub.waitForLine(/listening on (https:\/\/127\.0\.0\.1:(\d+))/, 30000);
  env.baseUrl = m[1];
  env.port = Number(m[2]);
}

let home;
before(async () => {
  await env.diagnose(async () => {
    makeTestCa();
    home = nssHome();
    await startTlsHub();
    // The box trusts the school's CA through hub.ca_file in its appliance.toml (its config dir).
    const boxDir = path.join(env.dataDir, 'appliance0');
    mkdirSync(boxDir, { recursive: true });
    writeFileSync(path.join(boxDir, 'appliance.toml'), `[hub]\nca_file = "${path.join(dir, 'ca.pem')}"\n`);
    env.startAppliance({ room: ROOM, token: env.mintToken({ room: ROOM, role: 'device', name: 'Room 101' }) });
  });
});

after(() => env.close());

test('the box and Chromium reach a hub serving HTTPS with a test CA; the student decodes the room', { timeout: 120000 }, () => env.diagnose(async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, env: { ...process.env, HOME: home } });
  env.browsers.push(browser);
  const page = await env.newPage(browser, 'student');
  const token = env.mintToken({ room: ROOM, role: 'student', name: 'Ada' });
  const socket = page.waitForEvent('websocket');
  // No ignoreHTTPSErrors: an untrusted certificate fails this navigation.
  const resp = await page.goto(joinUrl(env.baseUrl, ROOM, token));
  assert.equal(resp.status(), 200);
  assert.equal(resp.headers()['strict-transport-security'], 'max-age=31536000');
  const security = await resp.securityDetails();
  assert.equal(security.subjectName, 'localhost');
  assert.equal(security.issuer, 'Lectern browser test CA');
  assert.equal(await page.evaluate(() => window.isSecureContext && location.protocol), 'https:');
  assert.match((await socket).url(), /^wss:\/\/127\.0\.0\.1:\d+\/rtc/);

  const fromDevice = (stats, kind) => stats.find((s) => s.role === 'device' && s.kind === kind);
  await waitFor(async () => (fromDevice(await inboundStats(page), 'video')?.framesDecoded ?? 0) > 10, {
    timeoutMs: 60000, what: 'decoded frames from the box over HTTPS',
  }).catch(async (err) => {
    err.message += `\nlectern: ${JSON.stringify(await lecternSnapshot(page).catch(() => null))}`;
    throw err;
  });
  assert.equal(await page.evaluate(() => window.lectern.state), 'connected');

  // A renewed certificate mid-lesson: new connections get it, the student's lesson goes on.
  const self = await page.evaluate(() => window.lectern.self.participantId);
  const before = fromDevice(await inboundStats(page), 'video').framesDecoded;
  issueLeaf('localhost-renewed', 'cert.next.pem', 'key.next.pem');
  // Key first, then the certificate, each replaced whole (rename), as a renewal hook would.
  renameSync(path.join(dir, 'key.next.pem'), path.join(dir, 'key.pem'));
  renameSync(path.join(dir, 'cert.next.pem'), path.join(dir, 'cert.pem'));
  const renewed = await waitFor(async () => {
    // A new context: its own connections, not the first page's kept-alive one.
    const context = await browser.newContext();
    try {
      const r = await (await context.newPage()).goto(`${env.baseUrl}/healthz`);
      const name = (await r.securityDetails()).subjectName;
      return name === 'localhost-renewed' ? name : null;
    } finally {
      await context.close();
    }
  }, { timeoutMs: 15000, what: 'new connections to get the renewed certificate' });
  assert.equal(renewed, 'localhost-renewed');
  await waitFor(async () => fromDevice(await inboundStats(page), 'video').framesDecoded > before + 25, {
    timeoutMs: 20000, what: 'the student to keep decoding after the renewal',
  });
  assert.equal(await page.evaluate(() => window.lectern.state), 'connected');
  assert.equal(await page.evaluate(() => window.lectern.self.participantId), self, 'same participant: no rejoin');
}));
