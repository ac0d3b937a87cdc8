// One box: live figures (refreshed every 5 s), its remote configuration (the newest version fills
// the form; the hub validates before sending, the box answers applied or failed), the history of
// what was sent, and revocation. Everything the hub sends is set as text, never as HTML.

import { ApiError, api, startPage } from './api.js';
import { STATE_LABELS, configLine, figures } from './fleet-format.js';
import { submitting } from './form.js';

const REFRESH_MS = 5000;
const room = new URLSearchParams(location.search).get('room') || '';
const FIGURES = [['version', 'Version'], ['uptime', 'Uptime'], ['encoder', 'Encoder'], ['fps', 'FPS'],
  ['bitrate', 'Bitrate'], ['loss', 'Packet loss'], ['cpu', 'CPU'], ['temperature', 'Temperature'],
  ['uplink', 'Uplink'], ['upload', 'Upload'], ['hub', 'Hub'], ['lastError', 'Last error']];
const NUMBERS = ['width', 'height', 'framerate', 'bitrateKbps', 'minBitrateKbps', 'keyframeIntervalS'];
const SWITCHES = ['adaptBitrate', 'echoCancellation', 'noiseSuppression', 'autoGain'];
const PANEL_LINES = ['goLive', 'mute', 'privacy', 'liveLed', 'mutedLed', 'faultLed'];
// The laptop capture's numbers; its inputs are named `content.<key>` so that a refusal naming
// `content.framerate` lands next to its field.
const CONTENT_NUMBERS = ['width', 'height', 'framerate', 'bitrateKbps'];

const $ = (id) => document.getElementById(id);
const form = $('config-form');
const alertBox = $('device-alert');
let filled = false;
let timer = null;

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function el(tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}

function when(unix) {
  return unix ? new Date(unix * 1000).toLocaleString() : '—';
}

function fillList(id, devices) {
  $(id).replaceChildren(...(devices || []).map((d) => {
    const o = el('option');
    o.value = d.device;
    o.label = d.name;
    return o;
  }));
}

function fillForm(config) {
  const f = form.elements;
  for (const key of ['camera', 'mic', 'speaker']) f[key].value = config[key] || '';
  for (const key of NUMBERS) f[key].value = config[key] ?? '';
  for (const key of SWITCHES) f[key].value = key in config ? String(config[key]) : '';
  f.simulcast.value = (config.simulcast || []).map((l) => `${l.width}x${l.height}@${l.bitrateKbps}`).join(', ');
  const panel = config.panel || {};
  f.chip.value = panel.chip || '';
  for (const key of PANEL_LINES) f[key].value = panel[key] ?? '';
  const content = config.content || {};
  f['content.enabled'].value = 'enabled' in content ? String(content.enabled) : '';
  f['content.device'].value = content.device || '';
  for (const key of CONTENT_NUMBERS) f[`content.${key}`].value = content[key] ?? '';
}

/** The laptop capture's fields, or undefined when all are blank (the box's own [content] stays). */
function readContent(f) {
  const content = {};
  if (f['content.enabled'].value) content.enabled = f['content.enabled'].value === 'true';
  if (f['content.device'].value.trim()) content.device = f['content.device'].value.trim();
  for (const key of CONTENT_NUMBERS) {
    const value = f[`content.${key}`].value;
    if (value !== '') content[key] = Number(value);
  }
  return Object.keys(content).length ? content : undefined;
}

/** The form as a configuration: blank fields are left out. */
function readForm() {
  const f = form.elements;
  const config = {};
  for (const key of ['camera', 'mic', 'speaker']) if (f[key].value.trim()) config[key] = f[key].value.trim();
  for (const key of NUMBERS) if (f[key].value !== '') config[key] = Number(f[key].value);
  for (const key of SWITCHES) if (f[key].value) config[key] = f[key].value === 'true';
  const layers = f.simulcast.value.split(',').map((s) => s.trim()).filter(Boolean);
  if (layers.length) {
    config.simulcast = layers.map((text) => {
      const m = /^(\d+)\s*x\s*(\d+)\s*@\s*(\d+)$/i.exec(text);
      if (!m) throw new ApiError(400, 'bad_request', `simulcast: '${text}' is not like 640x360@500`);
      return { width: Number(m[1]), height: Number(m[2]), bitrateKbps: Number(m[3]) };
    });
  }
  if (f.chip.value.trim()) {
    const panel = { chip: f.chip.value.trim() };
    for (const key of PANEL_LINES) if (f[key].value !== '') panel[key] = Number(f[key].value);
    config.panel = panel;
  }
  const content = readContent(f);
  if (content) config.content = content;
  return config;
}

function render(d) {
  setText($('device-title'), `Room ${d.room}${d.roomName ? ` — ${d.roomName}` : ''}`);
  document.title = `${d.room} · Lectern admin`;
  const badge = $('device-state');
  badge.className = `badge badge-${d.state}`;
  setText(badge, STATE_LABELS[d.state] || d.state);
  const status = [d.device ? `“${d.device.name}”, enrolled ${when(d.device.enrolledAt)} by ${d.device.enrolledBy}`
    : 'No box is enrolled for this room.', d.telemetry ? d.telemetry.status : ''].filter(Boolean).join(' · ');
  setText($('device-status'), status);
  const f = figures(d);
  const dl = $('device-figures');
  if (!dl.children.length) {
    for (const [key, label] of FIGURES) {
      const dd = el('dd');
      dd.dataset.figure = key;
      dl.append(el('dt', label), dd);
    }
  }
  for (const [key] of FIGURES) setText(dl.querySelector(`dd[data-figure="${key}"]`), f[key]);

  const picture = $('device-picture');
  if (d.snapshotAt) {
    const src = `/admin/api/devices/${encodeURIComponent(d.room)}/snapshot?at=${d.snapshotAt}`;
    if (picture.getAttribute('src') !== src) {
      picture.src = src;
      picture.alt = `The camera of room ${d.room}`;
    }
    picture.hidden = false;
  }
  const taken = d.snapshotAt ? `Taken ${when(d.snapshotAt / 1000)}.` : 'No picture yet.';
  setText($('device-picture-caption'), d.snapshotError ? `${taken} Last request: ${d.snapshotError}.` : taken);
  $('picture-refresh').hidden = !d.online;

  $('config-card').hidden = !d.device;
  $('revoke-card').hidden = !d.device;
  $('move-card').hidden = !d.device;
  if (!d.device) return;
  const newest = d.configs[0];
  setText($('config-state'), newest ? configLine({ config: newest, deviceId: d.device.id })
    : 'No configuration sent yet: the box uses its own files.');
  $('config-state').dataset.state = newest ? newest.state : 'none';
  const inv = d.inventory;
  fillList('cameras', inv && inv.cameras);
  fillList('mics', inv && inv.microphones);
  fillList('speakers', inv && inv.speakers);
  setText($('cfg-camera-help'), inv ? `This box has: ${inv.cameras.map((c) => c.device).join(', ') || 'no camera'}.`
    : 'This box has not reported its devices yet.');
  setText($('cfg-content-device-help'), inv ? `One of its cameras other than the room camera: ${
    inv.cameras.map((c) => `${c.device} (${c.name})`).join(', ') || 'none reported'}.`
    : 'This box has not reported its devices yet.');
  if (!filled) {
    fillForm(newest ? newest.config : {});
    filled = true;
  }
  $('config-history').replaceChildren(...d.configs.map((c) => {
    const tr = el('tr');
    tr.dataset.version = c.version;
    const outcome = c.state === 'failed' ? `failed: ${c.error || ''}` : c.state === 'applied'
      ? `applied ${when(c.reportedAt)}` : 'waiting for the box';
    tr.append(el('td', `v${c.version}`), el('td', when(c.createdAt)), el('td', c.createdBy), el('td', outcome));
    return tr;
  }));
}

async function refresh() {
  clearTimeout(timer);
  try {
    render(await api('GET', `devices/${encodeURIComponent(room)}`));
    setText(alertBox, '');
  } catch (err) {
    if (err.status === 401) {
      location.assign('/admin/login');
      return;
    }
    setText(alertBox, err.status === 404 ? `No room or box '${room}'.` : `Could not load the box: ${err.message}`);
  }
  timer = setTimeout(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  submitting(form, async () => {
    const sent = await api('PUT', `devices/${encodeURIComponent(room)}/config`, readForm());
    setText($('config-state'), sent.delivered ? `Config v${sent.version} sent; waiting for the box`
      : `Config v${sent.version} saved; the box is offline and gets it when it connects`);
    await refresh();
  });
});

$('revoke-ask').addEventListener('click', () => {
  setText($('revoke-question'), `Revoke the box of room ${room}? It goes offline now and must be enrolled again.`);
  $('revoke-confirm').hidden = false;
  $('revoke-no').focus();
});
$('revoke-no').addEventListener('click', () => {
  $('revoke-confirm').hidden = true;
  $('revoke-ask').focus();
});
$('revoke-yes').addEventListener('click', async () => {
  try {
    const device = await api('POST', `devices/${encodeURIComponent(room)}/revoke`);
    $('revoke-confirm').hidden = true;
    setText($('device-notice'), `Revoked “${device.name}”. It is disconnected and will show a new claim code.`);
    await refresh();
  } catch (err) {
    setText(alertBox, err.message);
  }
});
/** The move's choices: configured rooms without a box, other than this one. */
async function fillMoveTargets() {
  const select = $('move-to');
  const keep = select.value;
  const rooms = (await api('GET', 'devices')).filter((r) => r.configured && !r.deviceId && r.room !== room);
  select.replaceChildren(...rooms.map((r) => {
    const o = el('option', r.roomName ? `${r.room} — ${r.roomName}` : r.room);
    o.value = r.room;
    return o;
  }));
  if (rooms.some((r) => r.room === keep)) select.value = keep;
  $('move-ask').disabled = !rooms.length;
  setText($('move-to-help'), rooms.length ? 'Configured rooms without a box.'
    : 'Every configured room has a box: add a room on the Rooms page first.');
}
$('move-ask').addEventListener('click', async () => {
  await fillMoveTargets().catch((err) => setText(alertBox, err.message));
  const to = $('move-to').value;
  if (!to) return;
  setText($('move-question'), `Move the box of room ${room} to room ${to}? It reconnects as room ${to}'s box.`);
  $('move-confirm').hidden = false;
  $('move-no').focus();
});
$('move-no').addEventListener('click', () => {
  $('move-confirm').hidden = true;
  $('move-ask').focus();
});
$('move-yes').addEventListener('click', async () => {
  const to = $('move-to').value;
  try {
    const moved = await api('POST', `devices/${encodeURIComponent(room)}/move`, { to, force: $('move-force').checked });
    $('move-confirm').hidden = true;
    setText(alertBox, '');
    // The box lives on the new room's page now; follow it there.
    const notice = moved.delivered ? `Moved “${moved.name}” to room ${to}; it is reconnecting there.`
      : `Moved “${moved.name}” to room ${to}; it is offline and moves when it next connects.`;
    sessionStorage.setItem('device-notice', notice);
    location.assign(`/admin/device?room=${encodeURIComponent(to)}`);
  } catch (err) {
    $('move-confirm').hidden = true;
    setText(alertBox, err.message);
    $('move-ask').focus();
  }
});
$('picture-refresh').addEventListener('click', async () => {
  try {
    await api('POST', `devices/${encodeURIComponent(room)}/snapshot`);
    setText($('device-notice'), 'Asked the box for a picture; it appears in a few seconds if the camera is on.');
    // The box answers within a second or two; look again soon rather than in 5 s.
    setTimeout(refresh, 1500);
  } catch (err) {
    setText(alertBox, err.message);
  }
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });

const me = await startPage();
if (me.role !== 'admin') {
  // Operators see the box; changing or revoking it is for admins.
  form.querySelector('button[type="submit"]').hidden = true;
  $('revoke-ask').hidden = true;
  $('move-card').remove();
}
const carried = sessionStorage.getItem('device-notice');
if (carried) {
  sessionStorage.removeItem('device-notice');
  setText($('device-notice'), carried);
}
await refresh();
if (me.role === 'admin') await fillMoveTargets().catch(() => {});
