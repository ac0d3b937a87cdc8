// The runner's handle on tests/netem/topo.sh: one run's namespaces, addresses and impairments.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TOPO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'topo.sh');

export const NODES = ['hub', 'box', 's1', 'turn'];
/** Fixed inside the bed: every node has its own namespace, so nothing can collide. */
export const ADDR = Object.fromEntries(NODES.map((n, i) => [n, `10.213.${i + 1}.2`]));
export const HUB_HTTP_PORT = 8080;

function topo(args, { timeoutMs = 30000 } = {}) {
  const res = spawnSync(TOPO, args, { encoding: 'utf8', timeout: timeoutMs });
  return { ok: res.status === 0, status: res.status ?? res.signal, out: `${res.stdout || ''}${res.stderr || ''}`.trim() };
}

function must(args, opts) {
  const res = topo(args, opts);
  if (!res.ok) throw new Error(`topo.sh ${args.join(' ')} failed (${res.status}): ${res.out}`);
  return res.out;
}

export class Topology {
  constructor(run) {
    if (!/^[a-z0-9]{1,8}$/.test(run)) throw new Error(`run id '${run}': 1-8 of [a-z0-9]`);
    this.run = run;
  }

  up() { must(['up', this.run], { timeoutMs: 60000 }); }

  /** Replace `link`'s impairments, e.g. set('s1', ['rate=600']); set('s1', []) clears it. */
  set(link, impairments) { must(['set', this.run, link, ...impairments]); }

  /** Moves `node` to another address on its subnet (a network change); returns the new one. */
  readdress(node) { return must(['readdress', this.run, node]); }

  netns(node) { return `lnt-${this.run}-${node}`; }

  /** argv prefix running a command inside `node`'s namespace. */
  exec(node) { return ['ip', 'netns', 'exec', this.netns(node)]; }

  /** The router's tc counters on `link` (text), for reports. */
  stats(link) { return topo(['stats', this.run, link]).out; }

  /** Ends every process inside the run's namespaces and deletes them. Never throws. */
  down() { return topo(['down', this.run], { timeoutMs: 60000 }); }

  /** What of this run is left (namespaces, and any lnt- link, qdisc or nft table in the host's namespace). */
  leftovers() {
    const res = topo(['leftovers', this.run]);
    return res.ok ? [] : res.out.split('\n').filter(Boolean);
  }
}

/** The tbf counters in `topo.sh stats` output, one entry per tbf qdisc: [{ rate, sentBytes, dropped, overlimits }]. */
export function tbfCounters(text) {
  const out = [];
  const re = /qdisc tbf \S+ root .*?rate (\S+).*?\n\s*Sent (\d+) bytes \d+ pkt \(dropped (\d+), overlimits (\d+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ rate: m[1], sentBytes: Number(m[2]), dropped: Number(m[3]), overlimits: Number(m[4]) });
  }
  return out;
}
