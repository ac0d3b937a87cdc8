// The teacher's view of everyone's connection (issue 16): `GET /api/rooms/{room}/stats` with the
// teacher's token, every few seconds while the people list is mounted, turned into one short
// phrase per participant for the people list ("connection good, about 2100 kbit/s").

const POLL_MS = 3000;
const LEVEL_TEXT = { good: 'connection good', reduced: 'connection reduced', audioOnly: 'video paused: slow connection' };

/**
 * One participant's entry of the stats as { level, text }, or null when there is nothing to say
 * (it receives nothing yet). `level` is the hub's (`good`, `reduced`, `audioOnly`) or `chosen`
 * when the participant switched audio only on itself.
 */
export function describeLink(p) {
  if (!p || typeof p !== 'object') return null;
  const level = p.audioOnly === true ? 'chosen' : Object.hasOwn(LEVEL_TEXT, p.level) ? p.level : null;
  if (!level) return null;
  const parts = [level === 'chosen' ? 'audio only (own choice)' : LEVEL_TEXT[level]];
  if (Number.isFinite(p.estimateKbps) && p.estimateKbps >= 0) parts.push(`about ${Math.round(p.estimateKbps)} kbit/s`);
  if (level === 'reduced' && Number.isInteger(p.paused) && p.paused > 0) parts.push(`${p.paused} video paused`);
  if (Number.isFinite(p.lossPct) && p.lossPct >= 1) parts.push(`${Math.round(p.lossPct)} % lost`);
  return { level, text: parts.join(', ') };
}

export class LinkStats {
  /** ctx: { token, room() }; `onChange()` after each answer that changed something. */
  constructor(ctx, onChange) {
    this.ctx = ctx;
    this.onChange = onChange;
    this.byId = new Map(); // participantId -> { level, text }
    this.timer = null;
    this.last = '';
  }

  start() {
    if (this.timer) return;
    const tick = async () => {
      await this.poll();
      if (this.timer) this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = setTimeout(tick, 0);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** What the people list shows for `id`, or null. */
  get(id) {
    return this.byId.get(id) || null;
  }

  async poll() {
    const room = this.ctx.room();
    if (!room) return;
    let body;
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(room)}/stats`, {
        headers: { Authorization: `Bearer ${this.ctx.token}` },
        cache: 'no-store',
      });
      // 404 before the room's media is live; a token no longer good for it ends the polling;
      // anything else is logged once per kind.
      if (res.status === 401 || res.status === 403) this.stop();
      if (!res.ok) {
        if (res.status !== 404 && this.last !== `status ${res.status}`) console.warn('lectern: room stats', res.status);
        this.last = `status ${res.status}`;
        return;
      }
      body = await res.json();
    } catch (err) {
      console.warn('lectern: room stats unavailable', err);
      return;
    }
    const next = new Map();
    for (const p of Array.isArray(body?.participants) ? body.participants : []) {
      const d = describeLink(p);
      if (d && typeof p.participantId === 'number') next.set(p.participantId, d);
    }
    const key = JSON.stringify([...next]);
    if (key === this.last) return;
    this.last = key;
    this.byId = next;
    this.onChange();
  }
}
