//! Who is in a room and what they publish: a [`Participant`] (up to two peers: publish and
//! subscribe) and its [`UpTrack`]s. Plain data kept by [`super::Room`].

use lectern_proto::signal::ParticipantInfo;
use lectern_proto::{ParticipantId, Role, RoomId};
use str0m::media::{MediaKind, Mid};

use crate::classroom::Actor;
use crate::sfu::command::Ident;
use crate::sfu::gop::TrackGops;
use crate::sfu::keyframe::KeyframeThrottle;
use crate::sfu::peer::PeerKey;
use crate::sfu::simulcast::{LayerChooser, RateMeter};
use crate::store::Transport;

pub(super) struct Participant {
    pub ident: Ident,
    pub publish: Option<PeerKey>,
    pub subscribe: Option<PeerKey>,
    pub audio_muted: bool,
    pub video_muted: bool,
    /// A teacher muted this participant: the hub drops their audio until they may unmute.
    pub audio_blocked: bool,
    /// A teacher stopped this participant's camera.
    pub video_blocked: bool,
    /// A classroom box's new WHIP session, connecting to take over `publish` (see `takeover`).
    pub replacing: Option<Replacement>,
}

/// A box's new publish connection before it takes over: the m-lines its offer sends on.
pub(super) struct Replacement {
    pub key: PeerKey,
    pub media: Vec<(Mid, MediaKind)>,
}

/// A published track (one m-line of a publish peer).
pub(super) struct UpTrack {
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
    /// The rate of a single-stream video track (a simulcast track's layers measure their own).
    pub rate: RateMeter,
}

impl UpTrack {
    pub fn new(owner: ParticipantId, peer: PeerKey, mid: Mid, kind: MediaKind, screen: bool) -> Self {
        Self {
            owner,
            peer,
            mid,
            kind,
            keyframe: Default::default(),
            gops: Default::default(),
            screen,
            layers: Default::default(),
            rate: Default::default(),
        }
    }
}

impl Participant {
    pub fn new(ident: Ident) -> Self {
        Self {
            ident,
            publish: None,
            subscribe: None,
            audio_muted: false,
            video_muted: false,
            audio_blocked: false,
            video_blocked: false,
            replacing: None,
        }
    }

    pub fn id(&self) -> ParticipantId {
        self.ident.participant
    }

    pub fn room(&self) -> &RoomId {
        &self.ident.room
    }

    pub fn role(&self) -> Role {
        self.ident.role
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

    /// Browsers get room events; WHIP/WHEP clients have no signaling channel.
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
        actor(&self.ident)
    }

    pub fn is_return_feed(&self) -> bool {
        self.ident.transport == Transport::Return
    }
}

/// Who `ident` is to the classroom.
pub(super) fn actor(ident: &Ident) -> Actor {
    Actor {
        id: ident.participant,
        role: ident.role,
        name: ident.name.clone(),
        subject: ident.subject.clone(),
        personal: !ident.guest,
        passcode: ident.passcode.clone(),
        marks: ident.access.marks.clone(),
        box_link: ident.role == lectern_proto::Role::Device
            && matches!(ident.transport, Transport::Whip | Transport::Return),
    }
}
