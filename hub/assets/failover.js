// A lesson page in a cluster of hubs (docs/cluster.md). Every hub redirects a join link to the hub
// that owns the room, so the page lives on that hub. When that hub stops answering (it died), or
// says the room has moved, the page opens its link again on another hub of the cluster, which
// sends it to the room's new owner. The other hubs are the ones its own hub listed in `/healthz`
// while it was up: never an address from the link itself.

/** Failed tries to reach the page's own hub before it goes to another. */
const TRIES_BEFORE_LEAVING = 2;

let others = [];

/** Learns the other hubs of the cluster from this page's hub (nothing for a hub on its own). */
export async function learnHubs() {
  try {
    const res = await fetch('/healthz', { cache: 'no-store' });
    const nodes = (await res.json())?.cluster?.nodes;
    if (!Array.isArray(nodes)) return;
    others = nodes
      .map((u) => { try { return new URL(u).origin; } catch { return null; } })
      .filter((o) => o && /^https?:/.test(o) && o !== window.location.origin);
  } catch {
    // Unreachable or not JSON: keep what was learned before.
  }
}

/** The join link again, with its token, on the hub at `origin`. */
export function rejoinUrl(origin, token, loc = window.location) {
  const url = new URL(loc.pathname, origin);
  url.search = loc.search;
  url.searchParams.set('token', token);
  return url.href;
}

/** Another hub to go to after `attempt` failed tries to reach this one, or null. */
export function hubToTry({ attempt, opened }) {
  if (opened || attempt < TRIES_BEFORE_LEAVING || !others.length) return null;
  return others[Math.floor(Math.random() * others.length)];
}
