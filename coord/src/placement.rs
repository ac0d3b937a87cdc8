//! Where a new room goes: the least loaded node that is fresh and serving. Lessons start together
//! (8:00 on a Monday), and a room that just started has nobody in it yet, so counted by its
//! participants every room would land on the same node: a room counts as at least
//! [`Placement::new_room_weight`] participants for its first minutes, and a node takes at most
//! [`Placement::burst`] new rooms per [`Placement::burst_window`].

use std::collections::HashMap;

use crate::Millis;
use crate::registry::NodeRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// How many participants a room placed recently counts for.
    pub new_room_weight: u32,
    /// How long a room counts as new.
    pub new_room_for: Millis,
    pub burst: u32,
    pub burst_window: Millis,
}

impl Default for Placement {
    fn default() -> Self {
        Self { new_room_weight: 25, new_room_for: 3 * 60_000, burst: 20, burst_window: 10_000 }
    }
}

/// Rooms placed recently, per node: what the registry's load does not show yet.
#[derive(Debug, Default, Clone)]
pub struct Recent {
    placed: HashMap<String, Vec<Millis>>,
}

impl Recent {
    pub fn placed(&mut self, node: &str, now: Millis) {
        self.placed.entry(node.to_owned()).or_default().push(now);
    }

    fn forget_before(&mut self, cutoff: Millis) {
        self.placed.retain(|_, at| {
            at.retain(|&t| t >= cutoff);
            !at.is_empty()
        });
    }

    fn count_since(&self, node: &str, since: Millis) -> u32 {
        self.placed.get(node).map_or(0, |at| at.iter().filter(|&&t| t >= since).count() as u32)
    }
}

impl Placement {
    /// The node for a new room, or `None` when no node is serving (or all are at their burst cap).
    pub fn choose<'a>(&self, nodes: &'a [NodeRecord], recent: &mut Recent, now: Millis) -> Option<&'a NodeRecord> {
        recent.forget_before(now.saturating_sub(self.new_room_for.max(self.burst_window)));
        let chosen = nodes
            .iter()
            .filter(|n| n.serving)
            .filter(|n| recent.count_since(&n.id, now.saturating_sub(self.burst_window)) < self.burst)
            .min_by_key(|n| {
                let fresh = recent.count_since(&n.id, now.saturating_sub(self.new_room_for));
                (u64::from(n.load.participants) + u64::from(fresh) * u64::from(self.new_room_weight), n.id.clone())
            })?;
        recent.placed(&chosen.id, now);
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Load;

    fn node(id: &str, participants: u32, serving: bool) -> NodeRecord {
        NodeRecord {
            id: id.into(),
            public_url: format!("http://{id}"),
            media: vec![],
            serving,
            load: Load { participants, ..Load::default() },
            boxes: vec![],
        }
    }

    #[test]
    fn rooms_starting_together_spread_over_the_nodes() {
        let p = Placement::default();
        let nodes = [node("a", 0, true), node("b", 0, true), node("c", 0, true)];
        let mut recent = Recent::default();
        let picks: Vec<_> = (0..9).map(|i| p.choose(&nodes, &mut recent, 1_000 + i).unwrap().id.clone()).collect();
        for id in ["a", "b", "c"] {
            assert_eq!(picks.iter().filter(|p| *p == id).count(), 3, "{picks:?}");
        }
    }

    #[test]
    fn the_least_loaded_serving_node_wins_and_drainers_get_nothing() {
        let p = Placement::default();
        let nodes = [node("a", 120, true), node("b", 10, false), node("c", 40, true)];
        let mut recent = Recent::default();
        assert_eq!(p.choose(&nodes, &mut recent, 0).unwrap().id, "c");
        let draining = [node("b", 0, false)];
        assert!(p.choose(&draining, &mut recent, 0).is_none());
    }

    #[test]
    fn a_node_takes_at_most_its_burst_then_new_rooms_count_no_more() {
        let p = Placement { burst: 2, burst_window: 1_000, ..Placement::default() };
        let nodes = [node("a", 0, true)];
        let mut recent = Recent::default();
        assert!(p.choose(&nodes, &mut recent, 0).is_some());
        assert!(p.choose(&nodes, &mut recent, 1).is_some());
        assert!(p.choose(&nodes, &mut recent, 2).is_none(), "third room within the burst window");
        assert!(p.choose(&nodes, &mut recent, 1_002).is_some());
        // Long after, the node's placements are forgotten.
        let later = 10 * 60_000;
        p.choose(&nodes, &mut recent, later);
        assert_eq!(recent.count_since("a", 0), 1);
    }
}
