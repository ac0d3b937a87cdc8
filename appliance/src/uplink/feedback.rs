//! Reading the hub's feedback out of webrtcbin's statistics: per stream we send, a
//! `remote-inbound-rtp` entry built from the hub's latest RTCP receiver report (`fraction-lost`,
//! `round-trip-time`, `packets-lost`, `jitter`), and an `outbound-rtp` entry whose `pli-count` and
//! `fir-count` count the keyframe requests that reached us.
//!
//! webrtcbin keeps showing the last report until the next one arrives, so a report counts as new
//! only when its figures changed; the controller then never acts twice on the same report. The
//! loss of several new reports is their mean weighted by the packets each stream sent since its
//! previous report: the smallest layer's few packets would make the worst stream's figure noisy.

use std::collections::HashMap;
use std::time::Duration;

use gstreamer as gst;

use super::controller::Feedback;

/// What one stats query says, new reports only.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    pub feedback: Feedback,
    /// PLIs and FIRs received on all our streams since the pipeline started.
    pub keyframe_requests: u64,
    /// NACKs received on all our streams since the pipeline started (the box has no RTX to
    /// answer them; logged to see how much the hub asks for).
    pub nacks: u64,
}

/// Remembers each stream's last report, to tell new ones from repeats.
#[derive(Debug, Default)]
pub struct FeedbackReader {
    last: HashMap<String, Vec<u64>>,
    /// Per SSRC, the packets it had sent when its last new report was read.
    sent_at_report: HashMap<u32, u64>,
    /// Per SSRC, the round trip of its last new report.
    last_rtt: HashMap<u32, Duration>,
}

/// A round trip this close to the stream's previous one is the same measurement again: the hub's
/// report refers to the same sender report of ours (we send one every few seconds), so it says
/// nothing about the queue now.
const SAME_RTT: Duration = Duration::from_millis(2);

impl FeedbackReader {
    pub fn read(&mut self, stats: &gst::StructureRef) -> Reading {
        let (mut rtt, mut keyframe_requests, mut nacks) = (None::<Duration>, 0u64, 0u64);
        // (fraction lost, packets it covers if known) per new report.
        let mut losses: Vec<(f64, Option<u64>)> = Vec::new();
        let sent = packets_sent(stats);
        for (name, value) in stats.iter() {
            let Ok(entry) = value.get::<gst::Structure>() else { continue };
            match entry.name().as_str() {
                "remote-inbound-rtp" => {
                    let print = fingerprint(&entry);
                    if self.last.get(name.as_str()) == Some(&print) {
                        continue;
                    }
                    self.last.insert(name.to_string(), print);
                    let ssrc = entry.get::<u32>("ssrc").ok();
                    let covered = ssrc.and_then(|s| {
                        let now = *sent.get(&s)?;
                        let before = self.sent_at_report.insert(s, now).unwrap_or(0);
                        Some(now.saturating_sub(before))
                    });
                    if let Some(f) = entry.get::<f64>("fraction-lost").ok().filter(|f| f.is_finite()) {
                        losses.push((f.clamp(0.0, 1.0), covered));
                    }
                    let stream_rtt = entry
                        .get::<f64>("round-trip-time")
                        .ok()
                        .filter(|r| r.is_finite() && *r > 0.0 && *r < 60.0)
                        .map(Duration::from_secs_f64)
                        .filter(|&r| {
                            let previous = ssrc.and_then(|s| self.last_rtt.insert(s, r));
                            previous.is_none_or(|p| r.abs_diff(p) >= SAME_RTT)
                        });
                    // The least of the new reports: a queue delays every stream alike.
                    rtt = match (rtt, stream_rtt) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                "outbound-rtp" => {
                    for field in ["pli-count", "fir-count"] {
                        keyframe_requests += entry.get::<u32>(field).map_or(0, u64::from);
                    }
                    nacks += entry.get::<u32>("nack-count").map_or(0, u64::from);
                }
                _ => {}
            }
        }
        Reading { feedback: Feedback { loss: combined(&losses), rtt }, keyframe_requests, nacks }
    }
}

/// Packets sent so far per SSRC (`outbound-rtp`).
fn packets_sent(stats: &gst::StructureRef) -> HashMap<u32, u64> {
    stats
        .iter()
        .filter_map(|(_, v)| v.get::<gst::Structure>().ok())
        .filter(|s| s.name() == "outbound-rtp")
        .filter_map(|s| Some((s.get::<u32>("ssrc").ok()?, s.get::<u64>("packets-sent").ok()?)))
        .collect()
}

/// The packet-weighted mean when every report's packets are known, else the worst.
fn combined(losses: &[(f64, Option<u64>)]) -> Option<f64> {
    let weights: Option<Vec<u64>> = losses.iter().map(|&(_, w)| w).collect();
    let total: u64 = weights.iter().flatten().sum();
    match weights {
        Some(w) if total > 0 => {
            Some(losses.iter().zip(&w).map(|(&(f, _), &w)| f * w as f64).sum::<f64>() / total as f64)
        }
        _ => losses.iter().map(|&(f, _)| f).reduce(f64::max),
    }
}

/// Every number of an entry but its timestamp (which changes with each query), as bits.
fn fingerprint(entry: &gst::StructureRef) -> Vec<u64> {
    entry
        .iter()
        .filter(|(name, _)| name.as_str() != "timestamp")
        .filter_map(|(_, v)| {
            v.get::<f64>()
                .map(f64::to_bits)
                .or_else(|_| v.get::<u64>())
                .or_else(|_| v.get::<u32>().map(u64::from))
                .or_else(|_| v.get::<i32>().map(|x| x as u64))
                .or_else(|_| v.get::<i64>().map(|x| x as u64))
                .ok()
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A stats reply as webrtcbin 1.22 builds it, for one video stream.
    pub fn stats(ssrc: u32, fraction_lost: f64, packets_lost: i32, rtt_s: f64, plis: u32) -> gst::Structure {
        let remote = gst::Structure::builder("remote-inbound-rtp")
            .field("timestamp", 1234.5f64)
            .field("ssrc", ssrc)
            .field("fraction-lost", fraction_lost)
            .field("packets-lost", packets_lost)
            .field("round-trip-time", rtt_s)
            .build();
        let outbound = gst::Structure::builder("outbound-rtp")
            .field("ssrc", ssrc)
            .field("pli-count", plis)
            .field("fir-count", 1u32)
            .build();
        reply_of(ssrc, remote, outbound)
    }

    /// One stream's remote-inbound and outbound entries in a stats reply.
    fn reply_of(ssrc: u32, remote: gst::Structure, outbound: gst::Structure) -> gst::Structure {
        gst::Structure::builder("application/x-webrtc-stats")
            .field(format!("rtp-remote-inbound-stream-stats_{ssrc}"), remote)
            .field(format!("rtp-outbound-stream-stats_{ssrc}"), outbound)
            .field("transport-stats_x", gst::Structure::builder("transport").field("bytes-sent", 1u64).build())
            .build()
    }

    #[test]
    fn a_report_counts_once_and_keyframe_requests_are_summed() {
        crate::media::init().unwrap();
        let mut reader = FeedbackReader::default();
        let first = reader.read(&stats(7, 0.25, 40, 0.05, 3));
        assert_eq!(first.feedback.loss, Some(0.25));
        assert_eq!(first.feedback.rtt, Some(Duration::from_millis(50)));
        assert_eq!(first.keyframe_requests, 4, "3 PLIs + 1 FIR");
        let again = reader.read(&stats(7, 0.25, 40, 0.05, 3));
        assert_eq!(again.feedback, Feedback::default(), "the same report again is not new");
        let next = reader.read(&stats(7, 0.25, 80, 0.05, 5));
        assert_eq!(next.feedback.loss, Some(0.25), "same fraction, more packets lost: a new report");
        assert_eq!(next.keyframe_requests, 6);
        assert_eq!(next.feedback.rtt, None, "the same round trip again is an old measurement");
        let next = reader.read(&stats(7, 0.25, 90, 0.02, 5));
        assert_eq!(next.feedback.rtt, Some(Duration::from_millis(20)));
    }

    fn stream(ssrc: u32, fraction_lost: f64, sent: u64) -> (gst::Structure, gst::Structure) {
        let remote = gst::Structure::builder("remote-inbound-rtp")
            .field("ssrc", ssrc)
            .field("fraction-lost", fraction_lost)
            .field("packets-lost", (fraction_lost * 1000.0) as i32)
            .build();
        let outbound = gst::Structure::builder("outbound-rtp").field("ssrc", ssrc).field("packets-sent", sent).build();
        (remote, outbound)
    }

    #[test]
    fn the_loss_of_several_streams_is_weighted_by_their_packets() {
        crate::media::init().unwrap();
        let reply = |streams: &[(u32, f64, u64)]| {
            let mut b = gst::Structure::builder("application/x-webrtc-stats");
            for &(ssrc, f, sent) in streams {
                let (remote, outbound) = stream(ssrc, f, sent);
                b = b.field(format!("rtp-remote-inbound-stream-stats_{ssrc}"), remote);
                b = b.field(format!("rtp-outbound-stream-stats_{ssrc}"), outbound);
            }
            b.build()
        };
        let mut reader = FeedbackReader::default();
        // The main picture sent 900 packets with 10 % lost, the small layer 100 with 40 %.
        let r = reader.read(&reply(&[(1, 0.10, 900), (2, 0.40, 100)]));
        let loss = r.feedback.loss.expect("new reports");
        assert!((loss - 0.13).abs() < 1e-9, "{loss}");
        // Next reports: weights are the packets since the previous report.
        let r = reader.read(&reply(&[(1, 0.0, 1000), (2, 0.5, 1100)]));
        let loss = r.feedback.loss.expect("new reports");
        assert!((loss - 0.5 * 1000.0 / 1100.0).abs() < 1e-9, "{loss}");
    }

    #[test]
    fn absurd_figures_are_clamped_or_ignored() {
        crate::media::init().unwrap();
        let mut reader = FeedbackReader::default();
        let r = reader.read(&stats(1, 7.0, 0, -3.0, 0));
        assert_eq!(r.feedback.loss, Some(1.0));
        assert_eq!(r.feedback.rtt, None);
        let r = reader.read(&stats(1, f64::NAN, 1, f64::INFINITY, 0));
        assert_eq!((r.feedback.loss, r.feedback.rtt), (None, None));
    }
}
