//! The update agent as a sans-IO state machine:
//! `Idle → Downloading → Verifying → Installing → WaitingToReboot → Rebooting`, and after the
//! restart `Trial → Good` (went live once or passed the health check) or, after
//! [`MAX_TRIAL_BOOTS`] failed boots, `RolledBack`. Every step is reported to the hub.
//!
//! Feed it `Input`s with the current [`Now`], then drain `poll_output` until it returns
//! `WaitUntil` (call again with `Input::Tick` then, or earlier on any event) or `None`. It never
//! reads the clock, the disk or the network: a [`Record`] that must survive the reboot comes out
//! as `Output::Save` and goes back in with `Input::Started`.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use lectern_proto::update::{MAX_TRIAL_BOOTS, MaintenanceWindow, UpdateOffer, UpdatePhase, UpdateStatus};
use serde::{Deserialize, Serialize};

/// The two clocks the agent needs: monotonic for its own timers, wall-clock for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub unix_secs: u64,
}

impl Now {
    pub fn after(self, d: Duration) -> Now {
        Now { mono: self.mono + d, unix_secs: self.unix_secs + d.as_secs() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// First wait after a failed download; doubles up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Download progress is reported at most this often (phase changes at once).
    pub progress_every: Duration,
    /// A trial boot that neither goes live nor passes the health check within this counts as
    /// failed: the box reboots (and the next start counts it).
    pub trial_timeout: Duration,
    /// While waiting for the window (or for a lesson to end), look again this often.
    pub recheck: Duration,
    /// This box's own randomness (drawn once by the shell): where in an offer's `spread_secs`
    /// its download starts.
    pub seed: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            progress_every: Duration::from_secs(10),
            trial_timeout: Duration::from_secs(15 * 60),
            recheck: Duration::from_secs(60),
            seed: 0,
        }
    }
}

/// What survives a reboot: the release being installed and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    pub release: i64,
    pub version: String,
    /// The release the box ran before (where a rollback lands).
    pub from_version: String,
    /// When it may reboot into it.
    pub window: MaintenanceWindow,
    pub stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "camelCase")]
pub enum Stage {
    /// In the other slot, not booted yet.
    Installed,
    /// `boots` starts of the new release so far, none of them marked good.
    Trial {
        boots: u32,
    },
    Good,
    RolledBack,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The agent started: the release running now and the record kept from before.
    Started {
        running: String,
        record: Option<Record>,
    },
    /// The hub offers a release (after `hello`, or when a rollout reaches this box).
    Offer(UpdateOffer),
    /// The control channel is up: the hub hears the last status again (it may have restarted).
    HubConnected,
    /// The download has `have` bytes; `complete` when the hub sent the last one.
    Fetched {
        have: u64,
        complete: bool,
    },
    /// The download broke with `have` bytes kept: it resumes from there.
    FetchFailed {
        have: u64,
        reason: String,
    },
    /// Checksum and signature of the downloaded bundle.
    Verified(Result<(), String>),
    Installed(Result<(), String>),
    /// A lesson started or ended (the hub's `goLive`/`end`, the panel's button): while one is on
    /// the box never reboots, even while its connection is down.
    Lesson {
        on: bool,
    },
    /// The box is live: published and connected. Marks a trial boot good.
    WentLive,
    /// The box passed its health check (its control channel reached the hub with its credential).
    Healthy,
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Tell the hub (`DeviceMsg::UpdateStatus`).
    Report(UpdateStatus),
    /// `GET path` with `Range: bytes={from}-`, appending to the partial bundle; answer with
    /// `Fetched` (progress, then complete) or `FetchFailed`.
    Fetch {
        path: String,
        from: u64,
        size: u64,
    },
    /// Delete the partial or refused bundle.
    Discard,
    /// Check the bundle's SHA-256 and signature; answer `Verified`.
    Verify {
        sha256: String,
    },
    /// Install the bundle into the other slot; answer `Installed`.
    Install {
        version: String,
    },
    /// Write the record where the next start finds it (before a reboot, on every trial boot).
    Save(Record),
    Reboot,
    /// The booted release is good: tell the bootloader (`rauc status mark-good`).
    MarkGood,
    /// The booted release failed too often: mark it bad and boot the other slot.
    RollBack,
    /// Nothing more to do until this instant: feed `Input::Tick` then. Always the last output.
    WaitUntil(Instant),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Running what the hub assigned, or nothing assigned.
    Idle,
    Downloading {
        offer: UpdateOffer,
        have: u64,
        retry_at: Option<Instant>,
        failures: u32,
    },
    Verifying {
        offer: UpdateOffer,
    },
    Installing {
        offer: UpdateOffer,
    },
    WaitingToReboot {
        offer: UpdateOffer,
        recheck_at: Instant,
    },
    Rebooting {
        offer: UpdateOffer,
    },
    Trial {
        record: Record,
        deadline: Instant,
    },
}

pub struct Agent {
    config: AgentConfig,
    state: State,
    running: String,
    lesson_live: bool,
    /// Releases this box refused or rolled back: not tried again until the agent restarts
    /// (a rolled-back one never: the record says so).
    given_up: HashSet<i64>,
    last_status: Option<UpdateStatus>,
    last_progress: Option<Instant>,
    outputs: VecDeque<Output>,
}

impl Agent {
    pub fn new(config: AgentConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            running: String::new(),
            lesson_live: false,
            given_up: HashSet::new(),
            last_status: None,
            last_progress: None,
            outputs: VecDeque::new(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// The release running now.
    pub fn running(&self) -> &str {
        &self.running
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn handle(&mut self, input: Input, now: Now) {
        match input {
            Input::Started { running, record } => self.started(running, record, now),
            Input::Offer(offer) => self.offer(offer, now),
            Input::HubConnected => {
                if let Some(s) = self.last_status.clone() {
                    self.outputs.push_back(Output::Report(s));
                }
            }
            Input::Lesson { on } => {
                self.lesson_live = on;
                if !on && matches!(self.state, State::WaitingToReboot { .. }) {
                    self.try_reboot(now);
                }
            }
            Input::WentLive | Input::Healthy => {
                if matches!(self.state, State::Trial { .. }) {
                    self.mark_good();
                }
            }
            Input::Fetched { have, complete } => self.fetched(have, complete, now),
            Input::FetchFailed { have, reason } => self.fetch_failed(have, &reason, now),
            Input::Verified(result) => self.verified(result),
            Input::Installed(result) => self.installed(result, now),
            Input::Tick => self.tick(now),
        }
        if let Some(at) = self.deadline() {
            self.outputs.push_back(Output::WaitUntil(at));
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Downloading { retry_at, .. } => *retry_at,
            State::WaitingToReboot { recheck_at, .. } => Some(*recheck_at),
            State::Trial { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    fn report(&mut self, release: i64, version: &str, phase: UpdatePhase, detail: Option<String>) {
        self.report_with(UpdateStatus {
            release,
            version: version.to_owned(),
            phase,
            bytes: None,
            boots: None,
            detail,
        });
    }

    fn report_with(&mut self, status: UpdateStatus) {
        self.last_status = Some(status.clone());
        self.outputs.push_back(Output::Report(status));
    }

    fn started(&mut self, running: String, record: Option<Record>, now: Now) {
        self.running = running;
        let Some(record) = record else { return };
        match record.stage {
            // The last word before the restart may not have reached the hub: it is said again
            // when the channel is up.
            Stage::Good => {
                self.last_status = Some(final_status(&record, UpdatePhase::Good, None));
            }
            Stage::RolledBack => {
                self.given_up.insert(record.release);
                let detail = format!("went back to {}", record.from_version);
                self.last_status = Some(final_status(&record, UpdatePhase::RolledBack, Some(detail)));
            }
            Stage::Installed | Stage::Trial { .. } if self.running != record.version => {
                if record.stage == Stage::Installed {
                    // Restarted before the reboot: the other slot still holds the release.
                    let offer = offer_of(&record);
                    self.report(record.release, &record.version, UpdatePhase::WaitingToReboot, None);
                    self.state = State::WaitingToReboot { offer, recheck_at: now.mono };
                    self.try_reboot(now);
                } else {
                    // The bootloader fell back to the old slot by itself.
                    self.rolled_back(record, "the bootloader went back to the previous release".to_owned());
                }
            }
            Stage::Installed | Stage::Trial { .. } => {
                let failed = match record.stage {
                    Stage::Trial { boots } => boots,
                    _ => 0,
                };
                if failed >= MAX_TRIAL_BOOTS {
                    let detail = format!("{failed} boots of {} failed", record.version);
                    self.running = record.from_version.clone();
                    // Saved before the reboot that `RollBack` ends with.
                    self.rolled_back(record, detail);
                    self.outputs.push_back(Output::RollBack);
                    return;
                }
                let boots = failed + 1;
                let record = Record { stage: Stage::Trial { boots }, ..record };
                self.outputs.push_back(Output::Save(record.clone()));
                self.report_with(UpdateStatus {
                    release: record.release,
                    version: record.version.clone(),
                    phase: UpdatePhase::Trial,
                    bytes: None,
                    boots: Some(boots),
                    detail: None,
                });
                self.state = State::Trial { record, deadline: now.mono + self.config.trial_timeout };
            }
        }
    }

    fn rolled_back(&mut self, record: Record, detail: String) {
        self.given_up.insert(record.release);
        self.report(record.release, &record.version, UpdatePhase::RolledBack, Some(detail));
        self.outputs.push_back(Output::Save(Record { stage: Stage::RolledBack, ..record }));
        self.state = State::Idle;
    }

    fn mark_good(&mut self) {
        let State::Trial { record, .. } = std::mem::replace(&mut self.state, State::Idle) else { return };
        self.outputs.push_back(Output::MarkGood);
        self.report(record.release, &record.version, UpdatePhase::Good, None);
        self.outputs.push_back(Output::Save(Record { stage: Stage::Good, ..record }));
    }

    fn offer(&mut self, offer: UpdateOffer, now: Now) {
        if self.given_up.contains(&offer.release) {
            // Say again why not, so the hub's rollout sees it.
            if let Some(s) = self.last_status.clone().filter(|s| s.release == offer.release) {
                self.outputs.push_back(Output::Report(s));
            }
            return;
        }
        let current = match &self.state {
            State::Idle => None,
            State::Downloading { offer, .. }
            | State::Verifying { offer }
            | State::Installing { offer }
            | State::WaitingToReboot { offer, .. }
            | State::Rebooting { offer } => Some(offer.release),
            State::Trial { record, .. } => Some(record.release),
        };
        if current == Some(offer.release) {
            // The site's window may have changed since (or the hub's zone moved to summer time).
            if let State::WaitingToReboot { offer: waiting, recheck_at } = &mut self.state
                && waiting.window != offer.window
            {
                waiting.window = offer.window;
                *recheck_at = now.mono;
                self.try_reboot(now);
            }
            return;
        }
        match &self.state {
            // Busy writing a slot or rebooting: the newer offer comes again after the restart.
            State::Installing { .. } | State::Rebooting { .. } | State::Trial { .. } => return,
            State::Downloading { .. } | State::Verifying { .. } => self.outputs.push_back(Output::Discard),
            State::Idle | State::WaitingToReboot { .. } => {}
        }
        if offer.version == self.running {
            self.report(offer.release, &offer.version, UpdatePhase::Good, Some("already running it".to_owned()));
            self.state = State::Idle;
            return;
        }
        if !valid_sha256(&offer.sha256) {
            let detail = "the hub sent no valid SHA-256 for the bundle".to_owned();
            self.give_up(offer.release, &offer.version, detail);
            return;
        }
        let mut status = progress(&offer, 0);
        self.last_progress = Some(now.mono);
        let delay = start_delay(self.config.seed, offer.release, offer.spread_secs);
        if delay.is_zero() {
            self.outputs.push_back(Output::Fetch { path: offer.path.clone(), from: 0, size: offer.size });
            self.state = State::Downloading { offer, have: 0, retry_at: None, failures: 0 };
        } else {
            status.detail = Some(format!("starting in {}s (spread over the ring)", delay.as_secs()));
            self.state = State::Downloading { offer, have: 0, retry_at: Some(now.mono + delay), failures: 0 };
        }
        self.report_with(status);
    }

    fn give_up(&mut self, release: i64, version: &str, detail: String) {
        self.given_up.insert(release);
        self.report(release, version, UpdatePhase::Failed, Some(detail));
        self.state = State::Idle;
    }

    fn fetched(&mut self, have: u64, complete: bool, now: Now) {
        let State::Downloading { offer, failures, .. } = self.state.clone() else { return };
        if have > offer.size || (complete && have != offer.size) {
            // The hub's file is not the offered one: start over once, then give up.
            self.outputs.push_back(Output::Discard);
            let reason = format!("the hub sent {have} bytes of a {}-byte bundle", offer.size);
            self.fetch_failed(0, &reason, now);
            return;
        }
        if complete {
            self.report(offer.release, &offer.version, UpdatePhase::Verifying, None);
            self.outputs.push_back(Output::Verify { sha256: offer.sha256.clone() });
            self.state = State::Verifying { offer };
            return;
        }
        if self.last_progress.is_none_or(|at| now.mono >= at + self.config.progress_every) {
            self.last_progress = Some(now.mono);
            self.report_with(progress(&offer, have));
        }
        self.state = State::Downloading { offer, have, retry_at: None, failures };
    }

    fn fetch_failed(&mut self, have: u64, reason: &str, now: Now) {
        let State::Downloading { offer, failures, .. } = self.state.clone() else { return };
        let failures = failures + 1;
        let shift = (failures - 1).min(16);
        let wait = self.config.retry_initial.saturating_mul(1 << shift).min(self.config.retry_max);
        let mut status = progress(&offer, have);
        status.detail = Some(format!("download interrupted ({reason}); resuming in {}s", wait.as_secs()));
        self.report_with(status);
        self.state = State::Downloading { offer, have, retry_at: Some(now.mono + wait), failures };
    }

    fn verified(&mut self, result: Result<(), String>) {
        let State::Verifying { offer } = self.state.clone() else { return };
        match result {
            Ok(()) => {
                self.report(offer.release, &offer.version, UpdatePhase::Installing, None);
                self.outputs.push_back(Output::Install { version: offer.version.clone() });
                self.state = State::Installing { offer };
            }
            Err(reason) => {
                self.outputs.push_back(Output::Discard);
                self.give_up(offer.release, &offer.version, format!("refused: {reason}"));
            }
        }
    }

    fn installed(&mut self, result: Result<(), String>, now: Now) {
        let State::Installing { offer } = self.state.clone() else { return };
        self.outputs.push_back(Output::Discard);
        if let Err(reason) = result {
            self.give_up(offer.release, &offer.version, format!("install failed: {reason}"));
            return;
        }
        let record = Record {
            release: offer.release,
            version: offer.version.clone(),
            from_version: self.running.clone(),
            window: offer.window,
            stage: Stage::Installed,
        };
        self.outputs.push_back(Output::Save(record));
        self.state = State::WaitingToReboot { offer, recheck_at: now.mono };
        self.try_reboot(now);
    }

    /// Reboots now if no lesson is live and the window is open; otherwise says what it waits for.
    fn try_reboot(&mut self, now: Now) {
        let State::WaitingToReboot { offer, .. } = self.state.clone() else { return };
        let opens_in = offer.window.opens_in(now.unix_secs);
        if !self.lesson_live && opens_in == 0 {
            self.report(offer.release, &offer.version, UpdatePhase::Rebooting, None);
            self.outputs.push_back(Output::Reboot);
            self.state = State::Rebooting { offer };
            return;
        }
        let (detail, wait) = if self.lesson_live {
            ("lesson live: rebooting after it".to_owned(), self.config.recheck)
        } else {
            let wait = Duration::from_secs(opens_in);
            (format!("window opens in {} min", opens_in.div_ceil(60)), wait.min(self.config.recheck))
        };
        // Report when what it waits for changes, not every minute of a countdown.
        let before =
            self.last_status.as_ref().filter(|s| s.phase == UpdatePhase::WaitingToReboot && s.release == offer.release);
        let same_reason =
            before.and_then(|s| s.detail.as_deref()).is_some_and(|d| d.split(' ').next() == detail.split(' ').next());
        if !same_reason {
            self.report(offer.release, &offer.version, UpdatePhase::WaitingToReboot, Some(detail));
        }
        self.state = State::WaitingToReboot { offer, recheck_at: now.mono + wait.max(Duration::from_secs(1)) };
    }

    fn tick(&mut self, now: Now) {
        match self.state.clone() {
            State::Downloading { offer, have, retry_at: Some(at), failures } if now.mono >= at => {
                self.outputs.push_back(Output::Fetch { path: offer.path.clone(), from: have, size: offer.size });
                self.state = State::Downloading { offer, have, retry_at: None, failures };
            }
            State::WaitingToReboot { recheck_at, .. } if now.mono >= recheck_at => self.try_reboot(now),
            State::Trial { record, deadline } if now.mono >= deadline => {
                // This boot failed; the record already counts it, the next start decides.
                let detail = format!("not healthy within {} min: rebooting", self.config.trial_timeout.as_secs() / 60);
                self.report(record.release, &record.version, UpdatePhase::Trial, Some(detail));
                self.outputs.push_back(Output::Reboot);
                self.state = State::Rebooting { offer: offer_of(&record) };
            }
            _ => {}
        }
    }
}

/// Where in `[0, spread_secs)` this box starts (splitmix64 of its seed and the release).
fn start_delay(seed: u64, release: i64, spread_secs: u32) -> Duration {
    if spread_secs == 0 {
        return Duration::ZERO;
    }
    let mut z = seed ^ (release as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Duration::from_secs(z % u64::from(spread_secs))
}

fn final_status(record: &Record, phase: UpdatePhase, detail: Option<String>) -> UpdateStatus {
    UpdateStatus { release: record.release, version: record.version.clone(), phase, bytes: None, boots: None, detail }
}

fn progress(offer: &UpdateOffer, have: u64) -> UpdateStatus {
    UpdateStatus {
        release: offer.release,
        version: offer.version.clone(),
        phase: UpdatePhase::Downloading,
        bytes: Some(have),
        boots: None,
        detail: None,
    }
}

/// A stand-in offer for a record (the path and checksum are not needed any more).
fn offer_of(record: &Record) -> UpdateOffer {
    UpdateOffer {
        release: record.release,
        version: record.version.clone(),
        path: String::new(),
        size: 0,
        sha256: String::new(),
        window: record.window,
        spread_secs: 0,
    }
}

fn valid_sha256(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
