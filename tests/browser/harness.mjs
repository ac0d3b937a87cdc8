// Shared plumbing for the browser end-to-end tests: start the hub (and the virtual appliance) as
// child processes on fresh data dirs and ephemeral ports, mint tokens, drive Debian's Chromium
// with playwright-core, and poll conditions with deadlines. Every child is killed in `after` hooks
// and, as a last resort, when the test process exits.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TARGET = process.env.CARGO_TARGET_DIR
  ? path.resolve(process.env.CARGO_TARGET_DIR)
  : path.join(REPO, 'target');
export const HUB_BIN = process.env.LECTERN_HUB_BIN || path.join(TARGET, 'debug', 'lectern-hub');
export const APPLIANCE_BIN = process.env.LECTERN_APPLIANCE_BIN || path.join(TARGET, 'debug', 'lectern-appliance');
export const CHROMIUM = process.env.LECTERN_CHROMIUM || '/usr/bin/chromium';
/**
 * LECTERN_ASSETS_FROM_DISK=1 serves `/assets/*` (scripts, styles) from hub/assets/ instead of the
 * copies embedded in the hub binary: edit-and-rerun on the app without rebuilding the hub. The HTML
 * pages still come from the hub (a document fulfilled by the test would count as a public page and
 * Chromium's local-network-access checks would then block its WebSocket to 127.0.0.1). CI leaves
 * it unset.
 */
const ASSETS_FROM_DISK = !!process.env.LECTERN_ASSETS_FROM_DISK;
const ASSET_DIR = path.join(REPO, 'hub', 'assets');
const ASSET_TYPES = { html: 'text/html', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml' };

const LOG_TAIL_LINES = 60;

export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

// ---------------------------------------------------------------------------------------------
// child processes

const children = new Set();

process.on('exit', () => {
  for (const c of children) {
    try { c.proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/** A child process whose output is kept (last lines of each stream) for failure reports. */
export class Child {
  constructor(name, cmd, args, env) {
    this.name = name;
    this.cmd = `${cmd} ${args.join(' ')}`;
    this.lines = { stdout: [], stderr: [] };
    this.listeners = new Set();
    this.exited = null;
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this);
    for (const stream of ['stdout', 'stderr']) {
      let partial = '';
      this.proc[stream].setEncoding('utf8');
      this.proc[stream].on('data', (chunk) => {
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop();
        for (const line of parts) this.line(stream, line);
      });
      this.proc[stream].on('end', () => { if (partial) this.line(stream, partial); partial = ''; });
    }
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = { code, signal };
        children.delete(this);
        for (const l of this.listeners) l(null);
        resolve(this.exited);
      });
      this.proc.on('error', (err) => {
        this.exited = { code: null, signal: null, error: err };
        children.delete(this);
        for (const l of this.listeners) l(null);
        resolve(this.exited);
      });
    });
  }

  line(stream, line) {
    const buf = this.lines[stream];
    buf.push(line);
    if (buf.length > 2000) buf.splice(0, buf.length - 2000);
    for (const l of this.listeners) l(line);
    if (process.env.LECTERN_TEST_VERBOSE) console.error(`[${this.name} ${stream}] ${line}`);
  }

  /** Resolves with the first regex match in stdout or stderr; rejects on exit or after `timeoutMs`. */
  waitForLine(re, timeoutMs) {
    return new Promise((resolve, reject) => {
      for (const stream of ['stdout', 'stderr']) {
        for (const l of this.lines[stream]) {
          const m = re.exec(l);
          if (m) return resolve(m);
        }
      }
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (line) => {
        if (line === null) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before printing ${re}`));
          return;
        }
        const m = re.exec(line);
        if (m) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          resolve(m);
        }
      };
      this.listeners.add(listener);
    });
  }

  tail(stream, n = LOG_TAIL_LINES) {
    return this.lines[stream].slice(-n).join('\n');
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 3000) {
    if (this.exited) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => { try { this.proc.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    const res = await this.exitPromise;
    clearTimeout(timer);
    return res;
  }
}

function requireBinary(bin, what) {
  if (!existsSync(bin)) {
    throw new Error(`${what} binary not found at ${bin}: build it first (cargo build -p ${path.basename(bin)})`);
  }
}

// ---------------------------------------------------------------------------------------------
// the environment of one test file

/**
 * One test file's world: a data dir, the hub, appliances, browsers. Call `close()` in `after`,
 * and `report(err)` when a test fails to print the processes' log tails.
 */
export class Env {
  constructor(label) {
    this.label = label;
    this.dataDir = mkdtempSync(path.join(tmpdir(), `lectern-${label}-`));
    this.hub = null;
    this.appliances = [];
    this.browsers = [];
    this.pageLogs = [];
  }

  /**
   * Start the hub and wait (≤ 30 s) for `listening on http://127.0.0.1:PORT`. `port` (default: any)
   * lets a test restart the hub where the browsers expect it. `config` (TOML text) becomes its hub.toml.
   */
  async startHub({ timeoutMs = 30000, port = 0, config = null } = {}) {
    requireBinary(HUB_BIN, 'lectern-hub');
    if (this.hub && !this.hub.exited) throw new Error('the hub is already running');
    const configArgs = [];
    if (config !== null) {
      writeFileSync(path.join(this.dataDir, 'hub.toml'), config);
      configArgs.push('--config', path.join(this.dataDir, 'hub.toml'));
    }
    this.hub = new Child('hub', HUB_BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', this.dataDir, ...configArgs], {
      LECTERN_UDP_PORT: '0',
      LECTERN_BIND_IP: '127.0.0.1',
      // Every test browser connects from 127.0.0.1: the per-address join limit would throttle them.
      LECTERN_JOIN_LIMIT: 'false',
      RUST_LOG: process.env.RUST_LOG || 'info',
      NO_COLOR: '1',
    });
    const m = await this.hub.waitForLine(/listening on (http:\/\/127\.0\.0\.1:(\d+))/, timeoutMs);
    this.baseUrl = m[1];
    this.port = Number(m[2]);
    return this.baseUrl;
  }

  /**
   * The one-time web admin setup link the hub printed before `listening on` (only while no admin
   * account exists): `http://127.0.0.1:PORT/admin/setup?code=…`.
   */
  async adminSetupUrl({ timeoutMs = 5000 } = {}) {
    if (!this.hub) throw new Error('start the hub first');
    // The hub says where the link is (stdout may be a journal); the file is readable only by its user.
    const m = await this.hub.waitForLine(/first-run admin setup: the link is in (\S+)/, timeoutMs);
    return readFileSync(m[1], 'utf8').trim();
  }


  /**
   * The first admin, created on `page` from the printed setup link, then logged in: the page ends
   * on the Rooms page (`/admin`).
   */
  async setupAdmin(page, { username, password }) {
    await page.goto(await this.adminSetupUrl());
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Password again').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#setup-done').waitFor({ state: 'visible' });
    await page.goto(`${this.baseUrl}/admin/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/admin$/);
  }

  /** Adds a room with the Rooms page's form (the page must be on `/admin`). */
  async addRoom(page, { id, name, building = '', capacity = 30 }) {
    await page.getByLabel('Room id').fill(id);
    await page.getByLabel('Name', { exact: true }).fill(name);
    if (building) await page.getByLabel(/^Building/).fill(building);
    await page.getByLabel('Capacity').fill(String(capacity));
    await page.getByRole('button', { name: 'Add room' }).click();
    await page.locator('#room-created').filter({ hasText: id }).waitFor();
  }

  /**
   * A token from `lectern-hub token`: the last non-empty line of its stdout. `guest: true` mints a
   * shared guest link token (its holders choose a name and wait in the lobby).
   */
  mintToken({ room, role, name, guest = false }) {
    const args = ['token', '--data-dir', this.dataDir, '--room', room, '--role', role];
    if (name) args.push('--name', name);
    if (guest) args.push('--guest');
    const res = spawnSync(HUB_BIN, args, { encoding: 'utf8', timeout: 30000, env: { ...process.env, NO_COLOR: '1' } });
    if (res.status !== 0) {
      throw new Error(`lectern-hub ${args.join(' ')} failed (${res.status ?? res.signal}): ${res.stderr}`);
    }
    const lines = res.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!lines.length) throw new Error(`lectern-hub token printed nothing; stderr: ${res.stderr}`);
    return lines[lines.length - 1];
  }

  /**
   * A virtual box for `room`. Given its room and token on the command line it goes live at once;
   * with `idle: true` they are in its configuration files instead, as in a classroom, and it waits
   * for a lesson. `args` are added to the command line, `env` to the environment (test hooks).
   */
  startAppliance({ room, token, idle = false, args = [], env = {} }) {
    requireBinary(APPLIANCE_BIN, 'lectern-appliance');
    // Its own state dir and an ephemeral status port: tests never touch /var/lib or collide on :8090.
    const stateDir = path.join(this.dataDir, `appliance${this.appliances.length}`);
    let hubArgs = ['--room', room, '--token', token];
    if (idle) {
      mkdirSync(stateDir, { recursive: true });
      const tokenFile = path.join(stateDir, 'token');
      writeFileSync(tokenFile, token, { mode: 0o600 });
      writeFileSync(path.join(stateDir, 'appliance.toml'),
        `[hub]\nurl = "${this.baseUrl}"\nroom = "${room}"\ntoken_file = "${tokenFile}"\n`);
      hubArgs = [];
    }
    const a = new Child(`appliance${this.appliances.length}`, APPLIANCE_BIN,
      ['--virtual', '--hub', this.baseUrl, ...hubArgs,
        '--state-dir', stateDir, '--config', stateDir, '--vendor-config-dir', stateDir, '--status-listen', '127.0.0.1:0',
        ...args],
      { RUST_LOG: process.env.RUST_LOG || 'info', NO_COLOR: '1', ...env });
    this.appliances.push(a);
    return a;
  }

  /**
   * A new box with no credential: it asks the hub for a claim code and waits to be enrolled
   * (`claimCode(a)` reads the code from its log).
   */
  startUnenrolledAppliance() {
    requireBinary(APPLIANCE_BIN, 'lectern-appliance');
    const stateDir = path.join(this.dataDir, `appliance${this.appliances.length}`);
    const a = new Child(`appliance${this.appliances.length}`, APPLIANCE_BIN,
      ['--virtual', '--hub', this.baseUrl, '--state-dir', stateDir, '--config', stateDir,
        '--vendor-config-dir', stateDir, '--status-listen', '127.0.0.1:0'],
      { RUST_LOG: process.env.RUST_LOG || 'info', NO_COLOR: '1' });
    a.stateDir = stateDir;
    this.appliances.push(a);
    return a;
  }

  async launchBrowser() {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    this.browsers.push(browser);
    return browser;
  }

  /** A fresh context + page whose console output is kept for failure reports. */
  async newPage(browser, label) {
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    if (ASSETS_FROM_DISK) await context.route(/\/assets\/[^/?#]+$/, serveFromDisk);
    const page = await context.newPage();
    const log = { label, lines: [] };
    this.pageLogs.push(log);
    const keep = (s) => { log.lines.push(s); if (log.lines.length > 400) log.lines.shift(); };
    page.on('console', (m) => keep(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => keep(`pageerror: ${e.message}`));
    page.on('websocket', (ws) => {
      keep(`websocket open ${ws.url()}`);
      ws.on('framereceived', (f) => keep(`ws <- ${summarize(f.payload)}`));
      ws.on('framesent', (f) => keep(`ws -> ${summarize(f.payload)}`));
      ws.on('close', () => keep('websocket closed'));
    });
    return page;
  }

  /** Print what the processes and pages said; call when a test fails. */
  report(err) {
    const parts = [`\n===== ${this.label}: failure diagnostics (${err && err.message ? err.message.split('\n')[0] : err}) =====`];
    if (this.hub) {
      parts.push(`--- hub (${this.hub.cmd}) exit=${JSON.stringify(this.hub.exited)}`);
      parts.push(`--- hub stderr tail:\n${this.hub.tail('stderr')}`);
      parts.push(`--- hub stdout tail:\n${this.hub.tail('stdout')}`);
    }
    for (const a of this.appliances) {
      parts.push(`--- ${a.name} exit=${JSON.stringify(a.exited)}`);
      parts.push(`--- ${a.name} stderr tail:\n${a.tail('stderr')}`);
      parts.push(`--- ${a.name} stdout tail:\n${a.tail('stdout', 20)}`);
    }
    for (const p of this.pageLogs) parts.push(`--- page ${p.label}:\n${p.lines.slice(-60).join('\n')}`);
    console.error(parts.join('\n'));
  }

  /** Run `fn`; on failure print diagnostics and rethrow. */
  async diagnose(fn) {
    try {
      return await fn();
    } catch (err) {
      this.report(err);
      throw err;
    }
  }

  async close() {
    for (const b of this.browsers) await b.close().catch(() => {});
    this.browsers = [];
    await Promise.all(this.appliances.map((a) => a.stop()));
    if (this.hub) await this.hub.stop();
    if (!process.env.LECTERN_KEEP_DATA) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function serveFromDisk(route) {
  const { pathname } = new URL(route.request().url());
  const name = pathname.startsWith('/assets/') ? pathname.slice('/assets/'.length) : null;
  const file = name && !name.includes('/') ? path.join(ASSET_DIR, name) : null;
  if (!file || !existsSync(file)) return route.continue();
  return route.fulfill({
    status: 200,
    contentType: ASSET_TYPES[name.split('.').pop()] || 'application/octet-stream',
    body: readFileSync(file),
  });
}

function summarize(payload) {
  const s = typeof payload === 'string' ? payload : `<${payload.length} bytes>`;
  // SDPs and tokens are long and say little in a log: keep the type and the head.
  return s.replace(/"sdp":"(?:[^"\\]|\\.)*"/g, '"sdp":"…"').replace(/"token":"[^"]*"/g, '"token":"…"').slice(0, 400);
}

// ---------------------------------------------------------------------------------------------
// waiting

/**
 * Poll `probe` every `intervalMs` until it returns a truthy value (returned) or `timeoutMs` passes
 * (throws with `what` and the last value seen).
 */
export async function waitFor(probe, { timeoutMs = 30000, intervalMs = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    let lastError = null;
    try {
      last = await probe();
      if (last) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const seen = lastError ? `error: ${lastError.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---------------------------------------------------------------------------------------------
// page probes (run in the browser)

/** The join page URL for a token. */
/** The claim codes an unenrolled box has logged so far, oldest first. */
export function claimCodes(appliance) {
  return appliance.lines.stderr.map((l) => /claim_code=([0-9A-Z]{4}-[0-9A-Z]{4})/.exec(l)).filter(Boolean).map((m) => m[1]);
}

export function joinUrl(baseUrl, room, token) {
  return `${baseUrl}/join/${encodeURIComponent(room)}?token=${encodeURIComponent(token)}`;
}

/**
 * Inbound RTP stats of the subscribe connection, one entry per receiving transceiver, each tagged
 * with the participant the hub said it carries: [{ mid, participantId, role, kind, framesDecoded,
 * packetsReceived, bytesReceived }].
 */
export function inboundStats(page) {
  return page.evaluate(async () => {
    const l = window.lectern;
    const pc = l && l.subscribePc;
    if (!pc) return [];
    const out = [];
    for (const tr of pc.getTransceivers()) {
      if (tr.mid == null) continue;
      const info = (l.tracks || []).find((t) => String(t.mid) === tr.mid);
      const stats = await tr.receiver.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const pid = info ? info.participantId : null;
        const p = pid != null ? l.participants[pid] : null;
        out.push({
          mid: tr.mid,
          participantId: pid,
          role: p ? p.role : null,
          kind: s.kind,
          framesDecoded: s.framesDecoded || 0,
          packetsReceived: s.packetsReceived || 0,
          bytesReceived: s.bytesReceived || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
        });
      });
    }
    return out;
  });
}

/** A snapshot of window.lectern for failure messages. */
export function lecternSnapshot(page) {
  return page.evaluate(() => {
    const l = window.lectern;
    if (!l) return null;
    return {
      state: l.state,
      self: l.self,
      participants: l.participants,
      tracks: l.tracks,
      publish: l.publishPc && { signaling: l.publishPc.signalingState, ice: l.publishPc.iceConnectionState, conn: l.publishPc.connectionState },
      subscribe: l.subscribePc && { signaling: l.subscribePc.signalingState, ice: l.subscribePc.iceConnectionState, conn: l.subscribePc.connectionState },
      events: l.events.slice(-20),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// the classroom (lobby, hands, chat, polls, moderation)

/**
 * Open the join page for a new participant in its own browser context. Mints a token unless one is
 * given. Returns { page, token }; does not wait for anything.
 */
export async function openLesson(env, browser, { room, role = 'student', name, guest = false, token, label, viewport }) {
  const tok = token || env.mintToken({ room, role, name, guest });
  const page = await env.newPage(browser, label || name || role);
  if (viewport) await page.setViewportSize(viewport);
  await page.goto(joinUrl(env.baseUrl, room, tok));
  return { page, token: tok };
}

/** Waits until the hub admitted the page and sent the classroom state; returns the participant id. */
export function inLesson(page, what = 'admitted to the lesson', timeoutMs = 20000) {
  return waitFor(() => page.evaluate(() => {
    const l = window.lectern;
    return l && l.state === 'connected' && l.classroom && l.classroom.state === 'in' && l.self && l.self.participantId;
  }), { what, timeoutMs });
}

/** The page's classroom view (window.lectern.classroom), as plain data. */
export function classroomOf(page) {
  return page.evaluate(() => JSON.parse(JSON.stringify(window.lectern.classroom)));
}

/** Select a side-panel tab (people | chat | polls | room) if it is not already selected. */
export async function openTab(page, name) {
  const tab = page.getByTestId(`tab-${name}`);
  if ((await tab.getAttribute('aria-selected')) !== 'true') await tab.click();
}
