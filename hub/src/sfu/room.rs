//! Who is in a room and what they publish. Plain data owned by the shard; no IO.

use std::collections::BTreeMap;

use lectern_proto::signal::{ParticipantInfo, ServerMsg};
use lectern_proto::{ParticipantId, TrackId};
use str0m::media::{MediaKind, Mid};
use tokio::sync::mpsc;

use super::command::Ident;
use super::gop::TrackGops;
use super::keyframe::KeyframeThrottle;
use super::peer::PeerKey;
use super::simulcast::LayerChooser;
use super::speaker::SpeakerSelector;
use crate::classroom::{Actor, Classroom};
use crate::store::Transport;

#[derive(Default)]
pub struct Room {
    pub members: BTreeMap<ParticipantId, Member>,
    pub tracks: BTreeMap<TrackId, UpTrack>,
    /// Loudness of remote participants, for the classroom's return feed.
    pub speakers: SpeakerSelector,
    /// When the return feed's slots were last chosen.
    pub last_selection: Option<std::time::Instant>,
    /// The lesson: lobby, hands, chat, polls, attendance. Outlives members leaving, so a teacher
    /// can still export attendance after the last student left.
    pub classroom: Classroom,
    /// Browsers held in the lobby, not yet members.
    pub waiting: BTreeMap<ParticipantId, Member>,
    /// Since when nobody is in the room (it is dropped after a while).
    pub empty_since: Option<std::time::Instant>,
}

pub struct Member {
    pub ident: Ident,
    /// Browsers get room events; WHIP/WHEP clients have no signaling channel.
    pub events: Option<mpsc::UnboundedSender<ServerMsg>>,
    pub publish: Option<PeerKey>,
    pub subscribe: Option<PeerKey>,
    pub audio_muted: bool,
    pub video_muted: bool,
    /// A teacher muted this participant: the hub drops their audio until they may unmute.
    pub audio_blocked: bool,
    /// A teacher stopped this participant's camera.
    pub video_blocked: bool,
}

/// A published track (one m-line of a publish peer).
pub struct UpTrack {
    pub owner: ParticipantId,
    pub peer: PeerKey,
    pub mid: Mid,
    pub kind: MediaKind,
    pub keyframe: KeyframeThrottle,
    /// Since the last keyframe of each stream, for viewers starting now (video only).
    pub gops: TrackGops,
    /// A screen share rather than a camera.
    pub screen: bool,
    /// Which simulcast layer is best to forward (unused for a single-stream track).
    pub layers: LayerChooser,
}

impl Member {
    pub fn new(ident: Ident, events: Option<mpsc::UnboundedSender<ServerMsg>>) -> Self {
        Self {
            ident,
            events,
            publish: None,
            subscribe: None,
            audio_muted: false,
            video_muted: false,
            audio_blocked: false,
            video_blocked: false,
        }
    }

    pub fn info(&self) -> ParticipantInfo {
        ParticipantInfo {
            id: self.ident.participant,
            name: self.ident.name.clone(),
            role: self.ident.role,
            audio_muted: self.audio_muted,
            video_muted: self.video_muted,
        }
    }

    /// Sends a room event to a browser; a closed channel means the socket task is already gone.
    pub fn send(&self, msg: ServerMsg) {
        if let Some(tx) = &self.events {
            let _ = tx.send(msg);
        }
    }

    pub fn is_browser(&self) -> bool {
        self.ident.transport == Transport::Browser
    }

    /// A teacher stopped this participant's media of `kind`: the hub drops it.
    pub fn blocks(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => self.audio_blocked,
            MediaKind::Video => self.video_blocked,
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            id: self.ident.participant,
            role: self.ident.role,
            name: self.ident.name.clone(),
            subject: self.ident.subject.clone(),
            personal: !self.ident.guest,
            passcode: self.ident.passcode.clone(),
        }
    }

    pub fn is_return_feed(&self) -> bool {
        self.ident.transport == Transport::Return
    }
}

impl Room {
    /// Sends `msg` to every browser in the room except `except`.
    pub fn broadcast(&self, except: ParticipantId, msg: &ServerMsg) {
        for m in self.members.values().filter(|m| m.ident.participant != except) {
            m.send(msg.clone());
        }
    }

    pub fn infos_except(&self, except: ParticipantId) -> Vec<ParticipantInfo> {
        // The return feed is the classroom box's second connection, not another participant.
        self.members
            .values()
            .filter(|m| m.ident.participant != except && !m.is_return_feed())
            .map(Member::info)
            .collect()
    }

    /// An admitted member or someone waiting in the lobby.
    pub fn anyone(&self, id: ParticipantId) -> Option<&Member> {
        self.members.get(&id).or_else(|| self.waiting.get(&id))
    }

    pub fn subscriber_peers(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.members.values().filter_map(|m| m.subscribe)
    }
}
