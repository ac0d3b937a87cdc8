//! Over-the-air updates on the box's control channel (`docs/ota.md`): the hub offers the release
//! a box should run ([`UpdateOffer`], in `HubMsg::Update`), the box reports every step of getting
//! there ([`UpdateStatus`], in `DeviceMsg::UpdateStatus`) and what software it runs
//! ([`Software`], in `DeviceMsg::Software`). The bundle itself is fetched over HTTP with the
//! box's device token and `Range` requests (`GET /device/{room}/releases/{id}/bundle`).

use serde::{Deserialize, Serialize};

/// Failed boots of a new release before the box goes back to the release it came from.
pub const MAX_TRIAL_BOOTS: u32 = 3;

/// Hub → box: run this release. Sent after `hello` and whenever a rollout reaches the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOffer {
    pub release: i64,
    pub version: String,
    /// Path on the hub, relative to `hub.url` (e.g. `/device/lab-1/releases/7/bundle`).
    pub path: String,
    pub size: u64,
    /// SHA-256 of the bundle, lower-case hex.
    pub sha256: String,
    /// When the box may reboot into it (never while a lesson is live either).
    pub window: MaintenanceWindow,
    /// The box starts its download at a moment of its own within this many seconds, so a ring of
    /// hundreds does not fetch all at once (the hub scales it with the ring's size).
    #[serde(default)]
    pub spread_secs: u32,
}

/// A daily window, in minutes after midnight UTC: the hub turns the site's local window into
/// UTC with the site's zone whenever it sends an offer, so the box needs no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// 0..1440.
    pub start_utc_minute: u16,
    /// 1..=1440; a window may run past midnight.
    pub length_minutes: u16,
}

impl MaintenanceWindow {
    /// Always open (a lab box, a test).
    pub const ALWAYS: MaintenanceWindow = MaintenanceWindow { start_utc_minute: 0, length_minutes: 1440 };

    /// Whether the window is open at `unix_secs`.
    pub fn is_open(self, unix_secs: u64) -> bool {
        let minute = (unix_secs / 60 % 1440) as u32;
        let start = u32::from(self.start_utc_minute) % 1440;
        let length = u32::from(self.length_minutes).min(1440);
        (minute + 1440 - start) % 1440 < length || length == 1440
    }

    /// Seconds from `unix_secs` until the window next opens (0 when it is open).
    pub fn opens_in(self, unix_secs: u64) -> u64 {
        if self.is_open(unix_secs) {
            return 0;
        }
        let minute = unix_secs / 60 % 1440;
        let start = u64::from(self.start_utc_minute) % 1440;
        let minutes = (start + 1440 - minute) % 1440;
        (minutes * 60).saturating_sub(unix_secs % 60)
    }
}

/// Where a box is with a release, as the fleet view and the rollout see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UpdatePhase {
    /// Assigned; the box has not started (or reported) yet.
    Assigned,
    Downloading,
    Verifying,
    Installing,
    /// Installed in the other slot; waiting for the maintenance window and no live lesson.
    WaitingToReboot,
    Rebooting,
    /// Running the new release, not yet marked good (until it goes live or passes its health check).
    Trial,
    /// Marked good: done.
    Good,
    /// Refused or broken (bad checksum or signature, install error): the box keeps its release.
    Failed,
    /// The new release failed to boot [`MAX_TRIAL_BOOTS`] times: the box went back.
    RolledBack,
}

impl UpdatePhase {
    /// Whether the box is done with this release, one way or the other.
    pub fn is_final(self) -> bool {
        matches!(self, UpdatePhase::Good | UpdatePhase::Failed | UpdatePhase::RolledBack)
    }

    pub fn is_failure(self) -> bool {
        matches!(self, UpdatePhase::Failed | UpdatePhase::RolledBack)
    }

    /// The word the JSON uses.
    pub fn name(self) -> &'static str {
        match self {
            UpdatePhase::Assigned => "assigned",
            UpdatePhase::Downloading => "downloading",
            UpdatePhase::Verifying => "verifying",
            UpdatePhase::Installing => "installing",
            UpdatePhase::WaitingToReboot => "waitingToReboot",
            UpdatePhase::Rebooting => "rebooting",
            UpdatePhase::Trial => "trial",
            UpdatePhase::Good => "good",
            UpdatePhase::Failed => "failed",
            UpdatePhase::RolledBack => "rolledBack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ALL_PHASES.iter().copied().find(|p| p.name() == s)
    }
}

/// Every phase, for tests and for parsing what the hub stored.
pub const ALL_PHASES: [UpdatePhase; 10] = [
    UpdatePhase::Assigned,
    UpdatePhase::Downloading,
    UpdatePhase::Verifying,
    UpdatePhase::Installing,
    UpdatePhase::WaitingToReboot,
    UpdatePhase::Rebooting,
    UpdatePhase::Trial,
    UpdatePhase::Good,
    UpdatePhase::Failed,
    UpdatePhase::RolledBack,
];

/// Box → hub: a step of an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateStatus {
    pub release: i64,
    pub version: String,
    pub phase: UpdatePhase,
    /// Bytes of the bundle on the box (while downloading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Boots of the new release so far (in trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boots: Option<u32>,
    /// Why it failed, or what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Box → hub, after `hello`: what the box runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Software {
    /// `rauc` (an A/B image), `fake` (a virtual box's stand-in) or `debian` (installed packages).
    pub installer: String,
    /// The release (image) version running, when the box runs an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The booted slot (`A`/`B`, RAUC's `rootfs.0`…), when there are slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// Debian packages of Lectern and their versions (`dpkg-query`), on a Debian-installed box.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackageVersion {
    pub name: String,
    pub version: String,
}

/// Most packages a box may list (Lectern ships a handful).
pub const MAX_PACKAGES: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_open_inside_and_says_when_it_opens_outside() {
        // 23:00–01:00 UTC.
        let w = MaintenanceWindow { start_utc_minute: 23 * 60, length_minutes: 120 };
        let day = 86_400 * 20_000;
        assert!(w.is_open(day + 23 * 3600));
        assert!(w.is_open(day + 30 * 60), "past midnight");
        assert!(!w.is_open(day + 3600), "01:00 is the end");
        assert_eq!(w.opens_in(day + 22 * 3600 + 30), 3600 - 30);
        assert_eq!(w.opens_in(day + 23 * 3600 + 5), 0);
        assert!(MaintenanceWindow::ALWAYS.is_open(day + 12_345));
    }

    #[test]
    fn phases_round_trip_by_name() {
        for p in ALL_PHASES {
            assert_eq!(UpdatePhase::parse(p.name()), Some(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.name()));
        }
        assert_eq!(ALL_PHASES.iter().filter(|p| p.is_final()).count(), 3);
    }
}
