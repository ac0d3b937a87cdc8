//! Turns the timetable into commands for the classroom boxes: `GoLive` when a room's lesson
//! starts, `End` when it ends. [`transitions`] is the whole decision, pure and driven by `now`;
//! [`spawn_scheduler`] is the thin loop that reads the table every few seconds and sends.

use std::collections::BTreeSet;
use std::time::Duration;

use lectern_proto::RoomId;
use lectern_proto::device::HubMsg;
use serde_json::json;

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::timetable::Slot;

/// How often the schedule is checked; lessons are whole minutes, so a start is at most this late.
pub const TICK: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    GoLive,
    End,
}

impl Action {
    pub fn command(self) -> HubMsg {
        match self {
            Action::GoLive => HubMsg::GoLive,
            Action::End => HubMsg::End,
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            Action::GoLive => "schedule.golive",
            Action::End => "schedule.end",
        }
    }
}

/// Rooms with a lesson on at `now`.
pub fn live_rooms(slots: &[Slot], now: u64) -> BTreeSet<RoomId> {
    slots.iter().filter(|l| l.is_on(now)).map(|l| l.room.clone()).collect()
}

/// What to send, by room (sorted): `GoLive` for rooms whose lesson is on now and that were not live
/// (a start, or a lesson already on when the hub started); `End` for rooms that were live and have
/// no lesson on any more (an end, or a lesson edited away or deleted). Comparing states rather than
/// looking for start minutes means a missed tick or an edit never loses a command and none repeats.
/// Back-to-back lessons in one room keep it live: the box is not stopped for a minute's gap of zero.
pub fn transitions(slots: &[Slot], previously_live: &BTreeSet<RoomId>, now: u64) -> Vec<(RoomId, Action)> {
    let live = live_rooms(slots, now);
    let mut out: Vec<(RoomId, Action)> =
        live.difference(previously_live).map(|r| (r.clone(), Action::GoLive)).collect();
    out.extend(previously_live.difference(&live).map(|r| (r.clone(), Action::End)));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Folds a sent command into the set of live rooms. A `GoLive` no box received leaves the room out,
/// so it is sent again next tick (the box may connect late); an `End` counts even undelivered, since
/// a box that is not connected is not publishing for this lesson.
pub fn record(live: &mut BTreeSet<RoomId>, room: &RoomId, action: Action, delivered: bool) {
    match action {
        Action::GoLive if delivered => {
            live.insert(room.clone());
        }
        Action::GoLive => {}
        Action::End => {
            live.remove(room);
        }
    }
}

/// Checks the schedule every [`TICK`] and commands the boxes through the fleet, auditing each
/// delivered command (actor `scheduler`) and the first failed `GoLive` of a room until it succeeds.
pub fn spawn_scheduler(state: AdminState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut live = BTreeSet::new();
        let mut unreachable = BTreeSet::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let slots = match crate::schedule::all_slots(&state.pool).await {
                Ok(l) => l,
                Err(e) => {
                    // Keep the last decisions; the next tick tries again.
                    tracing::warn!(error = %e, "scheduler could not read the schedule");
                    continue;
                }
            };
            let now = state.now();
            for (room, action) in transitions(&slots, &live, now) {
                let delivered = state.fleet.send(&room, action.command());
                record(&mut live, &room, action, delivered);
                let first_failure = !delivered && action == Action::GoLive && unreachable.insert(room.clone());
                if delivered {
                    unreachable.remove(&room);
                }
                if delivered || first_failure || action == Action::End {
                    let e = Entry {
                        at: now,
                        actor: "scheduler",
                        action: action.audit_action(),
                        target: room.as_str(),
                        ip: "local",
                        details: json!({ "delivered": delivered }),
                    };
                    if let Err(e) = audit::record(&state.pool, &e).await {
                        tracing::warn!(error = %e, "scheduler could not write the audit trail");
                    }
                }
                tracing::info!(room = %room, ?action, delivered, "scheduled lesson command");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timetable::{Weekday, parse_hhmm};

    /// Monday 2024-01-01 00:00:00 UTC.
    const MONDAY: u64 = 1_704_067_200;
    const H: u64 = 3600;

    fn slot(id: i64, room: &str, day: Weekday, start: &str, end: &str) -> Slot {
        Slot {
            id,
            room: RoomId::parse(room).unwrap(),
            weekday: day,
            start_min: parse_hhmm(start, false).unwrap(),
            end_min: parse_hhmm(end, true).unwrap(),
            zone: "UTC".into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    fn room(s: &str) -> RoomId {
        RoomId::parse(s).unwrap()
    }

    /// The hub's loop on simulated time, every box reachable: (time, room, action) of every command.
    fn run(schedule: impl Fn(u64) -> Vec<Slot>, from: u64, to: u64) -> Vec<(u64, String, Action)> {
        let mut live = BTreeSet::new();
        let mut sent = Vec::new();
        let mut now = from;
        while now <= to {
            for (r, a) in transitions(&schedule(now), &live, now) {
                record(&mut live, &r, a, true);
                sent.push((now - from, r.to_string(), a));
            }
            now += TICK.as_secs();
        }
        sent
    }

    #[test]
    fn a_lesson_goes_live_at_its_start_and_ends_at_its_end_once_each() {
        let l = vec![slot(1, "lab", Weekday::Mon, "08:00", "09:00")];
        let sent = run(|_| l.clone(), MONDAY, MONDAY + 24 * H);
        assert_eq!(sent, vec![(8 * H, "lab".into(), Action::GoLive), (9 * H, "lab".into(), Action::End)]);
    }

    #[test]
    fn a_lesson_already_on_when_the_hub_starts_goes_live() {
        let l = vec![slot(1, "lab", Weekday::Mon, "08:00", "09:00")];
        let t = transitions(&l, &BTreeSet::new(), MONDAY + 8 * H + 1234);
        assert_eq!(t, vec![(room("lab"), Action::GoLive)]);
        // And nothing for rooms with no lesson on.
        assert!(transitions(&l, &BTreeSet::new(), MONDAY + 10 * H).is_empty());
    }

    #[test]
    fn lessons_across_midnight_and_the_week_boundary() {
        // Sunday until midnight, then Monday from midnight: one continuous stretch, no End between.
        let l = vec![slot(1, "lab", Weekday::Sun, "23:00", "24:00"), slot(2, "lab", Weekday::Mon, "00:00", "00:30")];
        let start = MONDAY - 2 * H; // Sunday 22:00
        let sent = run(|_| l.clone(), start, start + 3 * H);
        assert_eq!(sent, vec![(H, "lab".into(), Action::GoLive), (2 * H + 30 * 60, "lab".into(), Action::End)]);
        // Tuesday: nothing scheduled, nothing sent.
        assert!(run(|_| l.clone(), MONDAY + 24 * H, MONDAY + 48 * H).is_empty());
    }

    #[test]
    fn a_lesson_deleted_midway_ends_its_room() {
        let l = vec![slot(1, "lab", Weekday::Mon, "08:00", "09:00"), slot(2, "hall", Weekday::Mon, "08:00", "10:00")];
        let cut = MONDAY + 8 * H + 600;
        let sent = run(|now| if now < cut { l.clone() } else { l[1..].to_vec() }, MONDAY + 7 * H, MONDAY + 11 * H);
        assert_eq!(
            sent,
            vec![
                (H, "hall".into(), Action::GoLive),
                (H, "lab".into(), Action::GoLive),
                (H + 600, "lab".into(), Action::End),
                (3 * H, "hall".into(), Action::End),
            ]
        );
    }

    #[test]
    fn edits_while_on_move_the_live_state_without_duplicates() {
        let edit = MONDAY + 8 * H + 600;
        let schedule = |now: u64| {
            if now < edit {
                vec![slot(1, "lab", Weekday::Mon, "08:00", "09:00")]
            } else {
                // Extended and a second overlapping-in-time lesson elsewhere; then moved rooms later.
                vec![slot(1, "lab", Weekday::Mon, "08:00", "09:30"), slot(2, "hall", Weekday::Mon, "08:00", "09:30")]
            }
        };
        let sent = run(schedule, MONDAY + 7 * H, MONDAY + 12 * H);
        assert_eq!(
            sent,
            vec![
                (H, "lab".into(), Action::GoLive),
                (H + 600, "hall".into(), Action::GoLive),
                (2 * H + 1800, "hall".into(), Action::End),
                (2 * H + 1800, "lab".into(), Action::End),
            ]
        );
        // Shortened so that it is already over: End at once.
        let mut live = BTreeSet::from([room("lab")]);
        let short = vec![slot(1, "lab", Weekday::Mon, "08:00", "08:05")];
        assert_eq!(transitions(&short, &live, edit), vec![(room("lab"), Action::End)]);
        record(&mut live, &room("lab"), Action::End, true);
        assert!(transitions(&short, &live, edit + 5).is_empty());
    }

    #[test]
    fn an_undelivered_go_live_is_retried_until_a_box_takes_it() {
        let l = vec![slot(1, "lab", Weekday::Mon, "08:00", "09:00")];
        let mut live = BTreeSet::new();
        let now = MONDAY + 8 * H;
        for i in 0..3 {
            let t = transitions(&l, &live, now + i * 5);
            assert_eq!(t, vec![(room("lab"), Action::GoLive)]);
            record(&mut live, &t[0].0, t[0].1, i == 2);
        }
        assert!(transitions(&l, &live, now + 15).is_empty());
        // An undelivered End is not retried.
        record(&mut live, &room("lab"), Action::End, false);
        assert!(transitions(&[], &live, now + 20).is_empty());
    }
}
