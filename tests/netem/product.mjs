// Today's product inside the bed: the hub in its namespace, a virtual classroom box publishing
// simulcast layers from the box namespace, and (for relay scenarios) coturn in the turn namespace.
// Binaries come from LECTERN_HUB_BIN / LECTERN_APPLIANCE_BIN (default target/debug/), as in the
// browser tests.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Child } from './child.mjs';
import { testCa } from './testca.mjs';
import { ADDR, HUB_HTTP_PORT } from './topology.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(REPO, 'target');
export const HUB_BIN = process.env.LECTERN_HUB_BIN || path.join(TARGET, 'debug', 'lectern-hub');
export const APPLIANCE_BIN = process.env.LECTERN_APPLIANCE_BIN || path.join(TARGET, 'debug', 'lectern-appliance');
export const ROOM = 'netem';
/** coturn in the turn node: plain TURN on `port` (UDP and TCP), TURN over TLS on `tlsPort`. */
export const TURN = { port: 3478, tlsPort: 443 };

/** The box's picture: [video] and its [[video.simulcast]] layers (the sample config's ladder by default). */
export const DEFAULT_LADDER = {
  main: { width: 1280, height: 720, bitrate_kbps: 1500 },
  layers: [{ width: 640, height: 360, bitrate_kbps: 500 }, { width: 320, height: 180, bitrate_kbps: 150 }],
  // The teacher's laptop as a second track (the box's `[content]`, a test picture with a clock).
  slides: { width: 1920, height: 1080, framerate: 5, bitrate_kbps: 1500 },
};

function requireBinary(bin) {
  if (!existsSync(bin)) throw new Error(`${bin} not found: build it (cargo build --bins) or set LECTERN_HUB_BIN / LECTERN_APPLIANCE_BIN`);
}

export class Product {
  constructor(topology, workDir) {
    this.topo = topology;
    this.dir = workDir;
    this.dataDir = path.join(workDir, 'hub');
    this.children = [];
    mkdirSync(this.dataDir, { recursive: true });
  }

  get baseUrl() { return `http://${ADDR.hub}:${HUB_HTTP_PORT}`; }

  spawn(name, node, cmd, args, env = {}) {
    const c = new Child(name, this.topo.exec(node)[0], [...this.topo.exec(node).slice(1), cmd, ...args],
      { env: { NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info', ...env }, log: path.join(this.dir, `${name}.log`) });
    this.children.push(c);
    return c;
  }

  /**
   * coturn with TURN REST credentials (`use-auth-secret`, a secret generated for this run that the
   * hub mints each participant's credential from), relaying only towards the hub: TURN on UDP and
   * TCP, and TURN over TLS with a certificate from the run's test CA (see testca.mjs).
   */
  async startTurn() {
    this.turnSecret = randomBytes(24).toString('hex');
    this.ca = testCa(path.join(this.dir, 'ca'), ADDR.turn);
    const turn = this.spawn('turn', 'turn', 'turnserver', [
      '-n', '--no-cli', '--no-dtls', '--fingerprint', '--use-auth-secret', `--static-auth-secret=${this.turnSecret}`,
      '--realm=lectern.netem', `--listening-ip=${ADDR.turn}`, `--relay-ip=${ADDR.turn}`,
      `--listening-port=${TURN.port}`, `--tls-listening-port=${TURN.tlsPort}`, `--cert=${this.ca.cert}`, `--pkey=${this.ca.key}`,
      '--min-port=49152', '--max-port=49999', `--allowed-peer-ip=${ADDR.hub}`, '--log-file=stdout', '--simple-log', '--verbose',
      `--pidfile=${path.join(this.dir, 'turn.pid')}`,
    ]);
    // Ready once its UDP and TLS listeners are there.
    const deadline = Date.now() + 15000;
    const listening = (flags, port) => {
      const ss = spawnSync(this.topo.exec('turn')[0], [...this.topo.exec('turn').slice(1), 'ss', flags, `sport = :${port}`], { encoding: 'utf8' });
      return !!(ss.stdout && ss.stdout.trim());
    };
    for (;;) {
      if (listening('-Hlun', TURN.port) && listening('-Hltn', TURN.tlsPort)) return turn;
      if (turn.exited) throw new Error(`turnserver exited: ${turn.tail()}`);
      if (Date.now() > deadline) throw new Error(`turnserver not listening on ${TURN.port}/udp and ${TURN.tlsPort}/tcp within 15 s: ${turn.tail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The hub on the hub node; `turn: true` hands browsers the bed's coturn (`[[media.turn]]`, the run's secret). */
  async startHub({ turn = false, recording = false } = {}) {
    requireBinary(HUB_BIN);
    const args = ['serve', '--listen', `${ADDR.hub}:${HUB_HTTP_PORT}`, '--data-dir', this.dataDir];
    if (turn) {
      if (!this.turnSecret) throw new Error('start coturn (startTurn) before the hub');
      const conf = path.join(this.dir, 'hub.toml');
      writeFileSync(conf, [
        '[[media.turn]]',
        `urls = ["turn:${ADDR.turn}:${TURN.port}?transport=udp", "turn:${ADDR.turn}:${TURN.port}?transport=tcp", "turns:${ADDR.turn}:${TURN.tlsPort}?transport=tcp"]`,
        `secret = "${this.turnSecret}"`, '',
      ].join('\n'));
      args.push('--config', conf);
    }
    // A recording scenario records every lesson (the hub's `[recording] default`).
    const env = { LECTERN_BIND_IP: ADDR.hub, LECTERN_UDP_PORT: '50000', ...(recording ? { LECTERN_RECORDING_DEFAULT: 'always' } : {}) };
    this.hub = this.spawn('hub', 'hub', HUB_BIN, args, env);
    await this.hub.waitForLine(/listening on http:\/\//, 30000);
    return this.hub;
  }

  mintToken(role, name) {
    const args = ['token', '--data-dir', this.dataDir, '--room', ROOM, '--role', role, '--name', name, '--ttl', '2h'];
    const res = spawnSync(HUB_BIN, args, { encoding: 'utf8', timeout: 30000, env: { ...process.env, NO_COLOR: '1' } });
    if (res.status !== 0) throw new Error(`lectern-hub ${args.join(' ')} failed: ${res.stderr}`);
    return res.stdout.trim().split('\n').pop().trim();
  }

  /**
   * The virtual box publishing `ladder`; resolves once the hub receives its top layer. With
   * `gatherAll` its ICE gathers on whatever addresses it has (as a real box does), so it can follow
   * an address change; otherwise on its bed address only. With `recording` ({ fragmentMinutes,
   * uploadKbps }) it records the lessons the hub asks it to and uploads each file as it closes.
   */
  async startBox(ladder = DEFAULT_LADDER, { gatherAll = false, recording = null } = {}) {
    requireBinary(APPLIANCE_BIN);
    const stateDir = path.join(this.dir, 'box');
    mkdirSync(stateDir, { recursive: true });
    const layer = (l) => [`width = ${l.width}`, `height = ${l.height}`, `bitrate_kbps = ${l.bitrate_kbps}`];
    writeFileSync(path.join(stateDir, 'appliance.toml'), [
      '[video]', ...layer(ladder.main), 'encoders = ["x264enc"]',
      ...ladder.layers.flatMap((l) => ['[[video.simulcast]]', ...layer(l)]),
      ...(ladder.slides ? ['[content]', 'device = "/dev/video-slides"', ...layer(ladder.slides), `framerate = ${ladder.slides.framerate}`] : []),
      ...(recording ? ['[recording]', `dir = "${path.join(stateDir, 'recordings')}"`, `fragment_minutes = ${recording.fragmentMinutes}`,
        'min_free_mb = 0', `upload_kbps = ${recording.uploadKbps}`] : []),
      '',
    ].join('\n'));
    this.box = this.spawn('box', 'box', APPLIANCE_BIN, [
      '--virtual', '--hub', this.baseUrl, '--room', ROOM, '--token', this.mintToken('device', 'Room box'),
      '--state-dir', stateDir, '--config', stateDir, '--vendor-config-dir', stateDir,
      '--status-listen', '127.0.0.1:0', ...(gatherAll ? [] : ['--ice-address', ADDR.box]),
    ]);
    await this.hub.waitForLine(/simulcast layer arriving rid=f\b/, 60000);
    return this.box;
  }

  /** Puts the room's lesson live as its teacher would (`POST /api/rooms/{room}/live`), from `node`'s namespace. */
  goLive(topo, node) {
    const url = `${this.baseUrl}/api/rooms/${ROOM}/live`;
    const auth = `Authorization: Bearer ${this.mintToken('teacher', 'Netem teacher')}`;
    const res = spawnSync(topo.exec(node)[0], [...topo.exec(node).slice(1), 'curl', '-fsS', '-X', 'POST', '-H', auth, url],
      { encoding: 'utf8', timeout: 30000 });
    if (res.status !== 0) throw new Error(`POST ${url} failed: ${res.stderr || res.status}`);
  }

  async stop() {
    await Promise.all(this.children.map((c) => c.stop()));
  }
}
