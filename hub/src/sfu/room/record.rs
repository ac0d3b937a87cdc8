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
        if !self.classroom.is_recording() {
            return;
        }
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

#[cfg(test)]
mod tests {
    use lectern_proto::classroom::ClassroomCommand;
    use lectern_proto::lesson::RecordingPolicy;

    use super::*;
    use crate::sfu::room::tests::{Fixture, ident};

    const TEACHER: ParticipantId = ParticipantId(1);
    const STUDENT: ParticipantId = ParticipantId(2);

    fn join(f: &mut Fixture, id: ParticipantId, role: Role, policy: RecordingPolicy, students: StudentsRecorded) {
        let mut who = ident(id, role, false);
        who.access.recording = policy;
        who.access.students = students;
        f.room.join_browser(&mut f.peers, who, f.now).expect("join is answered");
        f.outputs();
    }

    fn closes(out: &[RoomOutput]) -> Vec<ParticipantId> {
        out.iter()
            .filter_map(|o| match o {
                RoomOutput::Record(RecordOutput::Close { participant, .. }) => Some(*participant),
                _ => None,
            })
            .collect()
    }

    /// As if `pid`'s packets had gone to the recorder.
    fn recorded(f: &mut Fixture, pid: ParticipantId) {
        f.room.recorder.recorded.entry(pid).or_default().insert(TrackId(pid.0), None);
    }

    #[test]
    fn the_teacher_is_recorded_without_a_box_and_students_only_when_the_room_says_always() {
        let mut f = Fixture::new();
        join(&mut f, TEACHER, Role::Teacher, RecordingPolicy::OnRequest, StudentsRecorded::Never);
        join(&mut f, STUDENT, Role::Student, RecordingPolicy::OnRequest, StudentsRecorded::Never);
        assert_eq!(f.room.recorded_kind(TEACHER), None, "not while the lesson does not record");
        f.command(TEACHER, ClassroomCommand::SetRecording { on: true });
        assert_eq!(f.room.recorded_kind(TEACHER), Some(RecordingKind::Camera));
        assert_eq!(f.room.recorded_kind(STUDENT), None, "students = never");

        let mut f = Fixture::new();
        join(&mut f, TEACHER, Role::Teacher, RecordingPolicy::Always, StudentsRecorded::Always);
        join(&mut f, STUDENT, Role::Student, RecordingPolicy::Always, StudentsRecorded::Always);
        assert_eq!(f.room.recorded_kind(STUDENT), Some(RecordingKind::Participant));
        assert_eq!(f.room.recorded_kind(ParticipantId(9)), None, "nobody else");
    }

    #[test]
    fn files_close_when_their_person_leaves_and_all_when_recording_stops_or_the_lesson_ends() {
        let mut f = Fixture::new();
        join(&mut f, TEACHER, Role::Teacher, RecordingPolicy::OnRequest, StudentsRecorded::Always);
        join(&mut f, STUDENT, Role::Student, RecordingPolicy::OnRequest, StudentsRecorded::Always);
        f.command(TEACHER, ClassroomCommand::SetRecording { on: true });
        recorded(&mut f, TEACHER);
        recorded(&mut f, STUDENT);
        f.room.remove_participant(&mut f.peers, STUDENT, f.now).expect("in the room");
        assert_eq!(closes(&f.outputs()), [STUDENT]);
        let out = f.command(TEACHER, ClassroomCommand::SetRecording { on: false });
        assert_eq!(closes(&out), [TEACHER]);
        // Started again: a new file; the lesson's end closes it.
        f.command(TEACHER, ClassroomCommand::SetRecording { on: true });
        recorded(&mut f, TEACHER);
        let out = f.command(TEACHER, ClassroomCommand::EndLesson);
        assert_eq!(closes(&out), [TEACHER], "closed once, before the teacher's session ends");
    }
}
