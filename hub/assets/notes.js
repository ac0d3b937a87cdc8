// The lesson's shared notes: one Y.Text (`notes`) in its own CRDT document, edited as plain
// Markdown-ish text in a textarea and synced through the hub like the whiteboard (whiteboard.js's
// SyncedDoc). A teacher can make the notes read-only; the hub refuses students' edits then.
// Exports: Markdown (the text itself) and HTML (a small Markdown subset); PDF through print.

const LOCAL = 'local';
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'testid') e.dataset.testid = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
};

export class Notes {
  /** ctx: { send, role }. Mounts into `box` (the Notes tab's panel). */
  constructor(box, ctx, synced) {
    this.ctx = ctx;
    this.synced = synced;
    this.readOnly = false;
    this.area = el('textarea', { class: 'notes-text', rows: '14', 'aria-label': 'Shared notes', testid: 'notes-text',
      spellcheck: 'true', placeholder: 'Notes everyone in the lesson can write in (Markdown: # heading, - list)' });
    this.state = el('p', { class: 'notes-state', role: 'status', testid: 'notes-state' });
    const md = el('button', { type: 'button', testid: 'notes-export-md' }, 'Export Markdown');
    md.addEventListener('click', () => download('notes.md', 'text/markdown', this.text()));
    const html = el('button', { type: 'button', testid: 'notes-export-html' }, 'Export HTML');
    html.addEventListener('click', () => download('notes.html', 'text/html', toHtmlPage(this.text())));
    const row = el('div', { class: 'row' }, md, html);
    if (ctx.role === 'teacher') {
      this.lock = el('input', { type: 'checkbox', id: 'notes-lock', testid: 'notes-read-only' });
      this.lock.addEventListener('change', () => ctx.send({ type: 'setNotesReadOnly', readOnly: this.lock.checked }));
      row.append(el('label', { for: 'notes-lock', class: 'check' }, this.lock, ' Read-only for students'));
    }
    box.append(this.state, this.area, row);
    this.area.addEventListener('input', () => this.typed());
    synced.onLoad((doc) => this.attach(doc));
  }

  attach(doc) {
    this.ytext = doc.getText('notes');
    this.shown = this.ytext.toString();
    this.area.value = this.shown;
    this.ytext.observe((event, txn) => { if (txn.origin !== LOCAL) this.remote(event); });
  }

  text() {
    return this.ytext.toString();
  }

  /** The textarea changed: the one edited span becomes a delete and an insert. */
  typed() {
    if (this.readOnly && this.ctx.role !== 'teacher') return;
    const before = this.shown;
    const after = this.area.value;
    let start = 0;
    while (start < before.length && start < after.length && before[start] === after[start]) start++;
    let endB = before.length;
    let endA = after.length;
    while (endB > start && endA > start && before[endB - 1] === after[endA - 1]) { endB--; endA--; }
    this.synced.doc.transact(() => {
      if (endB > start) this.ytext.delete(start, endB - start);
      if (endA > start) this.ytext.insert(start, after.slice(start, endA));
    }, LOCAL);
    this.shown = after;
  }

  /** Someone else's edit: shown, with the caret kept where it was in the text around it. */
  remote(event) {
    let [s, e] = [this.area.selectionStart, this.area.selectionEnd];
    let pos = 0;
    for (const d of event.delta) {
      if (d.retain) pos += d.retain;
      else if (d.insert) {
        const n = d.insert.length;
        if (pos <= s) s += n;
        if (pos <= e) e += n;
        pos += n;
      } else if (d.delete) {
        if (pos < s) s -= Math.min(d.delete, s - pos);
        if (pos < e) e -= Math.min(d.delete, e - pos);
      }
    }
    this.shown = this.ytext.toString();
    const focused = document.activeElement === this.area;
    this.area.value = this.shown;
    if (focused) this.area.setSelectionRange(s, e);
  }

  /** The board's policy (`boardPolicy`) carries whether the notes are read-only. */
  policy(msg) {
    this.readOnly = !!msg.notesReadOnly;
    const locked = this.readOnly && this.ctx.role !== 'teacher';
    const canWrite = this.ctx.role === 'teacher' || this.ctx.role === 'student';
    this.area.readOnly = locked || !canWrite;
    if (this.lock) this.lock.checked = this.readOnly;
    this.state.textContent = this.readOnly ? 'The notes are read-only for students.' : 'Everyone in the lesson can edit these notes.';
  }
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

/** Inline Markdown: **bold**, *italic*, `code` (after escaping, so nothing else becomes markup). */
function inline(s) {
  return escapeHtml(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/\*([^*]+)\*/g, '<em>$1</em>');
}

/** A small Markdown subset as HTML: headings, lists, paragraphs. */
export function toHtml(md) {
  const out = [];
  let list = null;
  let para = [];
  const flushPara = () => { if (para.length) out.push(`<p>${para.map(inline).join('<br>')}</p>`); para = []; };
  const closeList = () => { if (list) out.push(`</${list}>`); list = null; };
  for (const line of md.split('\n')) {
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading) {
      flushPara(); closeList();
      out.push(`<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`);
    } else if (bullet || numbered) {
      flushPara();
      const kind = bullet ? 'ul' : 'ol';
      if (list !== kind) { closeList(); out.push(`<${kind}>`); list = kind; }
      out.push(`<li>${inline((bullet || numbered)[1])}</li>`);
    } else if (!line.trim()) {
      flushPara(); closeList();
    } else {
      closeList();
      para.push(line);
    }
  }
  flushPara(); closeList();
  return out.join('\n');
}

function toHtmlPage(md) {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Lesson notes</title></head>\n<body>\n${toHtml(md)}\n</body></html>\n`;
}
