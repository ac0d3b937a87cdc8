// A modal yes/no question for actions that cannot be undone (remove a student, end the lesson).
// A native <dialog>: it traps focus, Escape cancels, and focus returns to the button that asked.

import { h } from './ui.js';

let dialog = null;

function build() {
  const title = h('h2', { id: 'confirm-title' });
  const text = h('p', { id: 'confirm-text' });
  const cancel = h('button', { type: 'submit', value: 'cancel', 'data-testid': 'confirm-cancel' }, 'Cancel');
  const ok = h('button', { type: 'submit', value: 'ok', class: 'danger', 'data-testid': 'confirm-ok' });
  const form = h('form', { method: 'dialog' }, title, text, h('div', { class: 'row' }, cancel, ok));
  dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' }, form);
  dialog.parts = { title, text, ok, cancel };
  document.body.append(dialog);
}

/** Resolves true when the user chose `okLabel`, false on Cancel or Escape. */
export function confirmAction({ title, text, okLabel }) {
  if (!dialog) build();
  const { parts } = dialog;
  parts.title.textContent = title;
  parts.text.textContent = text;
  parts.ok.textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    parts.cancel.focus(); // the safe choice has focus
  });
}
