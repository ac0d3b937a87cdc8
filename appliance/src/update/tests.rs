//! The update agent on simulated time: no network, no disk, no clock.

use std::time::{Duration, Instant};

use lectern_proto::update::{MaintenanceWindow, UpdateOffer, UpdatePhase};

use super::agent::*;

const SIZE: u64 = 10_000_000;
/// 2027-01-04 00:00 UTC, a Monday.
const MIDNIGHT: u64 = 1_799_020_800;

fn offer(window: MaintenanceWindow) -> UpdateOffer {
    UpdateOffer {
        release: 7,
        version: "1.1.0".into(),
        path: "/device/lab-1/releases/7/bundle".into(),
        size: SIZE,
        sha256: "ab".repeat(32),
        window,
        spread_secs: 0,
    }
}

struct Sim {
    agent: Agent,
    now: Now,
    out: Vec<Output>,
}

impl Sim {
    fn new(running: &str, record: Option<Record>) -> Self {
        let mut sim = Sim {
            agent: Agent::new(AgentConfig::default()),
            now: Now { mono: Instant::now(), unix_secs: MIDNIGHT + 10 * 3600 },
            out: Vec::new(),
        };
        sim.feed(Input::Started { running: running.into(), record });
        sim
    }

    /// Feeds one input and returns what came out (also kept in `out`).
    fn feed(&mut self, input: Input) -> Vec<Output> {
        self.agent.handle(input, self.now);
        let mut got = Vec::new();
        while let Some(o) = self.agent.poll_output() {
            got.push(o);
        }
        self.out.extend(got.clone());
        got
    }

    /// Moves time on, ticking at every `WaitUntil` on the way.
    fn advance(&mut self, by: Duration) -> Vec<Output> {
        let end = self.now.after(by);
        let mut got = Vec::new();
        loop {
            let next = got.iter().chain(self.out.iter().rev().take(1)).rev().find_map(|o| match o {
                Output::WaitUntil(at) => Some(*at),
                _ => None,
            });
            match next {
                Some(at) if at > self.now.mono && at <= end.mono => {
                    self.now = self.now.after(at - self.now.mono);
                    got.extend(self.feed(Input::Tick));
                }
                _ => break,
            }
        }
        self.now = end;
        got.extend(self.feed(Input::Tick));
        got
    }

    fn phases(&self) -> Vec<UpdatePhase> {
        let mut v: Vec<UpdatePhase> = Vec::new();
        for o in &self.out {
            if let Output::Report(s) = o
                && v.last() != Some(&s.phase)
            {
                v.push(s.phase);
            }
        }
        v
    }

    fn saved(&self) -> Option<Record> {
        self.out.iter().rev().find_map(|o| match o {
            Output::Save(r) => Some(r.clone()),
            _ => None,
        })
    }
}

fn fetches(out: &[Output]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            Output::Fetch { from, .. } => Some(*from),
            _ => None,
        })
        .collect()
}

/// Through download, verification and install, with the window given.
fn installed(window: MaintenanceWindow) -> Sim {
    let mut sim = Sim::new("1.0.0", None);
    sim.feed(Input::Offer(offer(window)));
    sim.feed(Input::Fetched { have: SIZE, complete: true });
    assert!(sim.out.contains(&Output::Verify { sha256: "ab".repeat(32) }));
    sim.feed(Input::Verified(Ok(())));
    assert!(sim.out.contains(&Output::Install { version: "1.1.0".into() }));
    sim.feed(Input::Installed(Ok(())));
    sim
}

#[test]
fn a_cut_download_resumes_from_the_bytes_kept_with_growing_waits() {
    let mut sim = Sim::new("1.0.0", None);
    let got = sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    assert_eq!(fetches(&got), [0]);
    sim.feed(Input::Fetched { have: 3_000_000, complete: false });
    let got = sim.feed(Input::FetchFailed { have: 3_000_000, reason: "connection reset".into() });
    let Some(Output::Report(s)) = got.first() else { panic!("{got:?}") };
    assert_eq!((s.phase, s.bytes), (UpdatePhase::Downloading, Some(3_000_000)));
    assert!(s.detail.as_deref().is_some_and(|d| d.contains("connection reset") && d.contains("5s")), "{s:?}");
    assert!(fetches(&sim.advance(Duration::from_secs(4))).is_empty(), "not before the wait");
    assert_eq!(fetches(&sim.advance(Duration::from_secs(1))), [3_000_000], "resumed where it was cut");
    // Cut again, without progress: the wait doubles.
    sim.feed(Input::FetchFailed { have: 3_000_000, reason: "timeout".into() });
    assert!(fetches(&sim.advance(Duration::from_secs(9))).is_empty());
    assert_eq!(fetches(&sim.advance(Duration::from_secs(1))), [3_000_000]);
    sim.feed(Input::Fetched { have: SIZE, complete: true });
    assert!(matches!(sim.agent.state(), State::Verifying { .. }));
    assert_eq!(sim.phases(), [UpdatePhase::Downloading, UpdatePhase::Verifying]);
}

#[test]
fn a_hub_sending_more_than_offered_starts_over_from_zero() {
    let mut sim = Sim::new("1.0.0", None);
    sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    let got = sim.feed(Input::Fetched { have: SIZE + 1, complete: false });
    assert!(got.contains(&Output::Discard), "{got:?}");
    assert_eq!(fetches(&sim.advance(Duration::from_secs(5))), [0]);
}

#[test]
fn a_bad_signature_is_refused_reported_and_not_tried_again() {
    let mut sim = Sim::new("1.0.0", None);
    sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    sim.feed(Input::Fetched { have: SIZE, complete: true });
    let got = sim.feed(Input::Verified(Err("signature: certificate not trusted".into())));
    assert!(got.contains(&Output::Discard));
    assert!(!got.iter().any(|o| matches!(o, Output::Install { .. } | Output::Reboot)));
    let Some(Output::Report(s)) = got.iter().find(|o| matches!(o, Output::Report(_))) else { panic!("{got:?}") };
    assert_eq!(s.phase, UpdatePhase::Failed);
    assert!(s.detail.as_deref().is_some_and(|d| d.contains("not trusted")), "{s:?}");
    assert_eq!(sim.agent.state(), &State::Idle);
    // The hub offers it again (a reconnect): the box says no again, without downloading.
    let again = sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    assert!(fetches(&again).is_empty());
    assert!(matches!(again.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::Failed), "{again:?}");
}

#[test]
fn an_install_while_a_lesson_is_live_reboots_only_after_it_ends() {
    let mut sim = Sim::new("1.0.0", None);
    sim.feed(Input::Lesson { on: true });
    sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    sim.feed(Input::Fetched { have: SIZE, complete: true });
    sim.feed(Input::Verified(Ok(())));
    let got = sim.feed(Input::Installed(Ok(())));
    assert!(!got.contains(&Output::Reboot), "never during a live lesson");
    assert!(
        matches!(sim.saved(), Some(Record { stage: Stage::Installed, ref from_version, .. }) if from_version == "1.0.0")
    );
    assert!(!sim.advance(Duration::from_secs(3 * 3600)).contains(&Output::Reboot), "still live after hours");
    // The connection dropping during the lesson is not its end.
    assert!(!sim.feed(Input::Tick).contains(&Output::Reboot));
    let got = sim.feed(Input::Lesson { on: false });
    assert!(got.contains(&Output::Reboot), "{got:?}");
    assert_eq!(
        sim.phases(),
        [
            UpdatePhase::Downloading,
            UpdatePhase::Verifying,
            UpdatePhase::Installing,
            UpdatePhase::WaitingToReboot,
            UpdatePhase::Rebooting
        ]
    );
}

#[test]
fn the_reboot_waits_for_the_maintenance_window() {
    // 02:00–04:00 UTC; installed at 10:00.
    let window = MaintenanceWindow { start_utc_minute: 120, length_minutes: 120 };
    let mut sim = installed(window);
    assert!(!sim.out.contains(&Output::Reboot));
    let Some(Output::Report(s)) = sim.out.iter().rev().find(|o| matches!(o, Output::Report(_))) else { panic!() };
    assert_eq!(s.phase, UpdatePhase::WaitingToReboot);
    assert!(s.detail.as_deref().is_some_and(|d| d.contains("960 min")), "{s:?}");
    assert!(!sim.advance(Duration::from_secs(15 * 3600 + 59 * 60)).contains(&Output::Reboot), "01:59");
    let reports_waiting =
        sim.out.iter().filter(|o| matches!(o, Output::Report(s) if s.phase == UpdatePhase::WaitingToReboot)).count();
    assert_eq!(reports_waiting, 1, "the countdown is not reported every minute");
    assert!(sim.advance(Duration::from_secs(61)).contains(&Output::Reboot), "02:00");
}

#[test]
fn a_trial_boot_is_marked_good_once_the_box_goes_live() {
    let sim = installed(MaintenanceWindow::ALWAYS);
    assert!(sim.out.contains(&Output::Reboot));
    let record = sim.saved().expect("saved before the reboot");
    // The box restarts into the new release.
    let mut sim = Sim::new("1.1.0", Some(record));
    assert_eq!(sim.saved().map(|r| r.stage), Some(Stage::Trial { boots: 1 }));
    assert!(!sim.out.contains(&Output::MarkGood));
    // A lesson that starts is not enough: the box must get live.
    assert!(!sim.feed(Input::Lesson { on: true }).contains(&Output::MarkGood));
    let got = sim.feed(Input::WentLive);
    assert!(got.contains(&Output::MarkGood));
    assert_eq!(sim.saved().map(|r| r.stage), Some(Stage::Good));
    assert_eq!(sim.phases(), [UpdatePhase::Trial, UpdatePhase::Good]);
    // Restarted after that (the report may not have reached the hub): it is said again.
    let mut sim = Sim::new("1.1.0", sim.saved());
    let told = sim.feed(Input::HubConnected);
    assert!(matches!(told.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::Good), "{told:?}");
    // The hub offers it again after a reconnect: already done.
    let again = sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    assert!(
        fetches(&again).is_empty() && matches!(again.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::Good)
    );
}

#[test]
fn a_health_check_marks_good_too() {
    let record = Record {
        release: 7,
        version: "1.1.0".into(),
        from_version: "1.0.0".into(),
        window: MaintenanceWindow::ALWAYS,
        stage: Stage::Installed,
    };
    let mut sim = Sim::new("1.1.0", Some(record));
    assert!(sim.feed(Input::Healthy).contains(&Output::MarkGood));
}

#[test]
fn three_failed_boots_roll_back_and_say_so() {
    let mut sim = installed(MaintenanceWindow::ALWAYS);
    let mut record = sim.saved().expect("saved");
    for boot in 1..=3 {
        sim = Sim::new("1.1.0", Some(record));
        let saved = sim.saved().expect("each boot is counted before anything else");
        assert_eq!(saved.stage, Stage::Trial { boots: boot });
        if boot == 3 {
            // Never healthy: the trial times out and reboots itself.
            let got = sim.advance(AgentConfig::default().trial_timeout);
            assert!(got.contains(&Output::Reboot), "{got:?}");
        }
        // Otherwise it crashed: the record is all that is left.
        record = saved;
    }
    sim = Sim::new("1.1.0", Some(record));
    let saved_at = sim.out.iter().position(|o| matches!(o, Output::Save(r) if r.stage == Stage::RolledBack));
    let rollback_at = sim.out.iter().position(|o| *o == Output::RollBack);
    assert!(saved_at.is_some() && saved_at < rollback_at, "saved before the reboot: {:?}", sim.out);
    assert!(!sim.out.contains(&Output::MarkGood));
    assert_eq!(sim.saved().map(|r| r.stage), Some(Stage::RolledBack));
    let Some(Output::Report(s)) = sim.out.iter().find(|o| matches!(o, Output::Report(_))) else { panic!() };
    assert_eq!(s.phase, UpdatePhase::RolledBack);
    assert!(s.detail.as_deref().is_some_and(|d| d.contains("3 boots")), "{s:?}");
    // Back on the old release (the report above died with the reboot), the hub hears it once the
    // channel is up, and its offer is declined with the same report.
    let record = sim.saved();
    sim = Sim::new("1.0.0", record);
    let told = sim.feed(Input::HubConnected);
    assert!(matches!(told.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::RolledBack), "{told:?}");
    let again = sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    assert!(fetches(&again).is_empty(), "a rolled-back release is not downloaded again: {again:?}");
    assert!(matches!(again.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::RolledBack), "{again:?}");
}

#[test]
fn a_bootloader_fallback_is_reported_as_a_rollback() {
    let mut sim = installed(MaintenanceWindow::ALWAYS);
    let record = Record { stage: Stage::Trial { boots: 2 }, ..sim.saved().unwrap() };
    // U-Boot ran out of tries and booted the old slot: the agent finds the old release running.
    sim = Sim::new("1.0.0", Some(record));
    assert_eq!(sim.phases(), [UpdatePhase::RolledBack]);
    assert!(!sim.out.contains(&Output::RollBack), "the bootloader did it already");
}

#[test]
fn a_window_changed_by_the_hub_applies_to_an_installed_release() {
    let closed = MaintenanceWindow { start_utc_minute: 120, length_minutes: 60 };
    let mut sim = installed(closed);
    assert!(!sim.out.contains(&Output::Reboot));
    let got = sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    assert!(got.contains(&Output::Reboot), "the new window is open now: {got:?}");
}

#[test]
fn a_restart_before_the_reboot_keeps_waiting_for_it() {
    let window = MaintenanceWindow { start_utc_minute: 120, length_minutes: 60 };
    let sim = installed(window);
    let record = sim.saved().unwrap();
    let mut sim = Sim::new("1.0.0", Some(record));
    assert!(matches!(sim.agent.state(), State::WaitingToReboot { .. }));
    assert!(sim.advance(Duration::from_secs(16 * 3600)).contains(&Output::Reboot));
}

#[test]
fn the_hub_hears_the_last_step_again_after_a_reconnect_and_nothing_before_any() {
    let mut sim = Sim::new("1.0.0", None);
    assert!(sim.feed(Input::HubConnected).is_empty());
    sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    let got = sim.feed(Input::HubConnected);
    assert!(matches!(got.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::Downloading), "{got:?}");
}

#[test]
fn an_offer_of_the_running_release_is_done_at_once_and_a_bad_checksum_refused() {
    let mut sim = Sim::new("1.1.0", None);
    let got = sim.feed(Input::Offer(offer(MaintenanceWindow::ALWAYS)));
    assert!(matches!(got.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::Good), "{got:?}");
    let mut sim = Sim::new("1.0.0", None);
    let got = sim.feed(Input::Offer(UpdateOffer { sha256: "xyz".into(), ..offer(MaintenanceWindow::ALWAYS) }));
    assert!(matches!(got.as_slice(), [Output::Report(s)] if s.phase == UpdatePhase::Failed), "{got:?}");
}

#[test]
fn a_ring_spreads_its_downloads_over_the_offered_seconds() {
    let mut starts = Vec::new();
    for seed in 0..50u64 {
        let mut sim = Sim::new("1.0.0", None);
        sim.agent = Agent::new(AgentConfig { seed, ..AgentConfig::default() });
        sim.feed(Input::Started { running: "1.0.0".into(), record: None });
        let got = sim.feed(Input::Offer(UpdateOffer { spread_secs: 600, ..offer(MaintenanceWindow::ALWAYS) }));
        let at = if fetches(&got).is_empty() {
            let Some(Output::Report(s)) = got.first() else { panic!("{got:?}") };
            assert!(s.detail.as_deref().is_some_and(|d| d.contains("spread")), "{s:?}");
            let mut waited = 0;
            while fetches(&sim.advance(Duration::from_secs(1))).is_empty() {
                waited += 1;
                assert!(waited < 600, "not within the spread");
            }
            waited + 1
        } else {
            0
        };
        starts.push(at);
    }
    starts.sort_unstable();
    assert!(starts[49] < 600 && starts[0] < 60 && starts[49] > 540, "spread over the window: {starts:?}");
    let distinct: std::collections::HashSet<_> = starts.iter().collect();
    assert!(distinct.len() > 40, "{starts:?}");
}
