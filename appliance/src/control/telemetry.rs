//! The box's report to the hub: the status endpoint's figures plus CPU load (from `/proc/stat`
//! deltas) and the SoC temperature (`thermal_zone0`) where the machine has them.

use std::time::Duration;

use lectern_proto::device::{Telemetry, UplinkReason, UplinkReport, UploadBacklog};

use crate::status::Snapshot;
use crate::uplink::{Reason, UplinkStatus};

const PROC_STAT: &str = "/proc/stat";
const THERMAL_ZONE: &str = "/sys/class/thermal/thermal_zone0/temp";

/// Builds the report from the status board's `snapshot` and the machine's figures.
pub fn telemetry(snapshot: &Snapshot, cpu: Option<f32>, temperature: Option<f32>, uptime: Duration) -> Telemetry {
    let state = snapshot.state;
    let status = if snapshot.status.is_empty() { state.name().to_owned() } else { snapshot.status.clone() };
    Telemetry {
        state,
        status,
        encoder: snapshot.encoder.clone(),
        fps: snapshot.fps.map(|f| f as f32),
        bitrate_kbps: snapshot.bitrate_kbps.map(|b| b.round().clamp(0.0, f64::from(u32::MAX)) as u32),
        packet_loss_percent: snapshot.packet_loss_percent.map(|p| p as f32),
        cpu_percent: cpu,
        temperature_c: temperature,
        last_error: snapshot.last_error.clone(),
        uptime_secs: uptime.as_secs(),
        uplink: uplink_report(&snapshot.uplink),
        upload: upload_backlog(snapshot),
    }
}

/// Recordings waiting for the hub, when any do (the admin's "Upload: 3 files, 120 MB waiting").
fn upload_backlog(s: &Snapshot) -> Option<UploadBacklog> {
    (s.recording.waiting_files > 0).then(|| UploadBacklog {
        files: s.recording.waiting_files,
        bytes: s.recording.waiting_bytes,
        error: s.upload.last_error.clone(),
    })
}

/// The uplink adaptation while it runs (a live lesson with `video.adapt_bitrate`); left out otherwise.
fn uplink_report(u: &UplinkStatus) -> Option<UplinkReport> {
    u.enabled.then(|| UplinkReport {
        adapting: u.adapting,
        reason: u.reason.map(|r| match r {
            Reason::Clean => UplinkReason::Clean,
            Reason::Loss => UplinkReason::Loss,
            Reason::Queue => UplinkReason::Queue,
            Reason::Hold => UplinkReason::Hold,
        }),
        target_kbps: u.target_kbps,
        max_kbps: u.max_kbps,
        rtt_floor_ms: u.rtt_floor_ms.map(|ms| u32::try_from(ms).unwrap_or(u32::MAX)),
        keyframe_requests: u.keyframe_requests,
    })
}

/// CPU load between two reads of `/proc/stat`.
#[derive(Default)]
pub struct CpuMeter {
    last: Option<CpuTimes>,
}

impl CpuMeter {
    /// Percent busy since the previous call; `None` on the first call or without `/proc/stat`.
    pub fn sample(&mut self) -> Option<f32> {
        let now = std::fs::read_to_string(PROC_STAT).ok().and_then(|s| parse_cpu_line(&s));
        let previous = std::mem::replace(&mut self.last, now);
        cpu_percent(previous?, now?)
    }
}

/// Jiffies since boot, all CPUs together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

/// The aggregate `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal…
pub fn parse_cpu_line(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).map_while(|f| f.parse().ok()).collect();
    if fields.len() < 4 {
        return None;
    }
    // guest and guest_nice (fields 9, 10) are already counted in user and nice.
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes { busy: total.saturating_sub(idle), total })
}

pub fn cpu_percent(before: CpuTimes, after: CpuTimes) -> Option<f32> {
    let total = after.total.checked_sub(before.total).filter(|&t| t > 0)?;
    let busy = after.busy.saturating_sub(before.busy).min(total);
    Some(((busy as f64 / total as f64) * 1000.0).round() as f32 / 10.0)
}

/// The SoC temperature in °C, if the kernel exposes one.
pub fn temperature() -> Option<f32> {
    parse_millidegrees(&std::fs::read_to_string(THERMAL_ZONE).ok()?)
}

fn parse_millidegrees(text: &str) -> Option<f32> {
    let milli: i64 = text.trim().parse().ok()?;
    Some((milli as f32 / 100.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use lectern_proto::device::{DeviceMsg, DeviceState};

    use super::*;

    #[test]
    fn telemetry_serializes_as_the_hub_expects() {
        let snapshot = Snapshot {
            state: DeviceState::Live,
            status: "live".into(),
            encoder: Some("x264enc".into()),
            fps: Some(29.9),
            bitrate_kbps: Some(1480.4),
            ..Snapshot::default()
        };
        let report = telemetry(&snapshot, Some(12.5), Some(48.2), Duration::from_secs(61));
        let json = serde_json::to_string(&DeviceMsg::Telemetry(report.clone())).unwrap();
        assert!(
            json.starts_with(r#"{"type":"telemetry","state":"live","status":"live","encoder":"x264enc""#),
            "{json}"
        );
        assert!(json.contains(r#""bitrateKbps":1480"#) && json.contains(r#""uptimeSecs":61"#), "{json}");
        assert!(!json.contains("packetLossPercent") && !json.contains("lastError"), "unknown figures are left out");
        // The hub parses with deny_unknown_fields: what we send must round-trip.
        assert_eq!(serde_json::from_str::<DeviceMsg>(&json).unwrap(), DeviceMsg::Telemetry(report));
        assert!(!json.contains("uplink"), "no uplink figures while the box does not adapt: {json}");
    }

    #[test]
    fn an_adapting_uplink_is_reported_with_its_reason() {
        let uplink = UplinkStatus {
            enabled: true,
            adapting: true,
            reason: Some(Reason::Loss),
            target_kbps: Some(699),
            layers_kbps: vec![375, 243, 81],
            min_kbps: Some(300),
            max_kbps: Some(2150),
            rtt_floor_ms: Some(12),
            keyframe_requests: 3,
            reports: 40,
        };
        let snapshot = Snapshot { state: DeviceState::Live, uplink, ..Snapshot::default() };
        let report = telemetry(&snapshot, None, None, Duration::ZERO);
        let json = serde_json::to_value(DeviceMsg::Telemetry(report)).unwrap();
        assert_eq!(
            json["uplink"],
            serde_json::json!({"adapting": true, "reason": "loss", "targetKbps": 699, "maxKbps": 2150,
                "rttFloorMs": 12, "keyframeRequests": 3})
        );
        assert!(serde_json::from_value::<DeviceMsg>(json).is_ok(), "the hub accepts it");
    }

    #[test]
    fn an_idle_box_reports_idle() {
        let snapshot = Snapshot { state: DeviceState::Idle, ..Snapshot::default() };
        let report = telemetry(&snapshot, None, None, Duration::ZERO);
        assert_eq!((report.state, report.status.as_str()), (DeviceState::Idle, "idle"));
    }

    #[test]
    fn cpu_load_comes_from_proc_stat_deltas() {
        let before = parse_cpu_line("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        let after = parse_cpu_line("cpu  200 0 200 1300 200 0 0 0 0 0\n").unwrap();
        assert_eq!(cpu_percent(before, after), Some(22.2));
        assert_eq!(cpu_percent(after, after), None, "no time passed");
        assert_eq!(parse_cpu_line("intr 1 2 3"), None);
    }

    #[test]
    fn temperature_is_read_in_millidegrees() {
        assert_eq!(parse_millidegrees("48234\n"), Some(48.2));
        assert_eq!(parse_millidegrees("garbage"), None);
    }
}
