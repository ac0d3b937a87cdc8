// The scenarios of `scripts/netem.sh SCENARIO` (names are a contract: later tools compare against
// them). A scenario is data: impairments to set before the student joins (`setup`), then phases,
// each setting links' impairments (see topo.sh `set`) for `sec` seconds while the student is sampled.
// A link not named in a phase keeps what it had.

const clear = (sec) => ({ name: 'clear', sec, set: {} });
const after = (sec) => ({ name: 'after', sec, set: { s1: [], box: [] } });

export const SCENARIOS = {
  cap600: {
    what: 'the student capped at 600 kbit/s both ways for 30 s',
    phases: [clear(10), { name: 'cap600', sec: 30, set: { s1: ['rate=600'] } }, after(15)],
  },
  cap300: {
    what: 'the student capped at 300 kbit/s both ways for 30 s',
    phases: [clear(10), { name: 'cap300', sec: 30, set: { s1: ['rate=300'] } }, after(15)],
  },
  loss5: {
    what: "5 % random loss each way on the student's link for 30 s",
    phases: [clear(10), { name: 'loss5', sec: 30, set: { s1: ['loss=5'] } }, after(15)],
  },
  blackout3: {
    what: "the student's link drops everything for 3 s",
    phases: [clear(10), { name: 'blackout', sec: 3, set: { s1: ['blackout'] } }, after(20)],
  },
  blackout10: {
    what: "the student's link drops everything for 10 s",
    phases: [clear(10), { name: 'blackout', sec: 10, set: { s1: ['blackout'] } }, after(25)],
  },
  uplink1000: {
    what: "the box's uplink capped at 1000 kbit/s (its simulcast ladder adds up to more) for 30 s",
    phases: [clear(10), { name: 'uplink1000', sec: 30, set: { box: ['up=1000'] } }, after(15)],
  },
  relayonly: {
    what: "every path from the student to the hub blocked but its HTTP port; the TURN server open (coturn, credentials minted by the hub from the run's [[media.turn]] secret)",
    turn: true,
    setup: { s1: ['relayonly'] },
    phases: [{ name: 'relayonly', sec: 30, set: {} }],
  },
  delay150: {
    what: "150 ms ± 30 ms each way on the student's link (300 ms round trip) for 30 s",
    phases: [clear(10), { name: 'delay150', sec: 30, set: { s1: ['delay=150', 'jitter=30'] } }, after(15)],
  },
  tcpcut: {
    what: "every TCP segment on the student's link answered with a reset for 25 s (longer than the hub's 20 s WebSocket ping, so the idle signalling socket is hit)",
    phases: [clear(10), { name: 'tcpcut', sec: 25, set: { s1: ['cut'] } }, after(25)],
  },
  // Issue 21: a lesson recorded on the box (one-minute files) over a 2000 kbit/s uplink that carries
  // the live ladder (about 1 Mbit/s with audio) and, from the first file's close at about 60 s, its
  // upload: capped at 600 kbit/s (fits beside the lesson) or not capped at all (competes with it).
  uploadcap: {
    what: "the box's uplink at 2000 kbit/s, recording with 1-minute files uploaded at up to 600 kbit/s",
    ladder: { main: { width: 640, height: 360, bitrate_kbps: 800 }, layers: [{ width: 320, height: 180, bitrate_kbps: 150 }] },
    recording: { fragmentMinutes: 1, uploadKbps: 600 },
    setup: { box: ['up=2000'] },
    phases: [{ name: 'recording', sec: 45, set: {} }, { name: 'rotate', sec: 15, set: {} }, { name: 'uploading', sec: 60, set: {} }],
  },
  uploadnocap: {
    what: "the box's uplink at 2000 kbit/s, recording with 1-minute files uploaded without a cap",
    ladder: { main: { width: 640, height: 360, bitrate_kbps: 800 }, layers: [{ width: 320, height: 180, bitrate_kbps: 150 }] },
    recording: { fragmentMinutes: 1, uploadKbps: 0 },
    setup: { box: ['up=2000'] },
    phases: [{ name: 'recording', sec: 45, set: {} }, { name: 'rotate', sec: 15, set: {} }, { name: 'uploading', sec: 60, set: {} }],
  },
  // The CI smoke: short, with a light ladder whose top layer is well above the cap.
  smoke: {
    what: 'CI smoke: 8 s clear, the student capped at 600 kbit/s for 25 s, then 35 s clear again',
    ladder: {
      // The top layer above the cap, yet low enough that the estimate on a loaded CI machine gets
      // back to it (+20 % headroom) within the last phase.
      main: { width: 640, height: 360, bitrate_kbps: 800 },
      layers: [{ width: 320, height: 180, bitrate_kbps: 150 }],
    },
    phases: [clear(8), { name: 'cap600', sec: 25, set: { s1: ['rate=600'] } }, after(35)],
  },
};

/** The matrix `scripts/netem.sh all` runs (the list, then the extra impairments). */
export const MATRIX = ['cap600', 'cap300', 'loss5', 'blackout3', 'blackout10', 'uplink1000', 'relayonly', 'delay150', 'tcpcut'];

// Issue 17's scenarios (reach every network) live in their own file.
import { REACH_MATRIX, REACH_SCENARIOS } from './reach_scenarios.mjs';

Object.assign(SCENARIOS, REACH_SCENARIOS);
MATRIX.push(...REACH_MATRIX);
