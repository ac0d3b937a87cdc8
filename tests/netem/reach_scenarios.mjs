// Scenarios of issue 17 (reach every network), merged into SCENARIOS by scenarios.mjs: which path
// the student's media takes when its network blocks more and more, how long the first frame takes
// on each, an ICE restart after a cut and an address change, and the box's make-before-break
// re-publish after its own. Same shape as scenarios.mjs.

export const REACH_SCENARIOS = {
  direct: {
    what: 'nothing blocked: UDP straight to the hub (the time-to-first-frame baseline)',
    phases: [{ name: 'direct', sec: 10, set: {} }],
  },
  udpblocked: {
    what: 'no UDP between the student and the hub: media over ICE-TCP to the hub',
    setup: { s1: ['noudp'] },
    phases: [{ name: 'udpblocked', sec: 10, set: {} }],
  },
  turntls: {
    what: "only TCP to the hub's HTTP port and to 443 on the TURN node: media over TURN over TLS (coturn, the run's test CA)",
    turn: true,
    setup: { s1: ['only443'] },
    phases: [{ name: 'turntls', sec: 10, set: {} }],
  },
  relayforced: {
    what: 'nothing blocked, but the page opened with ?relay=1: media through coturn all the same',
    turn: true,
    forceRelay: true,
    phases: [{ name: 'relayforced', sec: 10, set: {} }],
  },
  netchange: {
    what: "the student's link cut for 3 s; its media (not its signalling) cut for 12 s; then its address changes (.2 to .3)",
    phases: [
      { name: 'clear', sec: 8, set: {} },
      { name: 'blackout', sec: 3, set: { s1: ['blackout'] } },
      { name: 'back', sec: 10, set: { s1: [] } },
      // Everything to the hub but its HTTP port dropped: the connections go `disconnected`, the
      // page restarts ICE over the signalling socket, which still works.
      { name: 'mediacut', sec: 12, set: { s1: ['relayonly'] } },
      { name: 'back2', sec: 12, set: { s1: [] } },
      { name: 'readdress', sec: 25, set: {}, readdress: 's1' },
    ],
  },
  boxchange: {
    what: "the box's link cut for 10 s, then its address changes (.2 to .3): the box publishes again make-before-break and the room never leaves",
    boxMoves: true, // its ICE gathers on every address it has, not only .2
    phases: [
      { name: 'clear', sec: 8, set: {} },
      { name: 'blackout', sec: 10, set: { box: ['blackout'] } },
      { name: 'back', sec: 20, set: { box: [] } },
      { name: 'readdress', sec: 25, set: {}, readdress: 'box' },
    ],
  },
};

/** Appended to `scripts/netem.sh all`. */
export const REACH_MATRIX = ['direct', 'udpblocked', 'turntls', 'relayforced', 'netchange', 'boxchange'];
