//! ICE restart of a browser's subscribe connection, asked for by the browser (`restartIce`) when
//! its path to the hub broke or its network changed. The hub offers on that connection, so it
//! re-offers it with new ICE credentials; every m-line stays as it is. (The publish connection is
//! restarted by the browser's own offer: str0m treats new credentials in an offer as a restart.)

use lectern_proto::ParticipantId;
use lectern_proto::signal::ServerMsg;

use super::Room;
use crate::sfu::command::SfuError;
use crate::sfu::peer_table::PeerTable;

impl Room {
    pub fn restart_subscribe_ice(&mut self, peers: &mut PeerTable, pid: ParticipantId) -> Result<(), SfuError> {
        let key = self.participants.get(&pid).ok_or(SfuError::UnknownParticipant)?.subscribe;
        // No subscribe connection yet (nobody publishes): nothing to restart.
        let Some(peer) = key.and_then(|k| peers.get_mut(k)) else { return Ok(()) };
        if !peer.hub_offers {
            return Err(SfuError::Conflict("this connection is not offered by the hub"));
        }
        if peer.pending.is_some() {
            return Err(SfuError::Conflict(
                "a subscribeOffer is waiting for its answer; restart ICE after answering it",
            ));
        }
        let mut change = peer.rtc.sdp_api();
        change.ice_restart(true);
        let Some((offer, pending)) = change.apply() else {
            return Err(SfuError::Conflict("the ICE restart produced no offer"));
        };
        peer.pending = Some(pending);
        // The same mapping as the last offer: the m-lines do not change.
        let tracks = super::subscription::offered_tracks(&peer.downs);
        tracing::info!(room = %self.id, participant = %pid, peer = peer.key.0, "ICE restart of the subscribe connection");
        let key = peer.key;
        let msg = ServerMsg::SubscribeOffer { sdp: offer.to_sdp_string(), tracks };
        peer.pending_offer = Some(msg.clone());
        peers.mark_dirty(key);
        self.signal(pid, msg);
        Ok(())
    }
}
