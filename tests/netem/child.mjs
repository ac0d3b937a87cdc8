// A child process of the bed: its output goes to a log file (kept for failure reports) and can be
// waited on line by line with a deadline. Processes inside the bed's namespaces are also ended by
// `topo.sh down`, so a runner that dies still leaves nothing running.

import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';

export class Child {
  constructor(name, cmd, args, { env = {}, log }) {
    this.name = name;
    this.log = log;
    this.lines = [];
    this.listeners = new Set();
    this.exited = null;
    const out = createWriteStream(log);
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        out.write(chunk);
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop();
        for (const line of parts) this.line(line);
      });
    }
    this.exitPromise = new Promise((resolve) => {
      const done = (exited) => {
        this.exited = exited;
        for (const l of this.listeners) l(null);
        out.end();
        resolve(exited);
      };
      this.proc.on('exit', (code, signal) => done({ code, signal }));
      this.proc.on('error', (error) => done({ error: error.message }));
    });
  }

  line(line) {
    this.lines.push(line);
    if (this.lines.length > 4000) this.lines.splice(0, 1000);
    for (const l of this.listeners) l(line);
  }

  /** Resolves with the first match of `re` in the output; rejects when it exits or after `timeoutMs`. */
  waitForLine(re, timeoutMs) {
    const seen = this.lines.map((l) => re.exec(l)).find(Boolean);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const finish = (fn, v) => { clearTimeout(timer); this.listeners.delete(listener); fn(v); };
      const timer = setTimeout(() => finish(reject, new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms (log: ${this.log})`)), timeoutMs);
      const listener = (line) => {
        if (line === null) return finish(reject, new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before ${re}; log ${this.log}:\n${this.tail()}`));
        const m = re.exec(line);
        if (m) finish(resolve, m);
      };
      this.listeners.add(listener);
      if (this.exited) listener(null);
    });
  }

  tail(n = 30) {
    try { return readFileSync(this.log, 'utf8').split('\n').slice(-n).join('\n'); } catch { return this.lines.slice(-n).join('\n'); }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000) {
    if (this.exited) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => { try { this.proc.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    const res = await this.exitPromise;
    clearTimeout(timer);
    return res;
  }
}
