// The time-to-first-frame table of docs/network.md ("Reach") from `scripts/netem.sh reach` JSON lines:
// per scenario the runs' first frame (from opening the join link to the box's first decoded frame)
// and the selected candidate pair then.   node tests/netem/reach_table.mjs target/netem/reach.jsonl

import { readFileSync } from 'node:fs';

const PATH = { direct: 'UDP to the hub', udpblocked: 'ICE-TCP to the hub', relayonly: 'TURN over UDP', turntls: 'TURN over TLS (TCP 443)' };

const runs = readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const by = new Map();
for (const r of runs) by.set(r.scenario, [...(by.get(r.scenario) || []), r]);
const s = (ms) => (ms == null ? 'none' : (ms / 1000).toFixed(1));
console.log('| scenario | path | first frame, s (each run) | median s | selected pair |');
console.log('|---|---|---|---|---|');
for (const [name, rs] of by) {
  const t = rs.map((r) => r.firstFrameMs);
  const ok = t.filter((x) => x != null).sort((a, b) => a - b);
  const median = ok.length ? ok[Math.floor((ok.length - 1) / 2)] : null;
  const pairs = [...new Set(rs.map((r) => (r.pair ? `${r.pair.local}/${r.pair.protocol}${r.pair.relayProtocol ? ` (relay over ${r.pair.relayProtocol})` : ''} → ${r.pair.remote}` : 'none')))];
  console.log(`| \`${name}\` | ${PATH[name] || ''} | ${t.map(s).join(', ')} | ${s(median)} | ${pairs.join('; ')} |`);
}
