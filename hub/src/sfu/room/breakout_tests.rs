//! Breakout groups meeting the media: who receives whose tracks, the classroom box's place, and the
//! timer on the room's own clock. No sockets: tracks are put in the room as a publisher's would be.

use std::time::Duration;

use lectern_proto::breakout::{Assignment, BreakoutCommand as B, BreakoutEvent, GroupId};
use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent};
use lectern_proto::signal::ServerMsg;
use lectern_proto::{ParticipantId, Role, TrackId};
use str0m::media::{MediaKind, Mid};

use super::participant::UpTrack;
use super::tests::{Fixture, ident, signals};
use crate::sfu::peer::PeerKey;
use crate::store::{StoreEvent, Transport};

const TEACHER: ParticipantId = ParticipantId(1);
const ADA: ParticipantId = ParticipantId(2);
const GRACE: ParticipantId = ParticipantId(3);
const ALAN: ParticipantId = ParticipantId(4);
const DISPLAY: ParticipantId = ParticipantId(5);
const BOX: ParticipantId = ParticipantId(6);

fn breakout(cmd: B) -> ClassroomCommand {
    ClassroomCommand::Breakout(cmd)
}

/// A teacher, three students, the room display (a browser with the box's credential) and the box's
/// WHIP session, each publishing one audio track (the track id is the participant's).
fn class() -> Fixture {
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    for id in [ADA, GRACE, ALAN] {
        f.join(id, Role::Student, false);
    }
    f.join(DISPLAY, Role::Device, false);
    let whip = crate::sfu::command::Ident { transport: Transport::Whip, ..ident(BOX, Role::Device, false) };
    f.room.gate(&mut f.peers, &whip, f.now).expect("the box is admitted");
    f.room.admit(super::participant::Participant::new(whip), f.now);
    for id in [TEACHER, ADA, GRACE, ALAN, DISPLAY, BOX] {
        let up = UpTrack::new(id, PeerKey(id.0), Mid::from("0"), MediaKind::Audio, false);
        f.room.tracks.insert(TrackId(id.0), up);
    }
    f.outputs();
    f
}

/// Whether `to` may receive `from`'s track now.
fn hears(f: &Fixture, to: ParticipantId, from: ParticipantId) -> bool {
    let sub = f.room.participants.get(&to).expect("present");
    !f.room.hidden_from(sub, &f.room.tracks[&TrackId(from.0)])
}

fn start_two_groups(f: &mut Fixture, duration_secs: Option<u32>) {
    let create = B::CreateBreakouts {
        groups: 2,
        names: None,
        assignment: Assignment::Manual,
        duration_secs,
        recall_secs: Some(5),
    };
    f.command(TEACHER, breakout(create));
    for (who, g) in [(ADA, 1), (GRACE, 1), (ALAN, 2)] {
        f.command(TEACHER, breakout(B::AssignBreakout { participant_id: who, group: Some(GroupId(g)) }));
    }
    f.command(TEACHER, breakout(B::StartBreakouts));
}

#[test]
fn tracks_flow_only_within_a_space_and_the_box_stays_with_the_main_room() {
    let mut f = class();
    assert!(hears(&f, ADA, ALAN) && hears(&f, ALAN, BOX), "before the groups everyone hears everyone");
    start_two_groups(&mut f, None);
    assert!(hears(&f, ADA, GRACE) && hears(&f, GRACE, ADA), "group 1 mates");
    for (a, b) in
        [(ADA, ALAN), (ALAN, GRACE), (ADA, TEACHER), (TEACHER, ALAN), (ADA, BOX), (BOX, GRACE), (DISPLAY, ADA)]
    {
        assert!(!hears(&f, a, b), "{a} must not receive {b}");
    }
    assert!(hears(&f, TEACHER, BOX) && hears(&f, DISPLAY, TEACHER), "the main room: teacher, box and display");

    f.command(TEACHER, breakout(B::VisitBreakout { group: Some(GroupId(2)) }));
    assert!(hears(&f, TEACHER, ALAN) && hears(&f, ALAN, TEACHER) && !hears(&f, TEACHER, BOX));
    f.command(TEACHER, breakout(B::VisitBreakout { group: None }));

    let out = f.command(TEACHER, breakout(B::MoveClassroom { group: Some(GroupId(1)) }));
    assert!(hears(&f, ADA, BOX) && hears(&f, DISPLAY, GRACE) && !hears(&f, TEACHER, BOX), "the classroom was sent");
    let told = signals(&out, DISPLAY);
    assert!(
        told.iter().any(|m| matches!(
            m,
            ServerMsg::Classroom(ClassroomEvent::Breakout(BreakoutEvent::BreakoutSpace {
                group: Some(GroupId(1)),
                ..
            }))
        )),
        "the room display is told where it is: {told:?}"
    );
}

#[test]
fn the_timer_runs_on_the_rooms_clock_and_its_end_brings_everyone_back_and_keeps_the_groups() {
    let mut f = class();
    start_two_groups(&mut f, Some(60));
    let started = f.now;
    assert_eq!(f.room.next_deadline(), Some(started.mono + Duration::from_secs(60)));
    f.now = started.after(Duration::from_secs(60));
    f.room.on_timeout(&mut f.peers, f.now);
    f.outputs();
    assert!(!hears(&f, ADA, ALAN), "the countdown: still apart");
    assert_eq!(f.room.next_deadline(), Some(started.mono + Duration::from_secs(65)));
    f.now = started.after(Duration::from_secs(65));
    f.room.on_timeout(&mut f.peers, f.now);
    let out = f.outputs();
    assert!(hears(&f, ADA, ALAN) && hears(&f, ALAN, TEACHER) && hears(&f, GRACE, BOX), "everyone back together");
    let kept: Vec<(u32, u32)> = out
        .iter()
        .filter_map(|o| match o {
            super::RoomOutput::Store(StoreEvent::BreakoutSaved(s)) => Some((s.space.round, s.space.group.0)),
            _ => None,
        })
        .collect();
    assert_eq!(kept, [(1, 1), (1, 2)], "both groups kept with the lesson");
    assert!(f.room.next_deadline().is_none_or(|d| d > f.now.mono + Duration::from_secs(60)));
}

#[test]
fn a_late_joiner_lands_in_the_main_room_or_in_the_group_they_were_given() {
    let mut f = class();
    start_two_groups(&mut f, None);
    let out = f.join(ParticipantId(20), Role::Student, false);
    let view = |out: &[super::RoomOutput], id| {
        signals(out, id).into_iter().find_map(|m| match m {
            ServerMsg::Classroom(ClassroomEvent::Breakout(BreakoutEvent::BreakoutsChanged { breakouts: Some(v) })) => {
                Some(v.clone())
            }
            _ => None,
        })
    };
    let newcomer = view(&out, ParticipantId(20)).expect("told the round on joining");
    assert_eq!((newcomer.assigned, newcomer.location), (None, None));
    assert!(view(&out, TEACHER).expect("the teacher sees the newcomer").unassigned.contains(&ParticipantId(20)));
    // Ada's connection drops and she comes back (same identity, new connection): her group again.
    f.room.remove_participant(&mut f.peers, ADA, f.now).expect("removed");
    f.outputs();
    let again = ParticipantId(2 + 100);
    let i = crate::sfu::command::Ident { participant: again, ..ident(ADA, Role::Student, false) };
    f.room.join_browser(&mut f.peers, i, f.now).expect("answered");
    let out = f.outputs();
    assert_eq!(view(&out, again).expect("told").location, Some(GroupId(1)));
}
