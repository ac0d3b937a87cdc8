// Releases page: upload a signed bundle, roll it out ring by ring, watch each box's progress (polled
// every 2 s), see what every box runs, and set the maintenance windows. What the hub sends is set as
// text, never as HTML.

import { ApiError, api, startPage } from './api.js';
import { submitting } from './form.js';

const REFRESH_MS = 2000;
const PHASES = {
  waiting: 'Waiting for its ring', assigned: 'Offered', downloading: 'Downloading', verifying: 'Verifying',
  installing: 'Installing', waitingToReboot: 'Waiting to reboot', rebooting: 'Rebooting', trial: 'Trial boot',
  good: 'Good', failed: 'Failed', rolledBack: 'Rolled back',
};

let csrfToken = '';
let fleet = [];

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function row(cells) {
  const tr = el('tr');
  for (const c of cells) tr.append(c instanceof Node ? c : el('td', c));
  return tr;
}

function td(content) {
  const cell = el('td');
  cell.append(content);
  return cell;
}

function mib(bytes) {
  return bytes == null ? '—' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function when(secs) {
  return new Date(secs * 1000).toLocaleString();
}

function phaseText(u) {
  if (!u) return '—';
  let text = `${u.version}: ${PHASES[u.phase] || u.phase}`;
  if (u.phase === 'downloading' && u.bytes != null && u.size) text += ` ${Math.floor((100 * u.bytes) / u.size)} %`;
  if (u.detail) text += ` (${u.detail})`;
  return text;
}

/** The bundle goes as the raw request body, not JSON: it may be hundreds of MiB. */
async function uploadBundle(file, version, notes) {
  const query = new URLSearchParams({ version, notes });
  let resp;
  try {
    resp = await fetch(`/admin/api/releases?${query}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'X-CSRF-Token': csrfToken },
      body: file,
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'The hub could not be reached. Check your connection and try again.');
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data && data.error, data && data.detail);
  return data;
}

function showSigning(signing) {
  const box = document.getElementById('signing');
  box.textContent = signing.available
    ? `Signatures are checked: ${signing.detail}.`
    : `Signatures cannot be checked on this hub: ${signing.detail}.`;
  box.dataset.available = String(signing.available);
}

function showReleases(releases) {
  const body = document.getElementById('releases-body');
  const select = document.getElementById('rollout-release');
  const chosen = select.value;
  body.replaceChildren(...releases.map((r) => {
    const tr = row([el('td', r.version), el('td', r.signature === 'verified' ? 'Verified' : 'Not checked (development)'),
      el('td', mib(r.size)), td(el('code', r.sha256.slice(0, 16) + '…')), el('td', `${when(r.uploadedAt)} by ${r.uploadedBy}`),
      el('td', r.notes)]);
    tr.dataset.version = r.version;
    return tr;
  }));
  select.replaceChildren(...releases.map((r) => {
    const o = el('option', r.version);
    o.value = String(r.id);
    return o;
  }));
  if (chosen) select.value = chosen;
  document.getElementById('releases-wrap').hidden = releases.length === 0;
  document.getElementById('releases-status').textContent = releases.length ? '' : 'No release uploaded yet.';
}

function showRollouts(rollouts) {
  const root = document.getElementById('rollouts');
  root.replaceChildren(...rollouts.map((r) => {
    const section = el('section', undefined, 'rollout');
    section.dataset.rollout = String(r.id);
    section.dataset.state = r.state.state;
    const title = el('h3', `Rollout ${r.id}: ${r.version}`);
    const state = el('p', r.state.state === 'paused' ? `Paused: ${r.state.reason}` : r.state.state === 'done' ? 'Done' : `Running, ring ${r.ring + 1} of ${r.rings.length}`, 'rollout-state');
    const rings = el('p', r.rings.map((g) => `ring ${g.ring + 1}: ${g.done}/${g.size} done, ${g.failed} failed`).join(' · '), 'help');
    const actions = el('div', undefined, 'actions');
    if (r.state.state === 'running' || r.state.state === 'paused') {
      const action = r.state.state === 'running' ? 'pause' : 'resume';
      const b = el('button', action === 'pause' ? 'Pause' : 'Resume');
      b.type = 'button';
      b.setAttribute('aria-label', `${action === 'pause' ? 'Pause' : 'Resume'} rollout ${r.id}`);
      b.addEventListener('click', async () => {
        try {
          await api('POST', `rollouts/${r.id}/${action}`);
          await refresh();
        } catch (err) {
          const alert = document.getElementById('rollouts-alert');
          alert.textContent = err.message;
          alert.focus();
        }
      });
      actions.append(b);
    }
    const table = el('table');
    const head = el('thead');
    head.append(row(['Box', 'Room', 'Ring', 'Step', 'Detail'].map((h) => {
      const th = el('th', h);
      th.scope = 'col';
      return th;
    })));
    const body = el('tbody');
    for (const b of r.boxes) {
      const tr = row([el('td', b.device), el('td', b.room || '—'), el('td', b.ring + 1), el('td', PHASES[b.phase] || b.phase),
        el('td', b.phase === 'downloading' && b.bytes != null ? `${mib(b.bytes)} ${b.detail || ''}` : b.detail || '')]);
      tr.dataset.device = b.device;
      tr.dataset.phase = b.phase;
      body.append(tr);
    }
    table.append(el('caption', `Boxes of rollout ${r.id}`, 'visually-hidden'), head, body);
    const wrap = el('div', undefined, 'table-wrap');
    wrap.append(table);
    section.append(title, state, rings, actions, wrap);
    return section;
  }));
  if (!rollouts.length) root.replaceChildren(el('p', 'No rollout yet.', 'empty'));
}

function showFleet(rows) {
  fleet = rows;
  const body = document.getElementById('software-body');
  body.replaceChildren(...rows.filter((r) => r.deviceId || r.software).map((r) => {
    const s = r.software || {};
    const packages = (s.packages || []).map((p) => `${p.name} ${p.version}`).join(', ');
    const tr = row([el('td', r.room), el('td', s.installer || (r.online ? '—' : 'offline')), el('td', s.release || '—'),
      el('td', s.slot || '—'), el('td', packages || '—'), el('td', phaseText(r.update))]);
    tr.dataset.room = r.room;
    tr.dataset.phase = r.update ? r.update.phase : '';
    return tr;
  }));
  const canaries = document.getElementById('rollout-canaries');
  const picked = new Set([...canaries.querySelectorAll('input:checked')].map((i) => i.value));
  canaries.replaceChildren(...rows.filter((r) => r.deviceId).map((r) => {
    const label = el('label');
    const box = el('input');
    box.type = 'checkbox';
    box.value = r.deviceId;
    box.checked = picked.has(r.deviceId);
    label.append(box, ` ${r.room}${r.name ? ` (${r.name})` : ''}`);
    return label;
  }));
  if (!canaries.children.length) canaries.append(el('p', 'No enrolled box yet.', 'help'));
  const buildings = [...new Set(rows.map((r) => r.building).filter(Boolean))].sort();
  const select = document.getElementById('rollout-building');
  const chosen = select.value;
  select.replaceChildren(el('option', '(skip)'), ...buildings.map((b) => el('option', b)));
  select.options[0].value = '';
  select.value = buildings.includes(chosen) ? chosen : '';
}

function showWindows(data) {
  document.getElementById('windows-zone').textContent = data.zone;
  const list = document.getElementById('windows-list');
  list.replaceChildren(...data.windows.map((w) => el('li', `${w.building || 'Every other building'}: ${w.start}–${w.end}`)));
  if (!data.windows.length) list.append(el('li', 'Every building: 02:00–05:00 (default)'));
}

async function refresh() {
  const [releases, devices, windows] = await Promise.all([api('GET', 'releases'), api('GET', 'devices'), api('GET', 'release-windows')]);
  showSigning(releases.signing);
  showReleases(releases.releases);
  showRollouts(releases.rollouts);
  showFleet(devices);
  showWindows(windows);
}

async function main() {
  const me = await startPage();
  csrfToken = me.csrfToken;
  const upload = document.getElementById('upload-form');
  upload.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(upload, async () => {
      const file = upload.elements.bundle.files[0];
      if (!file) throw new ApiError(400, 'invalid', 'bundle: choose the .raucb file');
      const r = await uploadBundle(file, upload.elements.version.value.trim(), upload.elements.notes.value);
      document.getElementById('upload-done').textContent = `Release ${r.version} uploaded (${r.signature === 'verified' ? 'signature verified' : 'signature not checked'}).`;
      upload.reset();
      await refresh();
    });
  });
  const rollout = document.getElementById('rollout-form');
  rollout.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(rollout, async () => {
      const rings = [];
      const canaries = [...rollout.querySelectorAll('#rollout-canaries input:checked')].map((i) => i.value);
      if (canaries.length) rings.push({ devices: canaries });
      if (rollout.elements.building.value) rings.push({ building: rollout.elements.building.value });
      if (rollout.elements.everyone.checked) rings.push({ everyone: true });
      const release = rollout.elements.release.value;
      if (!release) throw new ApiError(400, 'invalid', 'release: upload one first');
      await api('POST', `releases/${release}/rollouts`, { rings, maxFailurePercent: Number(rollout.elements.maxFailurePercent.value) });
      await refresh();
    });
  });
  const windowForm = document.getElementById('window-form');
  windowForm.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(windowForm, async () => {
      const f = windowForm.elements;
      showWindows(await api('PUT', 'release-windows', { building: f.building.value.trim(), start: f.start.value, end: f.end.value }));
    });
  });
  await refresh();
  setInterval(() => refresh().catch(() => {}), REFRESH_MS);
}

main();
