//! A staged rollout as a pure state machine: rings of boxes (canary boxes → a building →
//! everyone) are offered the release one ring at a time; the next ring opens when every box of
//! the current one is done, and the rollout pauses by itself as soon as more than
//! `max_failure_percent` of a ring failed (refused the bundle or rolled back). An admin resumes
//! it (or not). No database, no clock: `releases` loads it, applies a report and writes back
//! what changed, and turns its [`Effect`]s into offers and audit rows.

use std::collections::BTreeMap;

use lectern_proto::update::UpdatePhase;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum RolloutState {
    Running,
    Paused { reason: String },
    Done,
}

/// Where one box of a rollout is: `None` until its ring opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub ring: usize,
    pub phase: Option<UpdatePhase>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub rings: usize,
    /// The ring being rolled out to (every ring before it is done).
    pub current: usize,
    pub state: RolloutState,
    pub max_failure_percent: u8,
    pub members: BTreeMap<String, Member>,
}

/// What the rollout asks of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Offer the release to these boxes (their ring opened).
    Offer(Vec<String>),
    Paused(String),
    Done,
}

impl Rollout {
    /// A rollout over `rings` (device ids, each in the first ring that names it; empty rings are
    /// skipped), not started yet: call [`Rollout::start`].
    pub fn new(rings: Vec<Vec<String>>, max_failure_percent: u8) -> Self {
        let mut members = BTreeMap::new();
        let mut ring = 0;
        for devices in rings {
            let mut added = false;
            for d in devices {
                if let std::collections::btree_map::Entry::Vacant(slot) = members.entry(d) {
                    slot.insert(Member { ring, phase: None });
                    added = true;
                }
            }
            if added {
                ring += 1;
            }
        }
        Rollout { rings: ring, current: 0, state: RolloutState::Running, max_failure_percent, members }
    }

    /// Opens the first ring.
    pub fn start(&mut self) -> Vec<Effect> {
        if self.rings == 0 {
            self.state = RolloutState::Done;
            return vec![Effect::Done];
        }
        vec![self.open(0)]
    }

    fn open(&mut self, ring: usize) -> Effect {
        self.current = ring;
        let mut offered = Vec::new();
        for (id, m) in self.members.iter_mut().filter(|(_, m)| m.ring == ring) {
            m.phase.get_or_insert(UpdatePhase::Assigned);
            offered.push(id.clone());
        }
        Effect::Offer(offered)
    }

    /// Whether `device` has been offered the release (its ring opened).
    pub fn offered(&self, device: &str) -> bool {
        self.members.get(device).is_some_and(|m| m.phase.is_some())
    }

    /// `(done, failed, size)` of a ring.
    pub fn ring_counts(&self, ring: usize) -> (usize, usize, usize) {
        let ms = self.members.values().filter(|m| m.ring == ring);
        ms.fold((0, 0, 0), |(done, failed, size), m| {
            let p = m.phase;
            (
                done + usize::from(p.is_some_and(UpdatePhase::is_final)),
                failed + usize::from(p.is_some_and(UpdatePhase::is_failure)),
                size + 1,
            )
        })
    }

    /// A box reported `phase`. Reports of boxes not (yet) offered are ignored.
    pub fn report(&mut self, device: &str, phase: UpdatePhase) -> Vec<Effect> {
        match self.members.get_mut(device) {
            Some(m) if m.phase.is_some() => m.phase = Some(phase),
            _ => return Vec::new(),
        }
        self.evaluate()
    }

    /// An admin resumes a paused rollout: it goes on from where it stopped (a ring that still
    /// fails more than allowed pauses again only on a new failure).
    pub fn resume(&mut self) -> Vec<Effect> {
        if !matches!(self.state, RolloutState::Paused { .. }) {
            return Vec::new();
        }
        self.state = RolloutState::Running;
        self.advance()
    }

    fn evaluate(&mut self) -> Vec<Effect> {
        if self.state != RolloutState::Running {
            return Vec::new();
        }
        let (_, failed, size) = self.ring_counts(self.current);
        // More than N % failed: the rest of the fleet waits for a person.
        if failed * 100 > usize::from(self.max_failure_percent) * size {
            let reason = format!(
                "{failed} of {size} boxes in ring {} failed (more than {} %)",
                self.current + 1,
                self.max_failure_percent
            );
            self.state = RolloutState::Paused { reason: reason.clone() };
            return vec![Effect::Paused(reason)];
        }
        self.advance()
    }

    /// Opens the next ring(s) while the current one is complete.
    fn advance(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        loop {
            let (done, _, size) = self.ring_counts(self.current);
            if done < size {
                return effects;
            }
            if self.current + 1 >= self.rings {
                self.state = RolloutState::Done;
                effects.push(Effect::Done);
                return effects;
            }
            effects.push(self.open(self.current + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("box-{i:02}")).collect()
    }

    /// 50 boxes: 5 canaries, a building of 15, then everyone (the canaries listed again are
    /// not offered twice).
    fn fleet() -> Rollout {
        Rollout::new(vec![ids(0..5), ids(5..20), ids(0..50)], 20)
    }

    fn offered(effects: &[Effect]) -> Vec<String> {
        effects.iter().flat_map(|e| if let Effect::Offer(v) = e { v.clone() } else { vec![] }).collect()
    }

    #[test]
    fn fifty_boxes_go_ring_by_ring_and_finish() {
        let mut r = fleet();
        assert_eq!(r.rings, 3);
        assert_eq!(offered(&r.start()), ids(0..5), "the canaries first");
        assert!(!r.offered("box-05"));
        for (i, id) in ids(0..5).iter().enumerate() {
            let effects = r.report(id, UpdatePhase::Downloading);
            assert!(effects.is_empty());
            let effects = r.report(id, UpdatePhase::Good);
            if i < 4 {
                assert!(effects.is_empty(), "ring 1 is not done yet");
            } else {
                assert_eq!(offered(&effects), ids(5..20), "the building once every canary is good");
            }
        }
        let mut opened = Vec::new();
        for id in ids(5..20) {
            opened.extend(offered(&r.report(&id, UpdatePhase::Good)));
        }
        assert_eq!(r.current, 2);
        assert_eq!(opened, ids(20..50), "then the 30 others, each once");
        assert!(ids(0..50).iter().all(|id| r.offered(id)));
        let mut last = Vec::new();
        for id in ids(20..50) {
            last = r.report(&id, UpdatePhase::Good);
        }
        assert_eq!(last, [Effect::Done]);
        assert_eq!(r.state, RolloutState::Done);
    }

    #[test]
    fn more_than_n_percent_failing_in_a_ring_pauses_before_the_next_ring() {
        let mut r = fleet();
        r.start();
        for id in ids(0..5) {
            r.report(&id, UpdatePhase::Good);
        }
        // Building ring of 15, 20 %: 3 failures are allowed, the 4th pauses.
        let building = ids(5..20);
        for id in &building[..3] {
            assert!(r.report(id, UpdatePhase::RolledBack).is_empty());
        }
        let effects = r.report(&building[3], UpdatePhase::Failed);
        assert!(
            matches!(effects.as_slice(), [Effect::Paused(reason)] if reason.contains("4 of 15") && reason.contains("ring 2")),
            "{effects:?}"
        );
        // The rest of the ring finishes; nothing opens while paused.
        for id in &building[4..] {
            assert!(r.report(id, UpdatePhase::Good).is_empty());
        }
        assert!(!r.offered("box-20"), "everyone waits");
        assert!(matches!(r.state, RolloutState::Paused { .. }));
        // A person looked and resumes: everyone gets it.
        let effects = r.resume();
        assert_eq!(offered(&effects), ids(20..50));
        assert_eq!(r.state, RolloutState::Running);
    }

    #[test]
    fn a_failing_canary_ring_pauses_at_once_and_reports_of_strangers_change_nothing() {
        let mut r = fleet();
        r.start();
        let before = r.clone();
        assert!(r.report("box-30", UpdatePhase::Failed).is_empty(), "not offered yet");
        assert!(r.report("stranger", UpdatePhase::Failed).is_empty());
        assert_eq!(r, before);
        // 1 of 5 is 20 %, not more: still running.
        assert!(r.report("box-00", UpdatePhase::Failed).is_empty());
        assert!(matches!(r.report("box-01", UpdatePhase::RolledBack).as_slice(), [Effect::Paused(_)]));
        assert!(r.report("box-02", UpdatePhase::Failed).is_empty(), "paused once");
    }

    #[test]
    fn empty_rings_are_skipped_and_an_empty_rollout_is_done() {
        let mut r = Rollout::new(vec![vec![], ids(0..2)], 10);
        assert_eq!(r.rings, 1);
        assert_eq!(offered(&r.start()), ids(0..2));
        let mut none = Rollout::new(vec![vec![]], 10);
        assert_eq!(none.start(), [Effect::Done]);
    }
}
