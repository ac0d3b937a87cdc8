// A scenario's human table and its one-line JSON (the contract: the JSON is the last line).

const COLUMNS = [
  ['phase', (p) => p.name],
  ['from-to s', (p) => `${p.from}-${p.to}`],
  ['video fps', (p) => p.videoFps],
  ['max width', (p) => p.maxWidth],
  ['end width', (p) => p.endWidth ?? '-'],
  ['switch s', (p) => p.switchSec ?? '-'],
  ['end width s', (p) => p.endSec ?? '-'],
  ['freeze s', (p) => p.freezeSec],
  ['freezes', (p) => p.freezes],
  ['audio concealed %', (p) => p.audioConcealedPct ?? '-'],
  ['kbps', (p) => p.kbps],
  ['pair', (p) => p.pair ?? '-'],
  ['relay', (p) => (p.relay == null ? '-' : p.relay ? 'yes' : 'no')],
  ['reconnects', (p) => p.reconnects],
  ['page', (p) => p.pageStates],
];
// Only for runs whose box sends slides.
const SLIDES_COLUMNS = [
  ['slides fps', (p) => p.slidesFps],
  ['slides min width', (p) => p.slidesMinWidth],
  ['slides gap s', (p) => p.slidesGapSec],
];

export function table(result) {
  const columns = result.phases.some((p) => p.slidesFps != null) ? [...COLUMNS.slice(0, -1), ...SLIDES_COLUMNS, COLUMNS[COLUMNS.length - 1]] : COLUMNS;
  const rows = [columns.map(([h]) => h), ...result.phases.map((p) => columns.map(([, f]) => String(f(p))))];
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i < 2 || i === r.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [
    `scenario ${result.scenario}: ${result.what}`,
    line(rows[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    ...(result.firstFrameMs != null ? [`first frame: ${(result.firstFrameMs / 1000).toFixed(1)} s after opening the link, over ${pairText(result.pair)}`] : []),
    ...(result.iceRestarts ? [`ICE restarts: ${result.iceRestarts}; participant ids seen: ${result.participant?.distinct}`] : []),
    ...(result.note ? [`note: ${result.note}`] : []),
    `teardown: ${result.teardown}`,
  ].join('\n');
}

function pairText(p) {
  if (!p) return '?';
  return `${p.local}/${p.protocol}${p.relayProtocol ? ` (relay over ${p.relayProtocol})` : ''} -> ${p.remote}`;
}

/** The JSON line: the contract fields first, the rest after. */
export function jsonLine(result) {
  const phases = result.phases.map(({ name, from, to, videoFps, maxWidth, freezeSec, audioConcealedPct, kbps, relay, ...rest }) =>
    ({ name, from, to, videoFps, maxWidth, freezeSec, audioConcealedPct, kbps, relay, ...rest }));
  const { scenario, ...rest } = result;
  return JSON.stringify({ scenario, phases, ...Object.fromEntries(Object.entries(rest).filter(([k]) => k !== 'phases')) });
}
