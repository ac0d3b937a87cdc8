// Screen sharing: ask the hub for the (single) share slot, and once it names us, pick a screen with
// getDisplayMedia and send it on the publish connection. Ends on Stop, when the browser's own "stop
// sharing" ends the track, or when the hub hands the slot away (a teacher stopped it).

import { toast } from './toast.js';

/** ctx: { store, send, role, selfId(), publisher(), publisherNow(), people() }. Returns { reset } for reconnects. */
export function mountScreenShare(btn, ctx) {
  const { store, send, role } = ctx;
  let asked = false; // we sent requestScreenShare and wait for the hub's answer
  let track = null;

  const mine = () => store.view.screenSharer != null && store.view.screenSharer === ctx.selfId();

  function render() {
    const policy = store.view.policy;
    const allowed = role === 'teacher' || (role === 'student' && !!policy && policy.studentsMayShareScreen);
    btn.hidden = !allowed && !track;
    const other = store.view.screenSharer != null && !mine();
    const sharing = !!track || mine();
    btn.setAttribute('aria-pressed', String(sharing));
    btn.querySelector('.label').textContent = sharing ? 'Stop sharing' : 'Share screen';
    btn.disabled = other;
    const who = other ? ctx.people()[store.view.screenSharer] : null;
    btn.title = other ? `${who?.name || 'Someone'} is sharing their screen` : sharing ? 'Stop sharing your screen' : 'Share your screen with the class';
  }

  async function begin() {
    asked = false;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (err) {
      send({ type: 'stopScreenShare' });
      toast(err && err.name === 'NotAllowedError' ? 'Screen sharing was cancelled.' : `Your screen cannot be shared here (${err?.message || err}).`, { kind: 'error' });
      render();
      return;
    }
    track = stream.getVideoTracks()[0];
    track.contentHint = 'detail';
    track.addEventListener('ended', () => stop());
    // A click soon after joining may come before the camera's connection is made (it waits for
    // the room's first frame, app.js): it is made now, and the screen goes out on it.
    const sharing = track;
    const publisher = await ctx.publisherNow();
    if (track !== sharing) return; // stopped meanwhile
    if (!publisher) {
      toast('Your screen cannot be shared: you are not sending media.', { kind: 'error' });
      stop();
      return;
    }
    publisher.startScreen(track).catch((err) => {
      console.error('lectern: screen share negotiation failed', err);
      toast('Your screen could not be sent to the class.', { kind: 'error' });
      stop();
    });
    render();
  }

  /** Our side of ending a share; `tellHub` unless the hub ended it. */
  function end(tellHub) {
    if (tellHub) send({ type: 'stopScreenShare' });
    if (track) {
      const t = track;
      track = null;
      t.stop();
      ctx.publisher()?.stopScreen().catch((err) => console.warn('lectern: stopping the screen sender failed', err));
    }
    render();
  }
  const stop = () => end(true);

  btn.addEventListener('click', () => {
    if (track || mine()) {
      stop();
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      toast('This browser cannot share a screen from this page (a desktop browser on a secure https page is needed).', { kind: 'error' });
      return;
    }
    asked = true;
    send({ type: 'requestScreenShare' });
  });

  store.on('screen', () => {
    if (mine() && asked && !track) begin();
    else if (!mine() && track) end(false);
    render();
  });
  store.on('policy', render);
  store.on('status', render);
  // A refusal ("someone else is sharing") arrives as an error toast; forget the request.
  store.on('refused', () => { asked = false; });
  render();

  return {
    /** The socket dropped: the hub has forgotten the share, and the publish connection is gone. */
    reset() {
      asked = false;
      if (track) {
        const t = track;
        track = null;
        t.stop();
      }
      render();
    },
  };
}
