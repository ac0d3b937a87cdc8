// Waiting for ICE gathering: the hub is ICE-lite and takes no trickle, so the SDP we send should
// already carry our candidates. Gathering host candidates takes milliseconds; the deadline only
// guards against a stuck STUN/TURN server.

export const GATHER_DEADLINE_MS = 2000;

/** Resolves when gathering is complete or the deadline passes, whichever comes first. */
export function iceGatheringDone(pc, deadlineMs = GATHER_DEADLINE_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, deadlineMs);
    pc.addEventListener('icegatheringstatechange', onChange);
  });
}
