//! The appliance's connection policy as a sans-IO state machine:
//! `Idle → Connecting → Live → Reconnecting → Connecting …`.
//!
//! While live it also runs the return feed (remote students played in the room) as a
//! sub-state, `Off → Starting → Playing`, `→ Waiting → Starting …` after a failure: the feed
//! starts once the room is live, retries on its own backoff and never takes publishing down;
//! it stops whenever the publish session ends.
//!
//! It also keeps the capture devices' health (`supervisor_source`): a failed camera or
//! microphone is replaced by a stand-in on the same track and checked until it comes back,
//! while the session stays up.
//!
//! Feed it `Input`s with the current time, then drain `poll_output` until it returns
//! `WaitUntil` (call again with `Input::Tick` at that instant, or earlier on any event) or
//! `None` (nothing scheduled). It never reads the clock or does IO, so tests drive it on
//! made-up time with a seeded rng.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;

#[path = "supervisor_source.rs"]
mod source;
use lectern_common::backoff::equal_jitter;

use crate::media::SourceKind;
use source::Sources;

/// The return feed's first retry waits `initial_backoff · 2^this` (1 s by default): a feed that
/// fails fast (no student yet is not a failure, but a hub refusing it is) should not spin.
const FEED_BACKOFF_SHIFT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// First retry delay (before jitter); doubles per consecutive failure.
    pub initial_backoff: Duration,
    /// Longest retry delay; also used straight away when the hub rejects our credentials.
    pub max_backoff: Duration,
    /// From `BuildAndPublish` to a connected peer connection, or the attempt counts as failed.
    pub connect_timeout: Duration,
    /// A session live at least this long resets the backoff; shorter ones count as flapping.
    pub stable_after: Duration,
    /// How long a live connection may stay `Disconnected` before it is torn down.
    pub disconnect_grace: Duration,
    /// How long a live connection may go without a packet from the hub. GStreamer 1.22's ICE
    /// does not check consent (RFC 7675), so a restarted hub would otherwise look connected
    /// forever; the hub's RTCP feedback arrives several times a second.
    pub silence_timeout: Duration,
    /// How often a lost camera or microphone is looked for.
    pub source_poll: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(7),
            connect_timeout: Duration::from_secs(15),
            stable_after: Duration::from_secs(10),
            disconnect_grace: Duration::from_secs(5),
            silence_timeout: Duration::from_secs(6),
            source_poll: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Begin publishing (start-up, or a lesson starts).
    Start,
    /// The hub accepted the offer and its answer is applied; media still has to connect.
    Published,
    /// The peer connection (ICE + DTLS) is connected: media flows.
    Connected,
    /// The peer connection went `Disconnected`; it may come back by itself.
    Disconnected,
    /// The latest instant a packet from the hub arrived (feed it before a `Tick`).
    Heard(Instant),
    /// The session is unusable (failed/closed connection, pipeline error).
    ConnectionLost { reason: String },
    /// Building or publishing failed. `retryable: false` (e.g. rejected credentials) waits the
    /// longest backoff, so a misconfigured box does not hammer the hub.
    PublishFailed { retryable: bool, reason: String },
    /// The return feed's peer connection is connected: the room hears and sees the students.
    FeedConnected,
    /// The return feed could not start or broke (build, WHEP, connection, pipeline error).
    FeedFailed { reason: String },
    /// A capture device failed (an error from its source element): use its stand-in.
    SourceLost { kind: SourceKind, reason: String },
    /// After a `CheckSource`: the device is there again.
    SourcePresent { kind: SourceKind },
    /// A `WaitUntil` instant was reached.
    Tick,
    /// Shut down: tear down and stay idle.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Build a pipeline and publish it; report back `Published`/`Connected` or `PublishFailed`.
    BuildAndPublish,
    /// End the session: `DELETE` the WHIP resource (and a detached one's), pipeline to `Null`.
    Teardown,
    /// The session failed: pipeline to `Null`, but keep its WHIP resource. GStreamer 1.22's
    /// webrtcbin cannot restart ICE, so the box replaces a broken session make-before-break: the
    /// next session's POST takes the room's participant over on the hub (nobody sees the room
    /// leave), and the old resource is DELETEd once the new one is connected (`ReleaseReplaced`).
    Detach,
    /// The new session is connected: `DELETE` the detached session's WHIP resource.
    ReleaseReplaced,
    /// Build the return-feed pipeline and request it over WHEP; report back `FeedConnected`
    /// or `FeedFailed`.
    StartFeed,
    /// End the return feed: `DELETE` its resource, pipeline to `Null`. Comes before `Teardown`
    /// when both end.
    StopFeed,
    /// The return feed's state changed; `reason` says why it failed (it does not change the
    /// appliance's status: the room is still live).
    Feed { state: FeedState, reason: Option<String> },
    /// Replace this device by its stand-in (black frames, silence) on the playing pipeline and
    /// close it.
    UseStandIn(SourceKind),
    /// Look whether this lost device is back (its device path exists); answer `SourcePresent`.
    CheckSource(SourceKind),
    /// Reopen this device and switch back to it; a failure comes back as `SourceLost`.
    Reopen(SourceKind),
    /// Human-readable status changed (logs, later systemd `STATUS=`).
    Status(String),
    /// Nothing more to do until this instant: feed `Input::Tick` then. Always the last output.
    WaitUntil(Instant),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Idle,
    Connecting { deadline: Instant, published: bool },
    Live { since: Instant, last_heard: Instant, disconnected_at: Option<Instant> },
    Reconnecting { retry_at: Instant },
}

/// The return feed, meaningful while `Live` (always `Off` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    Off,
    /// `StartFeed` was issued; it must connect by `deadline`.
    Starting {
        deadline: Instant,
    },
    Playing,
    /// Failed; `StartFeed` again at `retry_at`.
    Waiting {
        retry_at: Instant,
    },
}

impl FeedState {
    /// For the status endpoint.
    pub fn name(self) -> &'static str {
        match self {
            FeedState::Off => "off",
            FeedState::Starting { .. } => "starting",
            FeedState::Playing => "live",
            FeedState::Waiting { .. } => "retrying",
        }
    }

    fn deadline(self) -> Option<Instant> {
        match self {
            FeedState::Starting { deadline } => Some(deadline),
            FeedState::Waiting { retry_at } => Some(retry_at),
            FeedState::Off | FeedState::Playing => None,
        }
    }
}

pub struct Supervisor<R> {
    config: SupervisorConfig,
    state: State,
    feed: FeedState,
    /// Consecutive return-feed failures; drives its own backoff.
    feed_failures: u32,
    /// Consecutive failed or flapping sessions; drives the backoff exponent.
    failures: u32,
    /// A failed session was detached, not ended: its WHIP resource waits for `ReleaseReplaced`.
    detached: bool,
    rng: R,
    outputs: VecDeque<Output>,
    /// The state's status line, before any lost device is added to it.
    base_status: String,
    status: String,
    sources: Sources,
}

impl<R: Rng> Supervisor<R> {
    pub fn new(config: SupervisorConfig, rng: R) -> Self {
        Self {
            config,
            state: State::Idle,
            feed: FeedState::Off,
            feed_failures: 0,
            failures: 0,
            detached: false,
            rng,
            outputs: VecDeque::new(),
            base_status: String::new(),
            status: String::new(),
            sources: Sources::default(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn feed(&self) -> FeedState {
        self.feed
    }

    /// Whether `kind` is lost: a new pipeline starts it on its stand-in.
    pub fn source_lost(&self, kind: SourceKind) -> bool {
        self.sources.is_lost(kind)
    }

    pub fn handle_input(&mut self, input: Input, now: Instant) {
        match (self.state.clone(), input) {
            (_, Input::Stop) => self.stop(),
            (State::Connecting { .. } | State::Live { .. }, Input::SourceLost { kind, reason }) => {
                self.lose_source(kind, &reason, now);
            }
            (State::Connecting { .. } | State::Live { .. }, Input::SourcePresent { kind })
                if self.sources.recover(kind) =>
            {
                self.outputs.push_back(Output::Reopen(kind));
                self.refresh_status();
            }
            (State::Idle, Input::Start) => self.connect(now),
            (State::Connecting { deadline, .. }, Input::Published) => {
                self.state = State::Connecting { deadline, published: true };
                self.set_status("published, connecting media".to_owned());
            }
            (State::Connecting { .. }, Input::Connected) => {
                if std::mem::take(&mut self.detached) {
                    self.outputs.push_back(Output::ReleaseReplaced);
                }
                self.state = State::Live { since: now, last_heard: now, disconnected_at: None };
                self.set_status("live".to_owned());
                self.start_feed(now);
            }
            (State::Connecting { .. }, Input::PublishFailed { retryable, reason }) => {
                self.fail(now, retryable, &reason);
            }
            (State::Connecting { .. } | State::Live { .. }, Input::ConnectionLost { reason }) => {
                self.fail(now, true, &reason);
            }
            (State::Connecting { deadline, .. }, Input::Tick) if now >= deadline => {
                self.fail(now, true, "timed out connecting");
            }
            (State::Connecting { .. }, Input::Tick) => self.check_sources(now),
            (State::Live { since, last_heard, disconnected_at }, input) => {
                self.handle_live(input, now, since, last_heard, disconnected_at);
            }
            (State::Reconnecting { retry_at }, Input::Tick) if now >= retry_at => self.connect(now),
            // Everything else is stale (an event from a session already torn down) or early.
            _ => {}
        }
    }

    fn handle_live(
        &mut self,
        input: Input,
        now: Instant,
        since: Instant,
        last_heard: Instant,
        disconnected_at: Option<Instant>,
    ) {
        match input {
            Input::Disconnected if disconnected_at.is_none() => {
                self.state = State::Live { since, last_heard, disconnected_at: Some(now) };
                self.set_status("connection interrupted".to_owned());
            }
            Input::Connected if disconnected_at.is_some() => {
                self.state = State::Live { since, last_heard, disconnected_at: None };
                self.set_status("live".to_owned());
            }
            Input::Heard(at) if at > last_heard => {
                self.state = State::Live { since, last_heard: at, disconnected_at };
            }
            Input::Tick if disconnected_at.is_some_and(|at| now >= at + self.config.disconnect_grace) => {
                self.fail(now, true, "connection stayed disconnected");
            }
            Input::Tick if now >= last_heard + self.config.silence_timeout => {
                let silence = self.config.silence_timeout.as_secs_f64();
                self.fail(now, true, &format!("nothing heard from the hub for {silence:.0}s"));
            }
            Input::Tick => {
                self.check_sources(now);
                self.handle_feed(input, now);
            }
            Input::FeedConnected | Input::FeedFailed { .. } => self.handle_feed(input, now),
            _ => {}
        }
    }

    /// The return feed's own policy; only called while live.
    fn handle_feed(&mut self, input: Input, now: Instant) {
        match (self.feed, input) {
            (FeedState::Starting { .. }, Input::FeedConnected) => {
                self.feed_failures = 0;
                self.set_feed(FeedState::Playing);
            }
            (FeedState::Starting { .. } | FeedState::Playing, Input::FeedFailed { reason }) => {
                self.fail_feed(now, &reason);
            }
            (FeedState::Starting { deadline }, Input::Tick) if now >= deadline => {
                self.fail_feed(now, "timed out connecting");
            }
            (FeedState::Waiting { retry_at }, Input::Tick) if now >= retry_at => self.start_feed(now),
            // Stale (a feed already stopped) or early.
            _ => {}
        }
    }

    fn lose_source(&mut self, kind: SourceKind, reason: &str, now: Instant) {
        if self.sources.lose(kind, reason, now, self.config.source_poll) {
            self.outputs.push_back(Output::UseStandIn(kind));
        }
        self.refresh_status();
    }

    fn check_sources(&mut self, now: Instant) {
        for kind in self.sources.due(now, self.config.source_poll) {
            self.outputs.push_back(Output::CheckSource(kind));
        }
    }

    fn start_feed(&mut self, now: Instant) {
        self.outputs.push_back(Output::StartFeed);
        self.set_feed(FeedState::Starting { deadline: now + self.config.connect_timeout });
    }

    /// Stops the feed and schedules another try; publishing carries on untouched.
    fn fail_feed(&mut self, now: Instant, reason: &str) {
        let exp = self.feed_failures.saturating_add(FEED_BACKOFF_SHIFT);
        let delay = self.backoff_for(exp);
        self.feed_failures = self.feed_failures.saturating_add(1);
        self.outputs.push_back(Output::StopFeed);
        self.feed = FeedState::Waiting { retry_at: now + delay };
        let reason = format!("retrying in {:.1}s: {reason}", delay.as_secs_f64());
        self.outputs.push_back(Output::Feed { state: self.feed, reason: Some(reason) });
    }

    /// Ends the feed with the publish session it belongs to.
    fn stop_feed(&mut self) {
        if self.feed != FeedState::Off {
            self.outputs.push_back(Output::StopFeed);
            self.set_feed(FeedState::Off);
        }
        self.feed_failures = 0;
    }

    fn set_feed(&mut self, feed: FeedState) {
        self.feed = feed;
        self.outputs.push_back(Output::Feed { state: feed, reason: None });
    }

    /// The next action, or the instant to wake up at, or `None` when nothing is scheduled.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front().or_else(|| self.deadline().map(Output::WaitUntil))
    }

    fn deadline(&self) -> Option<Instant> {
        let check = self.sources.next_check();
        match self.state {
            State::Idle => None,
            State::Connecting { deadline, .. } => Some(check.map_or(deadline, |c| c.min(deadline))),
            State::Live { last_heard, disconnected_at, .. } => {
                let silent_at = last_heard + self.config.silence_timeout;
                let grace_end = disconnected_at.map(|at| at + self.config.disconnect_grace);
                Some([grace_end, self.feed.deadline(), check].into_iter().flatten().fold(silent_at, Instant::min))
            }
            State::Reconnecting { retry_at } => Some(retry_at),
        }
    }

    fn connect(&mut self, now: Instant) {
        self.state = State::Connecting { deadline: now + self.config.connect_timeout, published: false };
        self.set_status(match self.failures {
            0 => "connecting".to_owned(),
            n => format!("connecting (attempt {})", n + 1),
        });
        self.outputs.push_back(Output::BuildAndPublish);
    }

    fn fail(&mut self, now: Instant, retryable: bool, reason: &str) {
        if let State::Live { since, .. } = self.state
            && now.saturating_duration_since(since) >= self.config.stable_after
        {
            self.failures = 0;
        }
        if !retryable {
            self.failures = self.failures.max(self.failures_at_cap());
        }
        let delay = self.backoff_for(self.failures);
        self.failures = self.failures.saturating_add(1);
        self.stop_feed();
        self.outputs.push_back(Output::Detach);
        self.detached = true;
        self.state = State::Reconnecting { retry_at: now + delay };
        self.set_status(format!("reconnecting in {:.1}s: {reason}", delay.as_secs_f64()));
    }

    fn stop(&mut self) {
        // The next lesson opens the devices afresh.
        self.sources = Sources::default();
        self.stop_feed();
        if self.state != State::Idle || self.detached {
            self.outputs.push_back(Output::Teardown);
        }
        self.detached = false;
        self.state = State::Idle;
        self.set_status("stopped".to_owned());
    }

    /// Exponential backoff with "equal jitter" (`lectern_common::backoff`), so boxes that lost the
    /// same hub spread their retries.
    fn backoff_for(&mut self, failures: u32) -> Duration {
        equal_jitter(self.config.initial_backoff, self.config.max_backoff, failures, &mut self.rng)
    }

    /// The failure count whose backoff ceiling reaches `max_backoff`.
    fn failures_at_cap(&self) -> u32 {
        let mut n = 0;
        while n < 31 && self.config.initial_backoff.saturating_mul(1u32 << n) < self.config.max_backoff {
            n += 1;
        }
        n
    }

    /// Sets the state's status line; a lost device is added to it while a session runs.
    fn set_status(&mut self, base: String) {
        self.base_status = base;
        self.refresh_status();
    }

    fn refresh_status(&mut self) {
        let session = matches!(self.state, State::Connecting { .. } | State::Live { .. });
        let status = match self.sources.describe().filter(|_| session) {
            Some(degraded) => format!("{}; {degraded}", self.base_status),
            None => self.base_status.clone(),
        };
        if status != self.status {
            self.status.clone_from(&status);
            self.outputs.push_back(Output::Status(status));
        }
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
