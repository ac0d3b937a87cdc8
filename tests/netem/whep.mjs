// The other kind of student: an aiortc WHEP viewer (whep.py) inside the student namespace, with the
// same sample() as the Chromium student, so a scenario runs with either (NETEM_CLIENT=whep).
// aiortc lives in a venv under target/ (tests/netem/need.sh makes it).

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Child } from './child.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const VENV_PYTHON = path.join(HERE, '../../target/netem-venv/bin/python');

export class WhepViewer {
  constructor({ netns, logDir }) {
    this.netns = netns;
    this.logDir = logDir;
    this.latest = null;
  }

  /** Starts receiving `room` from the hub at `baseUrl` with a viewer token. */
  start(baseUrl, room, token) {
    this.child = new Child('whep', 'ip', ['netns', 'exec', this.netns, VENV_PYTHON, path.join(HERE, 'whep.py'),
      `${baseUrl}/whep/${encodeURIComponent(room)}`, token], { log: path.join(this.logDir, 'whep.log') });
    this.child.listeners.add((line) => {
      if (line && line.startsWith('{')) { try { this.latest = JSON.parse(line); } catch { /* partial */ } }
    });
  }

  async sample() {
    if (this.child.exited) throw new Error(`whep.py exited: ${this.child.tail(10)}`);
    return this.latest || { state: 'new', pc: null, ice: null, video: null, audio: null, bytes: null, pair: null };
  }

  async close() { if (this.child) await this.child.stop(); }
}
