//! Server-authoritative classroom logic: lobby, hands, chat, reactions, polls, attendance and moderation
//! as one sans-IO state machine per room. The WebSocket layer feeds it commands, joins and leaves with
//! the time (`now`, unix ms), delivers the [`Outbound`] events it returns and enforces its [`Effect`]s.
//! Start at [`Classroom::handle`]; each feature lives in its own module.

mod attendance;
pub mod breakout;
mod chat;
mod error;
mod files;
mod hand;
mod lobby;
mod moderation;
mod passcode;
#[cfg(test)]
mod policy_tests;
mod poll;
mod poll_flow;
mod poll_report;
mod rate;
mod reaction;
mod roster;
mod stage;
#[cfg(test)]
mod tests;
pub(crate) mod text;
pub mod whiteboard;
#[cfg(test)]
mod whiteboard_tests;

use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent, DenyReason, PollId, RoomPolicy};
use lectern_proto::{ParticipantId, Role};

pub use attendance::{AttendanceReport, AttendanceRow, Interval};
pub use error::ClassroomError;
pub use files::{FileGate, STUDENTS_MAY_NOT_SHARE, Sharer};
pub use poll_report::{OptionResult, PollReport, PollResponse};
pub use rate::{JoinLimiter, Rate, RateLimiter, ip_key, join_key};
pub use text::{csv_row, iso_time};

use chat::Chat;
use hand::HandQueue;
use lobby::Lobby;
use poll::Polls;
use roster::{Participant, Roster};

use crate::recording::{LessonRun, RecordingSwitch};
use lectern_proto::lesson::RecordingPolicy;

/// Who sent a command or asks to join, as the validated token says. Nothing here is cached per
/// connection: a reconnecting teacher is a teacher because the new token says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: ParticipantId,
    pub role: Role,
    pub name: String,
    /// Stable identity (the token's `sub`): blocks, attendance and poll answers key on it.
    pub subject: String,
    /// Holds a personal lesson token rather than a shared guest link.
    pub personal: bool,
    /// What a guest typed as the room passcode (checked only for guests, only when joining).
    pub passcode: Option<String>,
    /// What else a guest is known by (its browser, its address): a block covers these too, since
    /// every holder of a shared link has the same `sub`. Empty for personal tokens.
    pub marks: Vec<String>,
    /// One of the room box's own connections (its WHIP publish or its return feed). The device
    /// role anywhere else (the web page, WHEP) is a person holding the box's credential.
    pub box_link: bool,
}

/// Who an event is for. Resolve with [`Classroom::recipients`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone admitted to the room (not the lobby).
    Everyone,
    Teachers,
    /// Teachers and the room's device: the room display shows the hand queue and the lobby.
    TeachersAndDevices,
    /// One participant, admitted or waiting in the lobby.
    One(ParticipantId),
    /// Everyone admitted except one.
    Except(ParticipantId),
    /// Everyone in one space: a breakout group, or the main room (`None`).
    Space(Option<lectern_proto::breakout::GroupId>),
    /// Everyone in one space except one.
    SpaceExcept(Option<lectern_proto::breakout::GroupId>, ParticipantId),
}

/// What the media and connection layer must do; the classroom cannot do it itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A lobby participant was admitted: complete their join and send them [`Classroom::snapshot_for`].
    Admit(ParticipantId),
    MuteAudio(ParticipantId),
    StopVideo(ParticipantId),
    StopScreenShare(ParticipantId),
    /// Close the connection, after delivering the events that precede this effect.
    Kick(ParticipantId),
    /// Close every connection of the room and drop this `Classroom`.
    EndLesson,
    /// Recording started or stopped (`by` a teacher, or by the policy or the lesson's end): the
    /// room's box is told and the switch audited.
    Recording {
        on: bool,
        by: Option<ParticipantId>,
    },
    /// Someone moved between the main room and a breakout group: each browser gets exactly the
    /// tracks of the space it is in (see [`Classroom::location_of`]).
    Regroup,
}

/// In order: deliver events and apply effects in the sequence given.
// Most outbound items are events, so boxing them would add an allocation each and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Event { to: Audience, event: ClassroomEvent },
    Effect(Effect),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinDecision {
    /// In the room now: send the snapshot.
    Admit,
    /// In the lobby at this 1-based position: send `ClassroomEvent::Waiting`, keep the socket open.
    Wait(u32),
    /// Send `ClassroomEvent::Denied` and close.
    Deny(DenyReason),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinOutcome {
    pub decision: JoinDecision,
    /// E.g. the lobby list for teachers when someone starts waiting.
    pub outbound: Vec<Outbound>,
}

/// One lesson in one room. Every method is a pure state transition; a command that returns an error
/// changed nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Classroom {
    policy: RoomPolicy,
    ended: bool,
    roster: Roster,
    lobby: Lobby,
    hands: HandQueue,
    chat: Chat,
    polls: Polls,
    attendance: attendance::Attendance,
    spotlight: Option<ParticipantId>,
    screen_sharer: Option<ParticipantId>,
    /// Students a teacher asked to unmute: they may, even when the policy forbids it.
    unmute_granted: std::collections::BTreeSet<ParticipantId>,
    chat_limit: RateLimiter<String>,
    reaction_limit: RateLimiter<String>,
    /// The web admin's settings for the room, as last given (see [`Classroom::follow_admin`]).
    admin: AdminSettings,
    /// The whiteboard and the shared notes.
    board: whiteboard::Board,
    /// This lesson occurrence: its id, when it started and ended (see [`crate::recording`]).
    lesson: LessonRun,
    /// Whether the lesson is being recorded, under the room's policy.
    recording: RecordingSwitch,
    /// Breakout groups: the round on now and the spaces of past rounds still to be kept.
    breakouts: breakout::Breakouts,
}

/// The web admin's settings of the room that the lesson enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdminSettings {
    /// Most people admitted at once, teachers and the room's box not counted.
    pub capacity: Option<u32>,
    /// Everyone but teachers waits in the lobby (`None`: the admin did not say).
    pub everyone_waits: Option<bool>,
    /// The room's recording policy (the admin's, else the hub's `[recording] default`).
    pub recording: RecordingPolicy,
}

impl Default for Classroom {
    fn default() -> Self {
        Self::new(RoomPolicy::default())
    }
}

impl Classroom {
    /// A new lesson has no passcode yet, whatever `policy` says; [`Classroom::next_lesson`] keeps it.
    pub fn new(policy: RoomPolicy) -> Self {
        Self {
            policy: RoomPolicy { passcode_required: false, ..policy },
            ended: false,
            roster: Roster::default(),
            lobby: Lobby::default(),
            hands: HandQueue::default(),
            chat: Chat::default(),
            polls: Polls::default(),
            attendance: attendance::Attendance::default(),
            spotlight: None,
            screen_sharer: None,
            unmute_granted: Default::default(),
            chat_limit: RateLimiter::new(Rate::CHAT),
            reaction_limit: RateLimiter::new(Rate::REACTION),
            admin: AdminSettings::default(),
            board: whiteboard::Board::default(),
            lesson: LessonRun::default(),
            recording: RecordingSwitch::default(),
            breakouts: breakout::Breakouts::default(),
        }
    }

    /// The lesson after this one in the same room: the teacher's settings and passcode carry over,
    /// everything that happened (hands, chat, polls, attendance, blocks) does not.
    pub fn next_lesson(&self) -> Self {
        let mut next = Self::new(self.policy);
        next.policy.passcode_required = self.policy.passcode_required;
        next.lobby.set_passcode(self.lobby.passcode().cloned());
        next.admin = self.admin;
        next.recording.follow_policy(self.admin.recording);
        next
    }

    /// The web admin's settings as they are now (they come with each join). A change of
    /// `everyone_waits` becomes the lesson's policy, as if a teacher had set it; a teacher may still
    /// change it for the lesson afterwards.
    pub fn follow_admin(&mut self, now: u64, settings: AdminSettings) -> Vec<Outbound> {
        let before = self.admin;
        self.admin = settings;
        let mut out = Vec::new();
        if self.recording.follow_policy(settings.recording) {
            out.extend(self.recording_switched(false, None));
        }
        let Some(waits) = settings.everyone_waits.filter(|w| before.everyone_waits != Some(*w)) else {
            return out;
        };
        if self.policy.everyone_waits == waits {
            return out;
        }
        self.policy.everyone_waits = waits;
        out.push(send(Audience::Everyone, ClassroomEvent::PolicyChanged { policy: self.policy }));
        if !waits {
            out.extend(self.release_personal_waiters(now));
        }
        out
    }

    /// Seats left under the admin's capacity (`None`: no limit).
    fn seats_left(&self) -> Option<usize> {
        let capacity = self.admin.capacity? as usize;
        Some(capacity.saturating_sub(self.roster.seated()))
    }

    /// Applies one command from an admitted participant.
    pub fn handle(&mut self, now: u64, actor: &Actor, cmd: ClassroomCommand) -> Result<Vec<Outbound>, ClassroomError> {
        use ClassroomCommand as C;
        if self.ended {
            return Err(ClassroomError::LessonEnded);
        }
        if !self.roster.contains(actor.id) {
            return Err(ClassroomError::NotInRoom);
        }
        match cmd {
            C::RaiseHand => self.raise_hand(now, actor),
            C::LowerHand { participant_id } => self.lower_hand(actor, participant_id),
            C::LowerAllHands => self.lower_all_hands(actor),
            // In a breakout group, these act on the group's chat and board (see breakout.rs).
            C::SendChat { text, to } => self.in_space(actor, |c| c.send_chat(now, actor, &text, to)),
            C::DeleteChat { message_id } => self.in_space(actor, |c| c.delete_chat(actor, message_id)),
            C::React { reaction } => self.react(now, actor, reaction),
            C::CreatePoll { question, options, multiple, anonymous, correct } => {
                self.create_poll(now, actor, &question, &options, (multiple, anonymous), correct.as_deref())
            }
            C::AnswerPoll { poll_id, choices } => self.answer_poll(now, actor, poll_id, &choices),
            C::ClosePoll { poll_id, share_results } => self.close_poll(now, actor, poll_id, share_results),
            C::SharePollResults { poll_id } => self.share_poll(actor, poll_id),
            C::Admit { participant_id } => self.admit(now, actor, Some(participant_id)),
            C::AdmitAll => self.admit(now, actor, None),
            C::Deny { participant_id } => self.deny(actor, Some(participant_id)),
            C::DenyAll => self.deny(actor, None),
            C::SetPolicy(patch) => self.set_policy(now, actor, patch),
            C::SetPasscode { passcode } => self.set_passcode(actor, passcode.as_deref()),
            C::MuteParticipant { participant_id } => self.mute(actor, participant_id),
            C::MuteAllStudents => self.mute_all_students(actor),
            C::AskToUnmute { participant_id } => self.ask_to_unmute(actor, participant_id),
            C::StopVideo { participant_id } => self.stop_video(actor, participant_id),
            C::RemoveParticipant { participant_id } => self.remove(now, actor, participant_id),
            C::Spotlight { participant_id } => self.set_spotlight(actor, participant_id),
            C::RequestScreenShare => self.request_screen_share(actor),
            C::StopScreenShare { participant_id } => self.stop_screen_share(actor, participant_id),
            C::EndLesson => self.end_lesson(now, actor),
            C::SetRecording { on } => self.set_recording(actor, on),
            C::Board(cmd) => self.in_space(actor, |c| c.board_command(now, actor, cmd)),
            C::Breakout(cmd) => self.breakout_command(now, actor, cmd),
            C::ShareFile { file, subject, group } => self.share_file(now, actor, file, &subject, group),
        }
    }

    /// A connection closed (or a waiting one gave up). Unknown ids are ignored, so calling it twice is fine.
    pub fn on_left(&mut self, now: u64, id: ParticipantId) -> Vec<Outbound> {
        if self.lobby.take(id).is_some() {
            return self.lobby_moved();
        }
        self.depart(now, id)
    }

    /// Forgets an admitted participant everywhere they left a trace that others see.
    fn depart(&mut self, now: u64, id: ParticipantId) -> Vec<Outbound> {
        let Some(participant) = self.roster.remove(id) else { return Vec::new() };
        self.attendance.left(now, id, &participant.subject);
        self.unmute_granted.remove(&id);
        let mut out = self.board_left(id);
        out.extend(self.breakout_departed(now, id, &participant.subject));
        if self.hands.lower(id) {
            out.push(send(
                Audience::TeachersAndDevices,
                ClassroomEvent::HandsChanged { hands: self.hands.list().to_vec() },
            ));
        }
        if self.spotlight == Some(id) {
            self.spotlight = None;
            out.push(send(Audience::Everyone, ClassroomEvent::SpotlightChanged { participant_id: None }));
        }
        if self.screen_sharer == Some(id) {
            self.screen_sharer = None;
            out.push(send(Audience::Everyone, ClassroomEvent::ScreenShareChanged { participant_id: None }));
        }
        out
    }

    /// Everything a (re)joining browser needs, filtered by what its role and identity may see.
    pub fn snapshot_for(&self, actor: &Actor) -> ClassroomEvent {
        let hosts = matches!(actor.role, Role::Teacher | Role::Device);
        let poll = self.polls.current();
        let results_visible = |p: &&poll::Poll| actor.role == Role::Teacher || p.shared;
        ClassroomEvent::State {
            policy: self.policy,
            spotlight: self.spotlight,
            screen_sharer: self.screen_sharer,
            hand_raised: self.hands.is_raised(actor.id),
            hands: hosts.then(|| self.hands.list().to_vec()),
            chat: self.chat_here(actor.id).visible_to(&actor.subject),
            poll: poll.map(poll::Poll::view),
            poll_results: poll.filter(results_visible).map(poll::Poll::results),
            my_answer: poll.and_then(|p| p.answer_of(&actor.subject)).map(|a| a.choices.clone()),
            lobby: hosts.then(|| self.lobby.entries()),
            recording: self.recording.is_on(),
        }
    }

    /// The participants an [`Audience`] reaches right now.
    pub fn recipients(&self, to: &Audience) -> Vec<ParticipantId> {
        match *to {
            Audience::Space(at) => self.space_recipients(at, None),
            Audience::SpaceExcept(at, except) => self.space_recipients(at, Some(except)),
            _ => self.roster.recipients(to),
        }
    }

    pub fn policy(&self) -> RoomPolicy {
        self.policy
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// This lesson occurrence (its id once someone was admitted).
    pub fn lesson(&self) -> &LessonRun {
        &self.lesson
    }

    /// The room opens and closes the occurrence as people come and go (see [`LessonRun`]).
    pub fn lesson_mut(&mut self) -> &mut LessonRun {
        &mut self.lesson
    }

    /// Whether the lesson is being recorded (every page shows it; the join page before entering).
    pub fn is_recording(&self) -> bool {
        self.recording.is_on()
    }

    /// A teacher starts or stops recording (refused where the room's policy is `off`).
    fn set_recording(&mut self, actor: &Actor, on: bool) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can start or stop recording")?;
        if !self.lesson.is_open() {
            return Err(ClassroomError::Conflict("the lesson has not started"));
        }
        let changed = self.recording.request(on).map_err(ClassroomError::Conflict)?;
        Ok(if changed { self.recording_switched(on, Some(actor.id)) } else { Vec::new() })
    }

    /// The lesson just started: under the `always` policy, recording starts with it.
    pub fn recording_at_start(&mut self) -> Vec<Outbound> {
        if self.recording.lesson_started() { self.recording_switched(true, None) } else { Vec::new() }
    }

    /// The lesson is over: a running recording stops.
    pub fn recording_at_end(&mut self) -> Vec<Outbound> {
        if self.recording.lesson_over() { self.recording_switched(false, None) } else { Vec::new() }
    }

    /// Everyone (the lobby too: they see it before they enter) hears of it; the room tells the box.
    fn recording_switched(&self, on: bool, by: Option<ParticipantId>) -> Vec<Outbound> {
        let event = ClassroomEvent::RecordingChanged { recording: on };
        let mut out = vec![send(Audience::Everyone, event.clone())];
        out.extend(self.lobby.ids().into_iter().map(|id| send(Audience::One(id), event.clone())));
        out.push(Outbound::Effect(Effect::Recording { on, by }));
        out
    }

    /// Ends the lesson without a teacher's command (the API, the timetable): as
    /// [`ClassroomCommand::EndLesson`] does. Nothing if it has ended already.
    pub fn end_now(&mut self, now: u64) -> Vec<Outbound> {
        if self.ended { Vec::new() } else { self.close(now) }
    }

    /// Whether `id` waits in the lobby.
    pub fn is_waiting(&self, id: ParticipantId) -> bool {
        self.lobby.position(id).is_some()
    }

    pub fn screen_sharer(&self) -> Option<ParticipantId> {
        self.screen_sharer
    }

    /// Attendance, with each person's time in breakout groups.
    pub fn attendance_report(&self, now: u64) -> AttendanceReport {
        let mut report = self.attendance.report(now);
        let mut groups = self.group_times(now);
        for row in &mut report.people {
            row.breakouts = groups.remove(&row.subject).unwrap_or_default();
        }
        report
    }

    pub fn poll_reports(&self) -> Vec<PollReport> {
        self.polls.all().iter().map(PollReport::of).collect()
    }

    pub fn poll_report(&self, id: PollId) -> Result<PollReport, ClassroomError> {
        self.polls.get(id).map(PollReport::of)
    }

    fn participant(&self, id: ParticipantId) -> Result<&Participant, ClassroomError> {
        self.roster.get(id).ok_or(ClassroomError::UnknownParticipant(id))
    }

    /// Whom a command acts on: the actor without `target`; someone else only for `roles`, and only
    /// someone in the room.
    fn target_of(
        &self,
        actor: &Actor,
        target: Option<ParticipantId>,
        roles: &[Role],
        refusal: &'static str,
    ) -> Result<ParticipantId, ClassroomError> {
        let target = target.unwrap_or(actor.id);
        if target != actor.id {
            require(actor, roles, refusal)?;
            self.participant(target)?;
        }
        Ok(target)
    }

    /// The cleaned name recorded at join; the actor's own `name` is raw token text.
    fn display_name(&self, id: ParticipantId) -> String {
        self.roster.get(id).map_or_else(|| "Participant".to_owned(), |m| m.name.clone())
    }
}

fn send(to: Audience, event: ClassroomEvent) -> Outbound {
    Outbound::Event { to, event }
}

/// Deny by default: the roles allowed are listed at each command.
fn require(actor: &Actor, roles: &[Role], refusal: &'static str) -> Result<(), ClassroomError> {
    if roles.contains(&actor.role) { Ok(()) } else { Err(ClassroomError::NotAllowed(refusal)) }
}
