// The publish peer connection: our mic and camera to the hub. We offer, the hub answers.
// Always two sendonly transceivers, audio then video, so the m-line layout does not depend on what
// the user granted; a missing track simply sends nothing and is reported muted. A screen share adds
// a third video transceiver (kept, inactive, after the share ends, so a second share reuses its mid);
// its mid goes to the hub as `screenMid` so subscribers learn that track is a screen.
// The camera goes out in two simulcast layers (half size at a low rate, and full size), so the
// hub can send each viewer the one its link carries (issue 16: the allocator thins others' tiles
// first).

import { iceGatheringDone } from './ice.js';

/** The camera's simulcast layers, lowest first (RIDs are the hub's `q` and `f`, as the box's). */
export const CAMERA_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 2, maxBitrate: 150_000 },
  { rid: 'f', maxBitrate: 700_000 },
];

/** How long an offer may wait for the hub's answer before the next negotiation may go ahead. */
const ANSWER_DEADLINE_MS = 10000;

export class Publisher {
  /**
   * @param {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null, stream: MediaStream|null}} media
   * @param {(msg: object) => boolean} send  sends a signaling message on the current socket
   * @param {RTCConfiguration} [config]
   */
  constructor(media, send, config = {}) {
    this.send = send;
    this.closed = false;
    this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', ...config });
    const streams = media.stream ? [media.stream] : [];
    this.audio = this.pc.addTransceiver(media.audio || 'audio', { direction: 'sendonly', streams });
    this.video = this.pc.addTransceiver(media.video || 'video', { direction: 'sendonly', streams, sendEncodings: CAMERA_LAYERS });
    this.screen = null;
    this.queue = Promise.resolve(); // one offer/answer exchange at a time
    this.answered = null;
  }

  /** Create the first offer, wait for candidates (bounded) and send `publishOffer`. */
  start() {
    return this.negotiate();
  }

  /** Queue an offer/answer exchange; rejects if this one fails (the queue goes on). */
  negotiate() {
    const run = this.queue.then(() => this.exchange());
    this.queue = run.catch(() => {});
    return run;
  }

  async exchange() {
    if (this.closed) return;
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await iceGatheringDone(this.pc);
    if (this.closed) return;
    const msg = { type: 'publishOffer', sdp: this.pc.localDescription.sdp };
    if (this.screen && this.screen.direction === 'sendonly' && this.screen.mid != null) msg.screenMid = this.screen.mid;
    let timer;
    const answered = new Promise((resolve, reject) => {
      this.answered = resolve;
      timer = setTimeout(() => reject(new Error('no publishAnswer from the hub')), ANSWER_DEADLINE_MS);
    });
    this.send(msg);
    try {
      await answered;
    } finally {
      clearTimeout(timer);
      this.answered = null;
    }
  }

  /** The hub's `publishAnswer`. */
  async applyAnswer(sdp) {
    if (this.closed) return;
    if (this.pc.signalingState !== 'have-local-offer') {
      console.warn('lectern: publishAnswer without an offer out; ignored');
      return;
    }
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    this.answered?.();
  }

  /** ICE restart on this connection: new credentials in a new offer; str0m restarts on seeing them. */
  restartIce() {
    if (this.closed) return Promise.resolve();
    this.pc.restartIce();
    return this.negotiate();
  }

  /** Send a screen (a video track from getDisplayMedia) on the third transceiver. */
  async startScreen(track) {
    if (this.screen) {
      await this.screen.sender.replaceTrack(track);
      this.screen.direction = 'sendonly';
    } else {
      this.screen = this.pc.addTransceiver(track, { direction: 'sendonly' });
    }
    return this.negotiate();
  }

  async stopScreen() {
    if (!this.screen || this.closed) return undefined;
    await this.screen.sender.replaceTrack(null);
    this.screen.direction = 'inactive';
    return this.negotiate();
  }

  close() {
    this.closed = true;
    // The local tracks outlive this connection (they are reused after a reconnect): do not stop them.
    this.pc.close();
  }
}
