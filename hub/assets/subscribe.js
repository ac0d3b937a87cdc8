// The subscribe peer connection: everyone else's media from the hub. The hub offers and re-offers
// on the same connection whenever tracks come and go; each offer's `tracks` list says which
// participant each mid carries (and `screen: true` for a shared screen). Mids missing from the latest
// list are inactive.

import { takeEarlySubscription } from './boot.js';

export class Subscriber {
  /**
   * @param {(msg: object) => boolean} send  sends a signaling message on the current socket
   * @param {(tracks: Array<{mid: string, participantId: number, kind: string, track: MediaStreamTrack}>) => void} onTracks
   *   called after every negotiation with the complete set of live remote tracks
   * @param {RTCConfiguration} [config]
   * @param {string} [firstOffer]  the offer this connection is made for: if boot.js already
   *   answered it, its connection is taken over instead of a new one made
   */
  constructor(send, onTracks, config = {}, firstOffer = null) {
    this.send = send;
    this.onTracks = onTracks;
    this.closed = false;
    this.tracks = []; // the latest offer's list: [{mid, participantId, kind}]
    this.queue = Promise.resolve(); // offers are applied one at a time, in order
    this.adopted = firstOffer == null ? null : takeEarlySubscription(firstOffer);
    if (this.adopted) {
      this.pc = this.adopted.pc;
      this.queue = this.adopted.done.catch((err) => console.error('lectern: early subscribe negotiation failed', err));
    } else {
      this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', ...config });
    }
    // A track may surface after the answer is applied; refresh the mapping then too.
    this.pc.addEventListener('track', () => this.publishTracks());
  }

  /** The hub's `subscribeOffer` (first or renegotiation). */
  handleOffer(sdp, tracks) {
    if (this.adopted && this.adopted.sdp === sdp) {
      // boot.js answered this one already: only the mapping is new to us.
      this.adopted = null;
      this.queue = this.queue.then(() => {
        this.tracks = Array.isArray(tracks) ? tracks : [];
        this.publishTracks();
      });
      return this.queue;
    }
    this.queue = this.queue
      .then(() => this.negotiate(sdp, Array.isArray(tracks) ? tracks : []))
      .catch((err) => console.error('lectern: subscribe negotiation failed', err));
    return this.queue;
  }

  async negotiate(sdp, tracks) {
    if (this.closed) return;
    // The mapping holds from the moment the offer is applied ('track' events fire inside it).
    this.tracks = tracks;
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    // No waiting for our candidates: the hub is ICE-lite and learns our address from our checks.
    // The sooner it has the answer, the sooner it can accept those checks (first frame comes faster).
    if (this.closed) return;
    this.send({ type: 'subscribeAnswer', sdp: this.pc.localDescription.sdp });
    this.publishTracks();
  }

  /** The live remote tracks, each tagged with its owner, per the latest offer. */
  liveTracks() {
    const byMid = new Map(this.tracks.map((t) => [String(t.mid), t]));
    const out = [];
    for (const tr of this.pc.getTransceivers()) {
      const info = tr.mid == null ? undefined : byMid.get(tr.mid);
      if (!info || tr.stopped || tr.currentDirection === 'inactive' || tr.currentDirection === 'stopped') continue;
      const track = tr.receiver.track;
      if (!track || track.kind !== info.kind) continue;
      out.push({ mid: tr.mid, participantId: info.participantId, kind: info.kind, screen: !!info.screen, track });
    }
    return out;
  }

  publishTracks() {
    if (this.closed) return;
    this.onTracks(this.liveTracks());
  }

  close() {
    this.closed = true;
    this.pc.close();
  }
}
