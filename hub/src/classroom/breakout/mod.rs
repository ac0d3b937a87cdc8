//! Breakout rooms in the lesson: teachers create a round of groups and run it ([`plan`]), each group
//! has its own chat, whiteboard and notes ([`space`]), and everyone is told where they are. The
//! groups are spaces of the one lesson: the classroom says who is where ([`Classroom::location_of`])
//! and the room forwards media by it (`sfu/room/privacy.rs`); nobody reconnects.
//!
//! A chat or board command of someone in a group runs against that group's space, which stands in
//! for the lesson's while the command runs ([`Classroom::in_space`]): every rule of chat.rs and
//! whiteboard.rs applies unchanged, and what it sends to "everyone" goes to the group.

mod plan;
mod space;

use std::collections::BTreeMap;

use lectern_proto::board::{BoardMode, DocKind};
use lectern_proto::breakout::{
    Assignment, BreakoutCommand, BreakoutEvent, BreakoutView, GroupId, GroupView, MAX_BROADCAST_CHARS,
};
use lectern_proto::classroom::ClassroomEvent;
use lectern_proto::{ParticipantId, Role};

pub use plan::{Plan, Setup, Tick};
pub use space::{GroupTime, KeptSpace, Space};

use super::text::clean;
use super::{Actor, Audience, Classroom, ClassroomError, Effect, Outbound, require, send};

/// The lesson's breakout rounds: the one on now, its groups' spaces, and what is to be kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Breakouts {
    plan: Option<Plan>,
    spaces: BTreeMap<GroupId, Space>,
    /// Rounds created in this lesson.
    rounds: u32,
    /// Spaces of rounds that closed, until the room hands them to the store.
    closed: Vec<KeptSpace>,
    log: space::GroupLog,
}

/// Where each admitted participant is (`None`: the main room).
type Locations = BTreeMap<ParticipantId, Option<GroupId>>;

const TEACHERS_ONLY: &str = "only a teacher can run breakout groups";
const NO_ROUND: ClassroomError = ClassroomError::Conflict("there are no breakout groups; create them first");

fn event(e: BreakoutEvent) -> ClassroomEvent {
    ClassroomEvent::Breakout(e)
}

impl Classroom {
    pub(super) fn breakout_command(
        &mut self,
        now: u64,
        actor: &Actor,
        cmd: BreakoutCommand,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        use BreakoutCommand as B;
        let before = self.locations();
        let changed = match cmd {
            B::ChooseBreakout { group } => {
                require(actor, &[Role::Student], "only students choose their group")?;
                self.breakouts.plan.as_mut().ok_or(NO_ROUND)?.choose(&actor.subject, group)?
            }
            B::BroadcastBreakouts { text } => return self.broadcast(now, actor, &text),
            cmd => {
                require(actor, &[Role::Teacher], TEACHERS_ONLY)?;
                self.teacher_breakout(now, actor, cmd)?
            }
        };
        Ok(if changed { self.regroup(now, &before) } else { Vec::new() })
    }

    /// A teacher's command; true if anything changed.
    fn teacher_breakout(&mut self, now: u64, actor: &Actor, cmd: BreakoutCommand) -> Result<bool, ClassroomError> {
        use BreakoutCommand as B;
        match cmd {
            B::CreateBreakouts { groups, names, assignment, duration_secs, recall_secs } => {
                if self.breakouts.plan.is_some() {
                    return Err(ClassroomError::Conflict("breakout groups are already on; recall them first"));
                }
                let round = self.breakouts.rounds + 1;
                let mut plan = Plan::new(round, Setup { groups, names, assignment, duration_secs, recall_secs })?;
                if assignment == Assignment::Random {
                    let students: Vec<String> = self.students().into_iter().map(|(_, s)| s).collect();
                    plan.deal(&students, now ^ u64::from(round).rotate_left(32));
                }
                self.breakouts.rounds = round;
                self.breakouts.spaces = plan.groups().map(|(g, _)| (g, Space::default())).collect();
                self.breakouts.plan = Some(plan);
                Ok(true)
            }
            B::AssignBreakout { participant_id, group } => {
                let p = self.participant(participant_id)?;
                if p.role != Role::Student {
                    return Err(ClassroomError::InvalidInput("only students are put in groups; teachers visit them"));
                }
                let subject = p.subject.clone();
                self.breakouts.plan.as_mut().ok_or(NO_ROUND)?.assign(&subject, group)
            }
            B::StartBreakouts => self.breakouts.plan.as_mut().ok_or(NO_ROUND)?.start(now).map(|()| true),
            B::VisitBreakout { group } => self.breakouts.plan.as_mut().ok_or(NO_ROUND)?.visit(actor.id, group),
            B::MoveClassroom { group } => self.breakouts.plan.as_mut().ok_or(NO_ROUND)?.move_classroom(group),
            B::RecallBreakouts { recall_secs } => {
                let tick = self.breakouts.plan.as_mut().ok_or(NO_ROUND)?.recall(now, recall_secs)?;
                if tick == Tick::Closed {
                    self.close_round();
                }
                Ok(true)
            }
            // Routed before: not a teacher-only command.
            B::ChooseBreakout { .. } | B::BroadcastBreakouts { .. } => Ok(false),
        }
    }

    /// A teacher's message to every group and the main room.
    fn broadcast(&mut self, now: u64, actor: &Actor, text: &str) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], TEACHERS_ONLY)?;
        if self.breakouts.plan.is_none() {
            return Err(NO_ROUND);
        }
        let text = clean(text, MAX_BROADCAST_CHARS, true).map_err(|e| {
            ClassroomError::text(e, "the message is empty", "the message is longer than 500 characters")
        })?;
        if !self.chat_limit.try_acquire(&actor.subject, now) {
            return Err(ClassroomError::RateLimited);
        }
        let from_name = self.display_name(actor.id);
        Ok(vec![send(Audience::Everyone, event(BreakoutEvent::BreakoutBroadcast { text, from_name, sent_at: now }))])
    }

    /// Time passed: the timer's end starts the recall, the recall's end brings everyone back.
    pub fn breakout_tick(&mut self, now: u64) -> Vec<Outbound> {
        let before = self.locations();
        let Some(plan) = self.breakouts.plan.as_mut() else { return Vec::new() };
        match plan.tick(now) {
            Tick::Nothing => Vec::new(),
            Tick::Recalling => self.breakout_views(now, None),
            Tick::Closed => {
                self.close_round();
                self.regroup(now, &before)
            }
        }
    }

    /// When [`Classroom::breakout_tick`] has something to do (unix ms).
    pub fn breakout_deadline(&self) -> Option<u64> {
        self.breakouts.plan.as_ref().and_then(Plan::deadline)
    }

    /// The round is over: its spaces are kept (if the groups ever met), everyone is back in the
    /// main room.
    fn close_round(&mut self) {
        let Some(plan) = self.breakouts.plan.take() else { return };
        let spaces = std::mem::take(&mut self.breakouts.spaces);
        if !plan.is_live() {
            return; // discarded before the start: nothing happened in them
        }
        for (group, space) in &spaces {
            let name = plan.name(*group).unwrap_or_default();
            self.breakouts.closed.push(KeptSpace::of(plan.round(), *group, name, space));
        }
    }

    /// What is to be kept with the lesson: closed rounds' spaces (once each), and with `all` the
    /// groups meeting now as they stand (the lesson ends or the room empties).
    pub fn breakouts_to_keep(&mut self, all: bool) -> Vec<KeptSpace> {
        let mut out = std::mem::take(&mut self.breakouts.closed);
        if all && let Some(plan) = &self.breakouts.plan {
            for (group, space) in &self.breakouts.spaces {
                out.push(KeptSpace::of(plan.round(), *group, plan.name(*group).unwrap_or_default(), space));
            }
        }
        out
    }

    /// Where participant `id` is now: `None` is the main room (and anyone unknown).
    pub fn location_of(&self, id: ParticipantId) -> Option<GroupId> {
        let plan = self.breakouts.plan.as_ref()?;
        let p = self.roster.get(id)?;
        match p.role {
            Role::Student => plan.student_group(&p.subject),
            Role::Teacher => plan.teacher_group(id),
            // The box, its return feed and the room display are the physical classroom.
            Role::Device => plan.classroom_group(),
            Role::Viewer | Role::Admin => None,
        }
    }

    /// The round whose groups meet now.
    pub(crate) fn breakout_round(&self) -> Option<u32> {
        self.breakouts.plan.as_ref().filter(|p| p.is_live()).map(Plan::round)
    }

    /// Where the physical classroom (the box, its return feed, the room display) is now.
    pub fn classroom_location(&self) -> Option<GroupId> {
        self.breakouts.plan.as_ref().and_then(Plan::classroom_group)
    }

    fn locations(&self) -> Locations {
        self.roster.ids().into_iter().map(|id| (id, self.location_of(id))).collect()
    }

    /// Students present: (connection, identity).
    fn students(&self) -> Vec<(ParticipantId, String)> {
        let ids = self.roster.with_role(Role::Student);
        ids.into_iter().filter_map(|id| self.roster.get(id).map(|p| (id, p.subject.clone()))).collect()
    }

    /// After a change of the round: whoever moved is given their new space (its chat, board and
    /// notes), everyone the round as it is now, and the room re-routes the media.
    fn regroup(&mut self, now: u64, before: &Locations) -> Vec<Outbound> {
        let after = self.locations();
        let movers: Vec<(ParticipantId, Option<GroupId>)> =
            after.iter().filter(|(id, loc)| before.get(id) != Some(loc)).map(|(id, loc)| (*id, *loc)).collect();
        let mut out = Vec::new();
        for (id, to) in &movers {
            self.log_move(now, *id, *to);
            out.extend(self.space_welcome(*id, *to));
        }
        out.extend(self.breakout_views(now, None));
        if !movers.is_empty() {
            out.push(Outbound::Effect(Effect::Regroup));
        }
        out
    }

    fn log_move(&mut self, now: u64, id: ParticipantId, to: Option<GroupId>) {
        let Some(p) = self.roster.get(id).filter(|p| space::counts(p.role)) else { return };
        let subject = p.subject.clone();
        let target = match (to, &self.breakouts.plan) {
            (Some(g), Some(plan)) => Some((plan.round(), g, plan.name(g).unwrap_or_default())),
            _ => None,
        };
        self.breakouts.log.moved(now, id, &subject, target);
    }

    /// The space `to` for participant `id`: its name and chat, then its board's policy and documents.
    fn space_welcome(&self, id: ParticipantId, to: Option<GroupId>) -> Vec<Outbound> {
        let subject = self.roster.get(id).map(|p| p.subject.as_str()).unwrap_or_default();
        let name = to.and_then(|g| self.breakouts.plan.as_ref()?.name(g)).unwrap_or("Main room").to_owned();
        let (chat, board) = self.space_parts(to);
        let moved = BreakoutEvent::BreakoutSpace { group: to, name, chat: chat.visible_to(subject) };
        let one = Audience::One(id);
        vec![
            send(one, event(moved)),
            send(one, board.policy()),
            send(one, board.sync(DocKind::Board, true)),
            send(one, board.sync(DocKind::Notes, true)),
        ]
    }

    /// The chat and board of a space (the lesson's for the main room or a group that is gone).
    fn space_parts(&self, at: Option<GroupId>) -> (&super::chat::Chat, &super::whiteboard::Board) {
        match at.and_then(|g| self.breakouts.spaces.get(&g)) {
            Some(space) => (&space.chat, &space.board),
            None => (&self.chat, &self.board),
        }
    }

    /// The lesson's chat as `id` sees it where they are (the `state` snapshot's).
    pub(super) fn chat_here(&self, id: ParticipantId) -> &super::chat::Chat {
        self.space_parts(self.location_of(id)).0
    }

    /// The whiteboard and notes where `id` is (what a (re)joining browser is synced with).
    pub(super) fn board_here(&self, id: ParticipantId) -> &super::whiteboard::Board {
        self.space_parts(self.location_of(id)).1
    }

    /// Runs a chat or board command of `actor` in the space they are in. While groups meet, a
    /// group's chat and board stand in for the lesson's during `f`, and what `f` sends to everyone
    /// goes to that space only (the main room's included). Without groups, `f` runs as it is.
    pub(super) fn in_space(
        &mut self,
        actor: &Actor,
        f: impl FnOnce(&mut Self) -> Result<Vec<Outbound>, ClassroomError>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        if !self.breakouts.plan.as_ref().is_some_and(Plan::is_live) {
            return f(self);
        }
        let at = self.location_of(actor.id);
        self.swap_space(at);
        let result = f(self);
        self.swap_space(at);
        let retarget = |to: Audience| match to {
            Audience::Everyone => Audience::Space(at),
            Audience::Except(id) => Audience::SpaceExcept(at, id),
            other => other,
        };
        result.map(|out| {
            out.into_iter()
                .map(|o| match o {
                    Outbound::Event { to, event } => Outbound::Event { to: retarget(to), event },
                    effect => effect,
                })
                .collect()
        })
    }

    /// Exchanges the lesson's chat and board with group `at`'s (twice: back as they were).
    fn swap_space(&mut self, at: Option<GroupId>) {
        if let Some(space) = at.and_then(|g| self.breakouts.spaces.get_mut(&g)) {
            std::mem::swap(&mut self.chat, &mut space.chat);
            std::mem::swap(&mut self.board, &mut space.board);
        }
    }

    /// Who an audience of a space reaches.
    pub(super) fn space_recipients(&self, at: Option<GroupId>, except: Option<ParticipantId>) -> Vec<ParticipantId> {
        self.roster.ids().into_iter().filter(|id| Some(*id) != except && self.location_of(*id) == at).collect()
    }

    /// The round as participant `id` sees it (`None`: no round).
    pub fn breakout_view(&self, now: u64, id: ParticipantId) -> Option<BreakoutView> {
        let plan = self.breakouts.plan.as_ref()?;
        let subject = self.roster.get(id).map(|p| p.subject.as_str()).unwrap_or_default();
        let students = self.students();
        let groups = plan
            .groups()
            .map(|(g, name)| GroupView {
                id: g,
                name: name.to_owned(),
                members: students.iter().filter(|(_, s)| plan.assigned(s) == Some(g)).map(|(id, _)| *id).collect(),
                visitors: self
                    .roster
                    .with_role(Role::Teacher)
                    .into_iter()
                    .filter(|t| plan.teacher_group(*t) == Some(g))
                    .collect(),
            })
            .collect();
        let left = |at: Option<u64>| at.map(|t| t.saturating_sub(now));
        Some(BreakoutView {
            round: plan.round(),
            phase: plan.phase(),
            assignment: plan.assignment(),
            groups,
            unassigned: students.iter().filter(|(_, s)| plan.assigned(s).is_none()).map(|(id, _)| *id).collect(),
            classroom: plan.classroom_setting(),
            assigned: plan.assigned(subject),
            location: self.location_of(id),
            ends_at: plan.ends_at(),
            remaining_ms: left(plan.ends_at()),
            recall_at: plan.recall_at(),
            recall_in_ms: left(plan.recall_at()),
            recall_secs: plan.recall_secs(),
        })
    }

    /// The round as it is now, to everyone admitted (but `except`), each with their own place. Nothing
    /// when no round is on and `except` is `Some` (a join or a leave outside breakouts).
    pub fn breakout_views(&self, now: u64, except: Option<ParticipantId>) -> Vec<Outbound> {
        if self.breakouts.plan.is_none() && except.is_some() {
            return Vec::new();
        }
        let ids = self.roster.ids().into_iter().filter(|id| Some(*id) != except);
        ids.map(|id| {
            let breakouts = self.breakout_view(now, id);
            send(Audience::One(id), event(BreakoutEvent::BreakoutsChanged { breakouts }))
        })
        .collect()
    }

    /// Someone was admitted: a student of a group meeting now starts there (attendance).
    pub(super) fn breakout_entered(&mut self, now: u64, id: ParticipantId) {
        let at = self.location_of(id);
        if at.is_some() {
            self.log_move(now, id, at);
        }
    }

    /// Someone left: their time in a group ends, a teacher's visit too, a group's pen they held
    /// goes back to everyone in the group; the others see the groups without them.
    pub(super) fn breakout_departed(&mut self, now: u64, id: ParticipantId, subject: &str) -> Vec<Outbound> {
        self.breakouts.log.moved(now, id, subject, None);
        let Some(plan) = self.breakouts.plan.as_mut() else { return Vec::new() };
        plan.forget_teacher(id);
        let mut out = Vec::new();
        for (group, space) in &mut self.breakouts.spaces {
            if space.board.pen_left(id, BoardMode::Everyone) {
                out.push(send(Audience::Space(Some(*group)), space.board.policy()));
            }
        }
        out.extend(self.breakout_views(now, Some(id)));
        out
    }

    /// Time per group for the attendance report, by identity.
    pub(super) fn group_times(&self, now: u64) -> BTreeMap<String, Vec<GroupTime>> {
        self.breakouts.log.report(now)
    }
}

#[cfg(test)]
mod tests;
