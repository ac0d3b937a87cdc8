// How the fleet view shows a device's figures, and which rows the filters keep. No DOM here.

export const STATE_LABELS = {
  live: 'Live',
  idle: 'Idle',
  connecting: 'Connecting',
  reconnecting: 'Reconnecting',
  unknown: 'No report yet',
  offline: 'Offline',
};

const DASH = '—';

function num(v, digits) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : null;
}

/** "3 d 4 h", "2 h 05 min", "4 min 07 s", "12 s". */
export function duration(secs) {
  if (typeof secs !== 'number' || !Number.isFinite(secs) || secs < 0) return DASH;
  const s = Math.floor(secs);
  const pad = (n) => String(n).padStart(2, '0');
  if (s >= 86400) return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${s} s`;
}

/** The cells of a device's row, as text, by column key. */
export function figures(d) {
  const t = d.telemetry || {};
  const unit = (v, digits, suffix) => { const n = num(v, digits); return n === null ? DASH : `${n}${suffix}`; };
  return {
    building: d.building || DASH,
    version: [d.version, software(d.software), update(d.update)].filter(Boolean).join(' · ') || DASH,
    uptime: d.telemetry ? duration(t.uptimeSecs) : DASH,
    encoder: t.encoder || DASH,
    fps: unit(t.fps, 1, ''),
    bitrate: unit(t.bitrateKbps, 0, ' kbit/s'),
    loss: unit(t.packetLossPercent, 1, ' %'),
    cpu: unit(t.cpuPercent, 0, ' %'),
    temperature: unit(t.temperatureC, 0, ' °C'),
    lastError: t.lastError || DASH,
    uplink: uplink(t.uplink),
    upload: upload(d.upload || t.upload),
    hub: d.online ? (nodeLine(d) || 'This hub') : DASH,
  };
}

/** On a cluster: which hub the box keeps its control channel to, when it is another one. */
export function nodeLine(d) {
  if (!d.node || !d.online) return '';
  let host = d.node;
  try { host = new URL(d.node).host; } catch { /* not a URL: shown as it is */ }
  return `Connected to hub ${host}`;
}

/** Recordings on the box the hub does not hold yet: "3 files, 120.0 MB waiting", or a dash. */
export function upload(u) {
  if (!u || !(u.files > 0)) return DASH;
  const mb = num((u.bytes || 0) / 1e6, 1);
  const files = `${u.files} file${u.files === 1 ? '' : 's'}`;
  return `${files}, ${mb} MB waiting${u.error ? ` (last try: ${u.error})` : ''}`;
}

/** What the box runs: "image 7.1.0 (slot B)", "lectern-appliance 0.1.0" (Debian), or null. */
export function software(s) {
  if (!s) return null;
  if (s.release) return `image ${s.release}${s.slot ? ` (slot ${s.slot})` : ''}`;
  if (s.packages && s.packages.length) return s.packages.map((p) => `${p.name} ${p.version}`).join(', ');
  return null;
}

const PHASES = {
  waiting: 'waiting for its ring', assigned: 'assigned', downloading: 'downloading', verifying: 'verifying',
  installing: 'installing', waitingToReboot: 'waiting to restart', rebooting: 'restarting', trial: 'on trial',
  good: 'done', failed: 'failed', rolledBack: 'rolled back',
};

/** Where an update to the box is: "→ 7.1.0: downloading 40 %"; null once done or without one. */
export function update(u) {
  if (!u || u.phase === 'good') return null;
  const pct = u.phase === 'downloading' && u.size > 0 && typeof u.bytes === 'number' ? ` ${Math.floor((100 * u.bytes) / u.size)} %` : '';
  return `→ ${u.version}: ${PHASES[u.phase] || u.phase}${pct}`;
}

const UPLINK_REASONS = { clean: 'clear', loss: 'packet loss', queue: 'queue building up', hold: 'holding' };

/** "1200 of 2150 kbit/s, reduced (packet loss) · RTT floor 12 ms · 3 keyframe requests". */
export function uplink(u) {
  if (!u) return DASH;
  const rate = num(u.targetKbps, 0) === null ? DASH
    : `${num(u.targetKbps, 0)}${num(u.maxKbps, 0) === null ? '' : ` of ${num(u.maxKbps, 0)}`} kbit/s`;
  const why = UPLINK_REASONS[u.reason] || null;
  const state = u.adapting ? `reduced${why ? ` (${why})` : ''}` : `full rate${why && u.reason !== 'clean' ? ` (${why})` : ''}`;
  const parts = [`${rate}, ${state}`];
  if (num(u.rttFloorMs, 0) !== null) parts.push(`RTT floor ${num(u.rttFloorMs, 0)} ms`);
  const kf = num(u.keyframeRequests, 0);
  if (kf !== null) parts.push(`${kf} keyframe request${kf === '1' ? '' : 's'}`);
  return parts.join(' · ');
}

/** Does a device pass the filters `{building, room, state}` (empty = any)? */
export function matches(d, { building, room, state }) {
  if (building && d.building !== building) return false;
  if (state && d.state !== state) return false;
  const q = (room || '').trim().toLowerCase();
  if (q) {
    const hay = [d.room, d.roomName, d.name].filter(Boolean).join(' ').toLowerCase();
    if (!hay.includes(q)) return false;
  }
  return true;
}

/** The newest configuration's state, for the fleet row and the device page. */
export function configLine(d) {
  const c = d.config;
  if (!c) return d.deviceId ? 'Enrolled' : '';
  if (c.state === 'applied') return `Config v${c.version} applied`;
  if (c.state === 'failed') return `Config v${c.version} failed: ${c.error || 'no reason given'}`;
  return `Config v${c.version} waiting for the box`;
}
