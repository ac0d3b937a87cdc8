// The whiteboard: a CRDT document (yjs) per lesson, synced through the hub over the room's socket
// (proto/src/board.rs). The hub applies every update first and forwards only what it accepted; a
// refused change comes back as `boardRefused` and the whole document (`boardSync` with reset).
//
// The document: root arrays `page-0`, `page-1`, … of plain items (strokes, shapes, text), and a
// root map `meta` with `pages` (how many) and `bg-N` (page N's background: a JPEG of the slides,
// bytes). Item coordinates are integers, 0..10000 of the page's width and height (16:9): Yjs
// stores small integers in 2-3 bytes, floats in 9. The laser pointer is not in the document:
// `boardPointer` messages (0..1), shown for a moment.

import * as Y from './yjs.js';
import { toast } from './toast.js';

/** Largest update the hub takes (proto's MAX_UPDATE_BYTES). */
export const MAX_UPDATE_BYTES = 32 * 1024;
/** Local changes are sent at most this often, merged (the socket's budget is 20 messages a second). */
const FLUSH_MS = 100;
const POINTER_MS = 120;
/** After a refusal with no whole document following (the hub paces those), ask for it this late. */
const RESYNC_ASK_MS = 2500;
const POINTER_SHOW_MS = 2500;
/** The origin of this page's own edits: undo and redo track only these. */
const LOCAL = 'local';
const HUB = 'hub';
const W = 1600;
const H = 900;
const BG_MAX_BYTES = 24 * 1024;
/** Board units per page width or height (item coordinates). */
const UNIT = 10000;

const TOOLS = [
  ['pen', 'Pen'], ['highlighter', 'Highlighter'], ['line', 'Line'], ['rect', 'Rectangle'],
  ['ellipse', 'Ellipse'], ['text', 'Text'], ['eraser', 'Eraser'], ['laser', 'Laser pointer'],
];

export function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** One of the lesson's documents (`board` or `notes`) as this page holds it. */
export class SyncedDoc {
  constructor(kind, send) {
    this.kind = kind;
    this.send = send;
    this.doc = null;
    this.queue = [];
    this.timer = null;
    this.listeners = new Set();
    this.load(null);
  }

  /** Replaces the local copy (a sync from the hub is the whole document). */
  load(bytes) {
    clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.doc?.destroy();
    const doc = new Y.Doc();
    if (bytes) Y.applyUpdate(doc, bytes, HUB);
    doc.on('update', (update, origin) => { if (origin !== HUB) this.enqueue(update); });
    this.doc = doc;
    this.generation = (this.generation || 0) + 1;
    for (const fn of this.listeners) fn(doc);
  }

  /** The hub refused a change of ours: our copy holds it, so it must be replaced by the hub's. */
  refused() {
    const generation = this.generation;
    setTimeout(() => {
      if (this.generation === generation) this.send({ type: 'boardResync', doc: this.kind });
    }, RESYNC_ASK_MS);
  }

  /** `fn(doc)` now and whenever the local copy is replaced. */
  onLoad(fn) {
    this.listeners.add(fn);
    fn(this.doc);
  }

  /** A change goes out at once (after this task) unless one went less than FLUSH_MS ago. */
  enqueue(update) {
    this.queue.push(update);
    if (this.timer) return;
    const wait = Math.max(0, (this.sentAt ?? -Infinity) + FLUSH_MS - performance.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    this.timer = null;
    if (!this.queue.length) return;
    this.sentAt = performance.now();
    const queue = this.queue;
    this.queue = [];
    // Merged into as few messages as fit the hub's limit (a busy page may have queued many).
    let batch = [];
    let size = 0;
    const send = () => {
      if (batch.length) this.send({ type: 'boardUpdate', doc: this.kind, update: toBase64(Y.mergeUpdates(batch)) });
      batch = [];
      size = 0;
    };
    for (const update of queue) {
      if (update.length > MAX_UPDATE_BYTES - 1024) {
        // One change too large to share (a huge paste): the hub would refuse it, and what follows
        // builds on it. Start again from the hub's copy.
        send();
        toast('That change is too large to share; it was undone.', { kind: 'error' });
        this.send({ type: 'boardResync', doc: this.kind });
        return;
      }
      if (size + update.length > MAX_UPDATE_BYTES - 1024) send();
      batch.push(update);
      size += update.length;
    }
    send();
  }

  /** A board message from the hub for this document. */
  hubMessage(msg) {
    if (msg.type === 'boardSync') this.load(fromBase64(msg.update));
    else if (msg.type === 'boardUpdate') Y.applyUpdate(this.doc, fromBase64(msg.update), HUB);
  }
}

/** Who may draw now (the hub enforces the same rule). */
export function mayDraw(role, policy, selfId) {
  if (role === 'teacher') return true;
  if (role !== 'student' || !policy) return false;
  return policy.mode === 'everyone' || (policy.mode === 'pen' && policy.pen === selfId);
}

const byId = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'testid') e.dataset.testid = v;
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

export class Whiteboard {
  /**
   * ctx: { send, role, selfId() -> id, people() -> {id: info} }. `synced` is the board's SyncedDoc.
   * Mounts into #board; the #board-toggle control shows and hides it.
   */
  constructor(ctx, synced) {
    this.ctx = ctx;
    this.synced = synced;
    this.policy = { mode: 'locked', pen: null, notesReadOnly: false };
    this.page = 0;
    this.tool = 'pen';
    this.color = '#1f4ea8';
    this.width = 4;
    this.drawing = null; // the item being drawn
    this.pointers = new Map(); // participant -> { page, x, y, at }
    this.lastPointer = 0;
    this.bgCache = new WeakMap(); // background bytes -> ImageBitmap
    this.frame = 0;
    this.build();
    synced.onLoad((doc) => this.attach(doc));
  }

  get doc() {
    return this.synced.doc;
  }

  attach(doc) {
    this.undo?.destroy();
    this.meta = doc.getMap('meta');
    this.undo = new Y.UndoManager([this.meta], { trackedOrigins: new Set([LOCAL]), captureTimeout: 0 });
    for (let i = 0; i < this.pageCount(); i++) this.undo.addToScope(doc.getArray(`page-${i}`));
    this.undo.on('stack-item-added', () => this.renderTools());
    this.undo.on('stack-item-popped', () => this.renderTools());
    doc.on('afterTransaction', () => this.changed());
    this.page = Math.min(this.page, this.pageCount() - 1);
    this.changed();
  }

  pageCount() {
    return Math.max(1, Number(this.meta?.get('pages')) || 1);
  }

  items(page = this.page) {
    return this.doc.getArray(`page-${page}`);
  }

  /** Something changed (locally or from the hub): draw again on the next frame. */
  changed() {
    if (this.ctx.role === 'device' && this.root.hidden && this.items().length) this.show(true);
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  build() {
    this.root = byId('board');
    this.toggle = byId('board-toggle');
    this.toggle.hidden = false;
    this.toggle.addEventListener('click', () => this.show(this.root.hidden));
    this.canvas = el('canvas', { width: W, height: H, class: 'board-canvas', testid: 'board-canvas',
      role: 'img', 'aria-label': 'Whiteboard' });
    this.ctx2d = this.canvas.getContext('2d');
    this.status = el('p', { class: 'board-status', testid: 'board-status', role: 'status' });
    this.toolbar = el('div', { class: 'board-tools', role: 'toolbar', 'aria-label': 'Whiteboard tools' });
    this.toolButtons = TOOLS.map(([tool, label]) => {
      const b = el('button', { type: 'button', class: 'tool', testid: `board-tool-${tool}`, 'aria-pressed': 'false' }, label);
      b.addEventListener('click', () => { this.tool = tool; this.renderTools(); });
      return b;
    });
    this.colorInput = el('input', { type: 'color', value: this.color, 'aria-label': 'Colour', testid: 'board-color' });
    this.colorInput.addEventListener('input', () => { this.color = this.colorInput.value; });
    this.textInput = el('input', { type: 'text', maxlength: '200', placeholder: 'Text to place', 'aria-label': 'Text to place', testid: 'board-text' });
    const action = (label, testid, run) => {
      const b = el('button', { type: 'button', testid }, label);
      b.addEventListener('click', run);
      return b;
    };
    this.undoBtn = action('Undo', 'board-undo', () => { this.undo.undo(); });
    this.redoBtn = action('Redo', 'board-redo', () => { this.undo.redo(); });
    this.pageLabel = el('span', { class: 'page-label', testid: 'board-page' });
    const prev = action('◀', 'board-prev', () => this.goTo(this.page - 1));
    prev.setAttribute('aria-label', 'Previous page');
    const next = action('▶', 'board-next', () => this.goTo(this.page + 1));
    next.setAttribute('aria-label', 'Next page');
    this.addPageBtn = action('New page', 'board-add-page', () => this.addPage());
    this.slidesBtn = action('Draw over the slides', 'board-slides', () => this.grabSlides());
    const png = action('Export PNG', 'board-export-png', () => this.exportPng());
    const pdf = action('Print / PDF', 'board-print', () => this.print());
    this.drawTools = el('div', { class: 'group' }, ...this.toolButtons, this.colorInput, this.textInput, this.undoBtn, this.redoBtn);
    this.toolbar.append(this.drawTools, el('div', { class: 'group' }, prev, this.pageLabel, next, this.addPageBtn, this.slidesBtn, png, pdf));
    if (this.ctx.role === 'teacher') this.toolbar.append(this.buildTeacherControls());
    this.root.append(this.toolbar, this.status, el('div', { class: 'board-surface' }, this.canvas));
    this.printBox = el('div', { id: 'board-print', class: 'board-print' });
    document.body.append(this.printBox);
    for (const type of ['pointerdown', 'pointermove', 'pointerup', 'pointercancel']) {
      this.canvas.addEventListener(type, (ev) => this.onPointer(ev));
    }
  }

  buildTeacherControls() {
    this.modeSelect = el('select', { 'aria-label': 'Who may draw', testid: 'board-mode' },
      el('option', { value: 'locked' }, 'Only teachers draw'),
      el('option', { value: 'everyone' }, 'Everyone draws'),
      el('option', { value: 'pen' }, 'Give the pen to…'));
    this.penSelect = el('select', { 'aria-label': 'Student with the pen', testid: 'board-pen', hidden: true });
    const apply = () => {
      const mode = this.modeSelect.value;
      if (mode === 'pen') {
        this.renderPenChoices();
        this.penSelect.hidden = false;
        const id = Number(this.penSelect.value);
        if (!id) return;
        this.ctx.send({ type: 'setBoardMode', mode, participantId: id });
      } else {
        this.penSelect.hidden = true;
        this.ctx.send({ type: 'setBoardMode', mode });
      }
    };
    this.modeSelect.addEventListener('change', apply);
    this.penSelect.addEventListener('change', apply);
    return el('div', { class: 'group' }, this.modeSelect, this.penSelect);
  }

  renderPenChoices() {
    const students = Object.values(this.ctx.people()).filter((p) => p.role === 'student');
    const keep = this.penSelect.value;
    this.penSelect.replaceChildren(el('option', { value: '' }, 'Choose a student'),
      ...students.map((p) => el('option', { value: String(p.id) }, p.name || `Student ${p.id}`)));
    this.penSelect.value = keep;
  }

  show(on) {
    this.root.hidden = !on;
    this.toggle.setAttribute('aria-pressed', String(on));
    document.body.classList.toggle('board-open', on);
    if (on) this.changed();
  }

  /** A board message from the hub. */
  hubMessage(msg) {
    switch (msg.type) {
      case 'boardPolicy':
        this.policy = { mode: msg.mode, pen: msg.pen ?? null, notesReadOnly: !!msg.notesReadOnly };
        this.renderTools();
        break;
      case 'boardPointer':
        this.pointers.set(msg.from, { page: msg.page, x: msg.x, y: msg.y, at: performance.now() });
        this.changed();
        setTimeout(() => this.changed(), POINTER_SHOW_MS + 50);
        break;
      default:
        break;
    }
  }

  canDraw() {
    return mayDraw(this.ctx.role, this.policy, this.ctx.selfId());
  }

  renderTools() {
    const can = this.canDraw();
    for (const [i, [tool]] of TOOLS.entries()) {
      this.toolButtons[i].setAttribute('aria-pressed', String(tool === this.tool));
    }
    for (const b of this.drawTools.querySelectorAll('button, input')) b.disabled = !can;
    // Who may not draw sees the board and the page controls only.
    this.drawTools.hidden = !can;
    this.addPageBtn.hidden = !can;
    this.slidesBtn.hidden = !can;
    this.undoBtn.disabled = !can || !this.undo?.canUndo();
    this.redoBtn.disabled = !can || !this.undo?.canRedo();
    this.addPageBtn.disabled = !can;
    this.slidesBtn.disabled = !can;
    this.canvas.classList.toggle('can-draw', can);
    const { mode, pen } = this.policy;
    const penName = pen != null ? (this.ctx.people()[pen]?.name || (pen === this.ctx.selfId() ? 'you' : 'a student')) : '';
    this.status.textContent = mode === 'everyone' ? 'Everyone may draw.'
      : mode === 'pen' ? (pen === this.ctx.selfId() ? 'You have the pen.' : `${penName} has the pen.`)
        : 'Only the teacher draws.';
    if (this.modeSelect && document.activeElement !== this.modeSelect && document.activeElement !== this.penSelect) {
      this.modeSelect.value = mode;
      this.penSelect.hidden = mode !== 'pen';
      if (mode === 'pen') { this.renderPenChoices(); this.penSelect.value = String(pen ?? ''); }
    }
  }

  goTo(page) {
    this.page = Math.max(0, Math.min(this.pageCount() - 1, page));
    this.changed();
  }

  addPage() {
    if (!this.canDraw()) return;
    const n = this.pageCount();
    this.doc.transact(() => this.meta.set('pages', n + 1), LOCAL);
    this.undo.addToScope(this.doc.getArray(`page-${n}`));
    this.goTo(n);
  }

  /** Makes sure the page exists in the document before drawing on it. */
  ensurePage() {
    if (this.meta.get('pages') == null) this.meta.set('pages', this.pageCount());
    this.undo.addToScope(this.items());
  }

  /** Adds an item to the current page as one undoable step. */
  commit(item) {
    this.doc.transact(() => {
      this.ensurePage();
      this.items().push([item]);
    }, LOCAL);
    this.undo.stopCapturing();
  }

  point(ev) {
    const r = this.canvas.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
    const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
    return [Math.round(x * UNIT), Math.round(y * UNIT)];
  }

  onPointer(ev) {
    if (!this.canDraw()) return;
    const [x, y] = this.point(ev);
    if (this.tool === 'laser') {
      if (ev.type !== 'pointermove' && ev.type !== 'pointerdown') return;
      const now = performance.now();
      const [px, py] = [x / UNIT, y / UNIT];
      this.pointers.set(this.ctx.selfId(), { page: this.page, x: px, y: py, at: now });
      this.changed();
      if (now - this.lastPointer >= POINTER_MS) {
        this.lastPointer = now;
        this.ctx.send({ type: 'boardPointer', page: this.page, x: px, y: py });
      }
      return;
    }
    if (ev.type === 'pointerdown') {
      ev.preventDefault();
      this.canvas.setPointerCapture?.(ev.pointerId);
      if (this.tool === 'text') {
        const text = this.textInput.value.trim();
        if (!text) { toast('Type the text first, then click where it goes.'); return; }
        this.commit({ id: newId(), by: this.ctx.selfId(), tool: 'text', color: this.color, size: 400, pts: [x, y], text });
        return;
      }
      if (this.tool === 'eraser') {
        this.drawing = { tool: 'eraser' };
        this.erase(x, y);
        return;
      }
      this.drawing = { id: newId(), by: this.ctx.selfId(), tool: this.tool, color: this.color,
        width: this.tool === 'highlighter' ? this.width * 4 : this.width, pts: [x, y] };
      return;
    }
    if (!this.drawing) return;
    if (ev.type === 'pointermove') {
      if (this.drawing.tool === 'eraser') { this.erase(x, y); return; }
      const pts = this.drawing.pts;
      if (this.drawing.tool === 'pen' || this.drawing.tool === 'highlighter') pts.push(x, y);
      else pts.splice(2, 2, x, y);
      this.changed();
      return;
    }
    // pointerup / pointercancel
    const item = this.drawing;
    this.drawing = null;
    if (item.tool === 'eraser') { this.undo.stopCapturing(); return; }
    if (item.pts.length === 2) item.pts.push(x, y);
    this.commit(item);
  }

  /** Deletes the items of the current page that pass within reach of (x, y). */
  erase(x, y) {
    const items = this.items();
    const hit = [];
    items.toArray().forEach((item, i) => { if (hits(item, x / UNIT, y / UNIT, 0.012)) hit.push(i); });
    if (!hit.length) return;
    this.doc.transact(() => { for (const i of hit.reverse()) items.delete(i, 1); }, LOCAL);
  }

  /** The slides (the shared screen's video) as this page's background. */
  async grabSlides() {
    const video = byId('screen-video');
    if (!video || !video.videoWidth) {
      toast('No slides are shown right now; the page stays blank.', { kind: 'error' });
      return;
    }
    const c = document.createElement('canvas');
    [c.width, c.height] = [640, 360];
    c.getContext('2d').drawImage(video, 0, 0, c.width, c.height);
    let bytes = null;
    for (const q of [0.7, 0.5, 0.35, 0.2]) {
      const blob = await new Promise((resolve) => c.toBlob(resolve, 'image/jpeg', q));
      if (blob && blob.size <= BG_MAX_BYTES) { bytes = new Uint8Array(await blob.arrayBuffer()); break; }
    }
    if (!bytes) { toast('The slides picture is too large to share.', { kind: 'error' }); return; }
    this.doc.transact(() => { this.ensurePage(); this.meta.set(`bg-${this.page}`, bytes); }, LOCAL);
    this.undo.stopCapturing();
  }

  background(page) {
    const bytes = this.meta?.get(`bg-${page}`);
    if (!(bytes instanceof Uint8Array)) return null;
    const cached = this.bgCache.get(bytes);
    if (cached) return cached === 'loading' ? null : cached;
    this.bgCache.set(bytes, 'loading');
    createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }))
      .then((img) => { this.bgCache.set(bytes, img); this.changed(); })
      .catch(() => {});
    return null;
  }

  render() {
    this.pageLabel.textContent = `Page ${this.page + 1} of ${this.pageCount()}`;
    paint(this.ctx2d, this.items().toArray(), this.background(this.page));
    if (this.drawing && this.drawing.tool !== 'eraser') drawItem(this.ctx2d, this.drawing);
    const now = performance.now();
    for (const [id, p] of this.pointers) {
      if (now - p.at > POINTER_SHOW_MS) { this.pointers.delete(id); continue; }
      if (p.page !== this.page) continue;
      const g = this.ctx2d;
      g.beginPath();
      g.fillStyle = 'rgba(230, 30, 30, 0.85)';
      g.arc(p.x * W, p.y * H, 10, 0, Math.PI * 2);
      g.fill();
    }
    this.renderTools();
  }

  /** Every page as PNG, one after another on canvases of the document's size. */
  pagePngs() {
    const c = document.createElement('canvas');
    [c.width, c.height] = [W, H];
    const g = c.getContext('2d');
    const out = [];
    for (let i = 0; i < this.pageCount(); i++) {
      paint(g, this.items(i).toArray(), this.background(i));
      out.push(c.toDataURL('image/png'));
    }
    return out;
  }

  exportPng() {
    const url = this.pagePngs()[this.page];
    const a = el('a', { href: url, download: `whiteboard-page-${this.page + 1}.png`, testid: 'board-png-link' });
    document.body.append(a);
    a.click();
    a.remove();
  }

  print() {
    this.printBox.replaceChildren(...this.pagePngs().map((src, i) => el('img', { src, alt: `Whiteboard page ${i + 1}` })));
    document.body.classList.add('printing-board');
    const done = () => { document.body.classList.remove('printing-board'); window.removeEventListener('afterprint', done); };
    window.addEventListener('afterprint', done);
    window.print();
  }

  /** For tests and a curious developer: the document as JSON. */
  json() {
    const pages = this.pageCount();
    const out = { pages: [] };
    for (let i = 0; i < pages; i++) out.pages.push(this.items(i).toJSON());
    out.meta = Object.fromEntries([...this.meta.entries()].map(([k, v]) => [k, v instanceof Uint8Array ? v.length : v]));
    return out;
  }
}

function newId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function paint(g, items, bg) {
  g.save();
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, W, H);
  if (bg) g.drawImage(bg, 0, 0, W, H);
  for (const item of items) drawItem(g, item);
  g.restore();
}

function drawItem(g, item) {
  if (!item || !Array.isArray(item.pts) || item.pts.length < 2) return;
  const p = item.pts.map((v) => v / UNIT);
  g.save();
  g.strokeStyle = g.fillStyle = typeof item.color === 'string' ? item.color : '#000';
  g.lineWidth = Number(item.width) || 4;
  g.lineCap = g.lineJoin = 'round';
  if (item.tool === 'highlighter') g.globalAlpha = 0.35;
  g.beginPath();
  switch (item.tool) {
    case 'text':
      g.font = `${Math.round(((Number(item.size) || 400) / UNIT) * H)}px system-ui, sans-serif`;
      g.textBaseline = 'top';
      g.fillText(String(item.text ?? ''), p[0] * W, p[1] * H);
      break;
    case 'rect':
      g.strokeRect(p[0] * W, p[1] * H, (p[2] - p[0]) * W, (p[3] - p[1]) * H);
      break;
    case 'ellipse': {
      const [cx, cy] = [((p[0] + p[2]) / 2) * W, ((p[1] + p[3]) / 2) * H];
      g.ellipse(cx, cy, Math.abs(p[2] - p[0]) * W / 2, Math.abs(p[3] - p[1]) * H / 2, 0, 0, Math.PI * 2);
      g.stroke();
      break;
    }
    default:
      g.moveTo(p[0] * W, p[1] * H);
      for (let i = 2; i + 1 < p.length; i += 2) g.lineTo(p[i] * W, p[i + 1] * H);
      if (p.length === 2) g.lineTo(p[0] * W + 0.1, p[1] * H);
      g.stroke();
  }
  g.restore();
}

/** Whether the eraser at (x, y) touches `item`. */
function hits(item, x, y, reach) {
  if (!Array.isArray(item?.pts)) return false;
  const p = item.pts.map((v) => v / UNIT);
  if (item.tool === 'text') return Math.abs(x - p[0]) < 0.1 && y >= p[1] - reach && y <= p[1] + 0.05;
  if (item.tool === 'rect' || item.tool === 'ellipse') {
    const [x0, x1] = [Math.min(p[0], p[2]), Math.max(p[0], p[2])];
    const [y0, y1] = [Math.min(p[1], p[3]), Math.max(p[1], p[3])];
    return x >= x0 - reach && x <= x1 + reach && y >= y0 - reach && y <= y1 + reach;
  }
  for (let i = 0; i + 3 < p.length; i += 2) {
    if (segmentDistance(x, y, p[i], p[i + 1], p[i + 2], p[i + 3]) < reach) return true;
  }
  return p.length >= 2 && Math.hypot(x - p[0], y - p[1]) < reach;
}

function segmentDistance(x, y, ax, ay, bx, by) {
  const [dx, dy] = [bx - ax, by - ay];
  const len = dx * dx + dy * dy;
  const t = len ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len)) : 0;
  return Math.hypot(x - (ax + t * dx), y - (ay + t * dy));
}
