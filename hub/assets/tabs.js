// The Chat / People / Polls / Room panels as an ARIA tab set: arrow keys, Home and End move between
// tabs, one panel shows at a time, and a tab can carry a count ("Chat (3)").

export class Tabs {
  /** `tablist` holds buttons with role=tab, `data-tab` and `aria-controls` naming their panels. */
  constructor(tablist, onSelect = () => {}) {
    this.list = tablist;
    this.onSelect = onSelect;
    this.tabs = [...tablist.querySelectorAll('[role="tab"]')];
    this.current = null;
    for (const t of this.tabs) {
      t.dataset.label = t.textContent;
      t.addEventListener('click', () => this.select(t.dataset.tab));
    }
    tablist.addEventListener('keydown', (ev) => this.key(ev));
  }

  visible() {
    return this.tabs.filter((t) => !t.hidden);
  }

  tab(name) {
    return this.tabs.find((t) => t.dataset.tab === name);
  }

  select(name, { focus = false } = {}) {
    const chosen = this.tab(name);
    if (!chosen || chosen.hidden) return;
    for (const t of this.tabs) {
      const on = t === chosen;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
    }
    this.current = name;
    if (focus) chosen.focus();
    this.onSelect(name);
  }

  /** Show or hide a tab (and its panel); hiding the selected tab selects the first visible one. */
  show(name, visible) {
    const t = this.tab(name);
    if (!t) return;
    t.hidden = !visible;
    if (!visible) document.getElementById(t.getAttribute('aria-controls')).hidden = true;
    if (!visible && this.current === name && this.visible()[0]) this.select(this.visible()[0].dataset.tab);
  }

  /**
   * A small badge after the tab's name (`short`, e.g. "3"), read out as `long` (e.g. "3 unread");
   * '' or 0 removes it.
   */
  setBadge(name, short, long = String(short)) {
    const t = this.tab(name);
    if (!t) return;
    const parts = [t.dataset.label];
    if (short) {
      const badge = document.createElement('span');
      badge.className = 'tab-badge';
      badge.setAttribute('aria-hidden', 'true');
      badge.textContent = String(short);
      const spoken = document.createElement('span');
      spoken.className = 'visually-hidden';
      spoken.textContent = `: ${long}`;
      parts.push(badge, spoken);
    }
    t.replaceChildren(...parts);
  }

  key(ev) {
    const tabs = this.visible();
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    this.select(tabs[(next + tabs.length) % tabs.length].dataset.tab, { focus: true });
  }
}
