// The matrix as one Markdown table (for docs/network.md), from the JSON lines `scripts/netem.sh all`
// collected: node tests/netem/markdown.mjs target/netem/all.jsonl

import { readFileSync } from 'node:fs';

const rows = readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const cell = (v) => (v == null ? '–' : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v));
console.log('| scenario | phase | s | video fps | max width | end width | switch s | end width s | freeze s | audio concealed % | kbps | pair | relay | reconnects | page |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  r.phases.forEach((p, i) => {
    console.log(`| ${i ? '' : `**${r.scenario}**`} | ${p.name} | ${p.from}–${p.to} | ${cell(p.videoFps)} | ${cell(p.maxWidth)} | ${cell(p.endWidth)} | ${cell(p.switchSec)} | ${cell(p.endSec)} | ${cell(p.freezeSec)} | ${cell(p.audioConcealedPct)} | ${cell(p.kbps)} | ${cell(p.pair)} | ${cell(p.relay)} | ${cell(p.reconnects)} | ${cell(p.pageStates)} |`);
  });
}
const notes = rows.filter((r) => r.note || r.teardown !== 'clean');
if (notes.length) {
  console.log('');
  for (const r of notes) console.log(`- **${r.scenario}**: ${[r.note, r.teardown !== 'clean' ? `teardown: ${r.teardown}` : null].filter(Boolean).join('; ')}`);
}
