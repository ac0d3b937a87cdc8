//! The room's side of the hub recorder (see [`crate::recording::recorder`]): who is recorded,
//! and their packets handed out as [`RoomOutput::Record`]s. While the lesson records, the hub
//! records the teacher's camera and microphone when no classroom box publishes (the box records
//! the room itself), and every student's when the room's `[recording] students = "always"`.
//! Screen shares are not recorded here. A person's file closes when recording stops, the lesson
//! ends, or they leave.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use lectern_proto::lesson::StudentsRecorded;
use lectern_proto::upload::RecordingKind;
use lectern_proto::{ParticipantId, Role, TrackId};
use str0m::format::PayloadParams;
use str0m::media::{MediaKind, Rid};
use str0m::rtp::RtpPacket;

use super::{Room, RoomOutput};
use crate::recording::recorder::file::Media;
use crate::recording::recorder::reorder::Packet;
use crate::recording::recorder::stream::{SenderClock, StreamCodec};
use crate::recording::recorder::{RecordOutput, RecordPacket};
use crate::sfu::peer_table::PeerTable;
use crate::time::Now;

/// What the room keeps for the recorder.
#[derive(Debug, Default)]
pub struct RoomRecorder {
    /// The room's `[recording] students`, as the last join brought it.
    pub students: StudentsRecorded,
    /// People whose packets went to the recorder in this recording, with the simulcast layer
    /// each recorded track is locked to (one layer's sequence numbers per file).
    recorded: BTreeMap<ParticipantId, BTreeMap<TrackId, Option<Rid>>>,
}

impl Room {
    /// The kind of file `owner`'s camera and mic go into, if the hub records them now.
    fn recorded_kind(&self, owner: ParticipantId) -> Option<RecordingKind> {
        if !self.classroom.is_recording() {
            return None;
        }
        match self.participants.get(&owner)?.role() {
            Role::Teacher if !self.box_publishes() => Some(RecordingKind::Camera),
            Role::Student if self.recorder.students == StudentsRecorded::Always => Some(RecordingKind::Participant),
            _ => None,
        }
    }

    fn box_publishes(&self) -> bool {
        self.tracks.values().any(|t| self.participants.get(&t.owner).is_some_and(|p| p.role() == Role::Device))
    }

    /// A forwarded packet: to the recorder too, if its publisher is recorded.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_packet(
        &mut self,
        track: TrackId,
        rid: Option<Rid>,
        params: PayloadParams,
        packet: &RtpPacket,
        now: Now,
    ) {
        let Some(up) = self.tracks.get(&track) else { return };
        if up.screen {
            return;
        }
        let (owner, kind, best) = (up.owner, up.kind, up.layers.best());
        let Some(file_kind) = self.recorded_kind(owner) else { return };
        let Some(codec) = StreamCodec::from_str0m(params.spec().codec) else { return };
        let Some(lesson) = self.lesson_id().cloned() else { return };
        let locked = self.recorder.recorded.entry(owner).or_default().entry(track).or_insert(rid.and(best).or(rid));
        if *locked != rid {
            return;
        }
        let since = now.mono.saturating_duration_since(packet.timestamp);
        let arrival_ms = i64::try_from(now.unix_ms).unwrap_or(i64::MAX) - i64::try_from(since.as_millis()).unwrap_or(0);
        let report = packet.last_sender_info.and_then(|sr| {
            let unix = sr.ntp_time.duration_since(UNIX_EPOCH).ok()?;
            Some(SenderClock { rtp_time: sr.rtp_time.numer(), unix_us: i64::try_from(unix.as_micros()).ok()? })
        });
        let name = self.participants.get(&owner).map(|p| p.ident.name.clone()).unwrap_or_default();
        let media = if kind == MediaKind::Video { Media::Video } else { Media::Audio };
        let p = RecordPacket {
            room: self.id.clone(),
            lesson,
            participant: owner,
            name,
            kind: file_kind,
            track,
            media,
            codec,
            packet: Packet {
                seq: *packet.seq_no,
                rtp_time: packet.time.numer(),
                marker: packet.header.marker,
                payload: packet.payload.clone(),
                arrival_ms,
            },
            report,
        };
        self.emit(RoomOutput::Record(RecordOutput::Packet(Box::new(p))));
    }

    /// `pid`'s file is complete (they left).
    pub(super) fn stop_recording_of(&mut self, pid: ParticipantId) {
        if self.recorder.recorded.remove(&pid).is_some()
            && let Some(lesson) = self.lesson_id().cloned()
        {
            self.emit(RoomOutput::Record(RecordOutput::Close { lesson, participant: pid }));
        }
    }

    /// Recording stopped (a teacher, the policy, the lesson's end): every file closes.
    pub(super) fn stop_recording_all(&mut self) {
        let Some(lesson) = self.lesson_id().cloned() else { return };
        for pid in std::mem::take(&mut self.recorder.recorded).into_keys() {
            self.emit(RoomOutput::Record(RecordOutput::Close { lesson: lesson.clone(), participant: pid }));
        }
    }

    /// The recorder lost packets of `track` (or starts its file): its publisher is asked for a keyframe.
    pub fn recorder_keyframe(&mut self, peers: &mut PeerTable, track: TrackId) {
        if self.tracks.contains_key(&track) {
            self.keyframe_upstream(peers, track);
        }
    }
}
