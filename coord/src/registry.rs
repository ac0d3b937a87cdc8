//! The node registry: every hub writes what it is and how loaded it is every couple of seconds,
//! with a time to live, so a node that stops writing (killed, partitioned) drops out on its own.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// How often a node writes its record, and how long the record lives without a rewrite.
pub const WRITE_EVERY: Millis = 2_000;
pub const RECORD_TTL: Millis = 10_000;

/// One hub, as the others see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    pub id: String,
    /// The base URL other nodes forward to and pages are redirected to (`[node] public_url`).
    pub public_url: String,
    /// The node's media addresses (what its ICE candidates name).
    pub media: Vec<String>,
    /// False while draining: keeps its rooms, takes no new ones.
    pub serving: bool,
    pub load: Load,
    /// Rooms whose classroom box keeps its control channel to this node: commands for it from
    /// another node are published to this one (`node:<id>`).
    #[serde(default)]
    pub boxes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    pub rooms: u32,
    pub participants: u32,
    pub packets_per_s: u64,
    /// Percent of one core.
    pub cpu: f32,
}

/// The owner's node id from a lease token (`<node>#<generation>`).
pub fn node_of(token: &str) -> &str {
    token.rsplit_once('#').map_or(token, |(node, _)| node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_camel_case_json_and_tokens_name_their_node() {
        let r = NodeRecord {
            id: "hub-a".into(),
            public_url: "https://a.example".into(),
            media: vec!["10.0.0.1:3478".into()],
            serving: true,
            load: Load { rooms: 2, participants: 30, packets_per_s: 9000, cpu: 41.5 },
            boxes: vec!["lab-1".into()],
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"publicUrl\"") && json.contains("\"packetsPerS\""), "{json}");
        assert_eq!(serde_json::from_str::<NodeRecord>(&json).unwrap(), r);
        assert_eq!(node_of("hub-a#12"), "hub-a");
        assert_eq!(node_of("a#b#3"), "a#b");
    }
}
