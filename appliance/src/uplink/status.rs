//! The uplink adaptation as the status endpoint shows it (`uplink` in `GET /status`).

use serde::Serialize;

use super::controller::Reason;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UplinkStatus {
    /// Whether the camera's bitrate follows the hub's reports (`video.adapt_bitrate`, and a
    /// camera this box encodes); `false` outside lessons too.
    pub enabled: bool,
    /// The camera sends less than configured because of the uplink.
    pub adapting: bool,
    /// Why the rate last moved or held: `clean`, `loss` (over 5 % lost), `queue` (the round trip
    /// well over its floor) or `hold` (some loss, or just after a cut).
    pub reason: Option<Reason>,
    /// The camera's total bitrate now (all simulcast layers), kbit/s.
    pub target_kbps: Option<u32>,
    /// Each layer's encoder bitrate now, main picture first, kbit/s.
    pub layers_kbps: Vec<u32>,
    /// The bounds of `target_kbps`: every layer at its floor, every layer as configured.
    pub min_kbps: Option<u32>,
    pub max_kbps: Option<u32>,
    /// The least round trip to the hub lately, the yardstick for a queue building up.
    pub rtt_floor_ms: Option<u64>,
    /// Keyframe requests (RTCP PLI + FIR) the hub sent this session.
    pub keyframe_requests: u64,
    /// Samples with a new hub report in them this session (the hub reports every few seconds).
    pub reports: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_document_names_its_fields_as_documented() {
        let off = serde_json::to_value(crate::status::Snapshot::default()).expect("serialises");
        assert_eq!(off["uplink"]["enabled"], false);
        assert_eq!(off["uplink"]["target_kbps"], serde_json::Value::Null);
        let on = UplinkStatus {
            enabled: true,
            adapting: true,
            reason: Some(Reason::Loss),
            target_kbps: Some(699),
            layers_kbps: vec![375, 243, 81],
            ..UplinkStatus::default()
        };
        let json = serde_json::to_value(&on).expect("serialises");
        assert_eq!(json["reason"], "loss");
        assert_eq!(json["layers_kbps"], serde_json::json!([375, 243, 81]));
        let keys: Vec<&str> = json.as_object().expect("an object").keys().map(String::as_str).collect();
        let documented = [
            "enabled",
            "adapting",
            "reason",
            "target_kbps",
            "layers_kbps",
            "min_kbps",
            "max_kbps",
            "rtt_floor_ms",
            "keyframe_requests",
            "reports",
        ];
        for key in documented {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
            assert!(include_str!("../../../docs/uplink.md").contains(key), "docs/uplink.md does not explain {key}");
        }
        assert_eq!(keys.len(), documented.len());
    }
}
