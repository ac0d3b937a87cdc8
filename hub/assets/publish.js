// The publish peer connection: our mic and camera to the hub. We offer, the hub answers.
// Always two sendonly transceivers, audio then video, so the m-line layout does not depend on what
// the user granted; a missing track simply sends nothing and is reported muted.

import { iceGatheringDone } from './ice.js';

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
    this.video = this.pc.addTransceiver(media.video || 'video', { direction: 'sendonly', streams });
  }

  /** Create the offer, wait for candidates (bounded) and send `publishOffer`. */
  async start() {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await iceGatheringDone(this.pc);
    if (this.closed) return;
    this.send({ type: 'publishOffer', sdp: this.pc.localDescription.sdp });
  }

  /** The hub's `publishAnswer`. */
  async applyAnswer(sdp) {
    if (this.closed) return;
    if (this.pc.signalingState !== 'have-local-offer') {
      console.warn('lectern: publishAnswer without an offer out; ignored');
      return;
    }
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  close() {
    this.closed = true;
    // The local tracks outlive this connection (they are reused after a reconnect): do not stop them.
    this.pc.close();
  }
}
