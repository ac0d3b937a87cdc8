// Brief messages that go away on their own (a refusal from the hub, "Ada was admitted"). Screen
// readers hear them through the live region; longer-lived notices are ui.notice().

const SHOW_MS = 5000;

/** kind: info | error. */
export function toast(text, { kind = 'info', ms = SHOW_MS } = {}) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = document.createElement('p');
  item.className = `toast ${kind}`;
  item.dataset.testid = 'toast';
  item.textContent = text;
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => item.remove(), ms);
}
