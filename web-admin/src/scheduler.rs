//! Turns the timetable into commands for the classroom boxes: `GoLive` when a room's lesson
//! starts, `End` when it ends, honouring terms, holidays and one-off changes ([`Timetable`]).
//! [`transitions`] is the whole decision, pure and driven by `now`; [`spawn_scheduler`] is the thin
//! loop that reads the tables every few seconds and sends.

use std::collections::BTreeSet;
use std::time::Duration;

use lectern_proto::RoomId;
use lectern_proto::device::HubMsg;
use serde_json::json;

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::calendar::Timetable;

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
pub fn live_rooms(timetable: &Timetable, now: u64) -> BTreeSet<RoomId> {
    timetable.on_at(now).into_iter().map(|l| l.room).collect()
}

/// What to send, by room (sorted): `GoLive` for rooms whose lesson is on now and that were not live
/// (a start, or a lesson already on when the hub started); `End` for rooms that were live and have
/// no lesson on any more (an end, or a lesson edited away or deleted). Comparing states rather than
/// looking for start minutes means a missed tick or an edit never loses a command and none repeats.
/// Back-to-back lessons in one room keep it live: the box is not stopped for a minute's gap of zero.
pub fn transitions(timetable: &Timetable, previously_live: &BTreeSet<RoomId>, now: u64) -> Vec<(RoomId, Action)> {
    let live = live_rooms(timetable, now);
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
            let timetable = match crate::terms::load_timetable(&state.pool).await {
                Ok(l) => l,
                Err(e) => {
                    // Keep the last decisions; the next tick tries again.
                    tracing::warn!(error = %e, "scheduler could not read the schedule");
                    continue;
                }
            };
            let now = state.now();
            for (room, action) in transitions(&timetable, &live, now) {
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
    use crate::timetable::{Slot, Weekday, parse_hhmm};

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
            for (r, a) in transitions(&Timetable::from(schedule(now)), &live, now) {
                record(&mut live, &r, a, true);
                sent.push((now - from, r.to_string(), a));
            }
            now += TICK.as_secs();
        }
        sent
    }

    /// The loop over six weeks of 2027 on simulated time, with rooms in Berlin, New York and Sydney,
    /// each with its own term dates and holidays, across the spring changes of all three zones:
    /// every command at the right instant, none in a holiday or outside a term.
    #[test]
    fn go_live_and_end_follow_terms_holidays_and_the_2027_daylight_saving_changes() {
        use crate::calendar::{DateRange, RoomCalendar, parse_date};
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second() as u64;
        let tz = |n: &str| jiff::tz::TimeZoneDatabase::bundled().get(n).unwrap();
        let zoned = |id, r: &str, day, start: &str, end: &str, zone: &str| Slot {
            zone: zone.into(),
            tz: tz(zone),
            ..slot(id, r, day, start, end)
        };
        let range = |a: &str, b: &str| DateRange { first: parse_date(a).unwrap(), last: parse_date(b).unwrap() };
        let mut t = Timetable::from(vec![
            zoned(1, "berlin", Weekday::Mon, "08:00", "09:00", "Europe/Berlin"),
            zoned(2, "newyork", Weekday::Mon, "08:00", "09:00", "America/New_York"),
            zoned(3, "sydney", Weekday::Mon, "09:00", "10:00", "Australia/Sydney"),
        ]);
        let cal = |terms, holidays| RoomCalendar { terms, holidays };
        t.calendars.insert(
            room("berlin"),
            cal(vec![range("2027-01-04", "2027-07-16")], vec![range("2027-03-29", "2027-04-09")]),
        );
        t.calendars.insert(room("newyork"), cal(vec![range("2027-03-15", "2027-06-18")], vec![]));
        t.calendars.insert(
            room("sydney"),
            cal(vec![range("2027-02-01", "2027-04-09")], vec![range("2027-03-22", "2027-03-22")]),
        );
        let (from, to) = (at("2027-03-07T00:00:00Z"), at("2027-04-18T00:00:00Z"));
        let mut live = BTreeSet::new();
        let mut sent = Vec::new();
        // Lessons are whole minutes: a one-minute tick meets every start and end exactly.
        let mut now = from;
        while now <= to {
            for (r, a) in transitions(&t, &live, now) {
                record(&mut live, &r, a, true);
                sent.push((now, r.to_string(), a));
            }
            now += 60;
        }
        let want = |list: &[(&str, &str, &str)]| -> Vec<(u64, String, Action)> {
            let mut v: Vec<_> = list
                .iter()
                .flat_map(|(r, s, e)| [(at(s), r.to_string(), Action::GoLive), (at(e), r.to_string(), Action::End)])
                .collect();
            v.sort_by_key(|(t, r, a)| (*t, r.clone(), *a == Action::GoLive));
            v
        };
        let mut got = sent.clone();
        got.sort_by_key(|(t, r, a)| (*t, r.clone(), *a == Action::GoLive));
        #[rustfmt::skip]
        let expected = want(&[
            // Berlin: CET until 28 March, Easter holidays 29 March to 9 April, then CEST.
            ("berlin", "2027-03-08T07:00:00Z", "2027-03-08T08:00:00Z"),
            ("berlin", "2027-03-15T07:00:00Z", "2027-03-15T08:00:00Z"),
            ("berlin", "2027-03-22T07:00:00Z", "2027-03-22T08:00:00Z"),
            ("berlin", "2027-04-12T06:00:00Z", "2027-04-12T07:00:00Z"),
            // New York: the term starts on 15 March, the day after the change to EDT.
            ("newyork", "2027-03-15T12:00:00Z", "2027-03-15T13:00:00Z"),
            ("newyork", "2027-03-22T12:00:00Z", "2027-03-22T13:00:00Z"),
            ("newyork", "2027-03-29T12:00:00Z", "2027-03-29T13:00:00Z"),
            ("newyork", "2027-04-05T12:00:00Z", "2027-04-05T13:00:00Z"),
            ("newyork", "2027-04-12T12:00:00Z", "2027-04-12T13:00:00Z"),
            // Sydney: AEDT (Monday 09:00 is Sunday 22:00 UTC), a holiday on 22 March, AEST from
            // 4 April, and the term over on 9 April.
            ("sydney", "2027-03-07T22:00:00Z", "2027-03-07T23:00:00Z"),
            ("sydney", "2027-03-14T22:00:00Z", "2027-03-14T23:00:00Z"),
            ("sydney", "2027-03-28T22:00:00Z", "2027-03-28T23:00:00Z"),
            ("sydney", "2027-04-04T23:00:00Z", "2027-04-05T00:00:00Z"),
        ]);
        assert_eq!(got, expected);
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
        let l = Timetable::from(l);
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
        let short = Timetable::from(vec![slot(1, "lab", Weekday::Mon, "08:00", "08:05")]);
        assert_eq!(transitions(&short, &live, edit), vec![(room("lab"), Action::End)]);
        record(&mut live, &room("lab"), Action::End, true);
        assert!(transitions(&short, &live, edit + 5).is_empty());
    }

    #[test]
    fn an_undelivered_go_live_is_retried_until_a_box_takes_it() {
        let l = Timetable::from(vec![slot(1, "lab", Weekday::Mon, "08:00", "09:00")]);
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
        assert!(transitions(&Timetable::default(), &live, now + 20).is_empty());
    }
}
