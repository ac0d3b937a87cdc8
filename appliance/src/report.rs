//! What the appliance tells the world about itself when something changes: the log, systemd
//! (`READY=1`, `STATUS=`, `WATCHDOG=1`), the status endpoint and the panel LEDs. The runner
//! calls it; it decides nothing.

use std::time::Instant;

use crate::panel::{PanelHandle, PanelState};
use crate::status::StatusBoard;
use crate::supervisor::{FeedState, State};
use lectern_common::sd_notify::Notifier;
use lectern_proto::device::DeviceState;

pub struct Reporter {
    notifier: Notifier,
    board: StatusBoard,
    leds: Option<PanelHandle>,
    /// The panel's switches and lights; the runner flips the switches.
    pub panel: PanelState,
    ready_sent: bool,
    next_watchdog: Option<Instant>,
}

impl Reporter {
    pub fn new(notifier: Notifier, board: StatusBoard, leds: Option<PanelHandle>) -> Self {
        let next_watchdog = notifier.watchdog_interval().map(|_| Instant::now());
        Self { notifier, board, leds, panel: PanelState::default(), ready_sent: false, next_watchdog }
    }

    /// Lets the LEDs follow from now on (the panel thread starts after the runner exists).
    pub fn attach_leds(&mut self, leds: PanelHandle) {
        self.leds = Some(leds);
        self.panel_changed();
    }

    pub fn board(&self) -> &StatusBoard {
        &self.board
    }

    /// The control channel is up: the box can be reached for lessons, which is its job between
    /// them, so systemd hears `READY=1` now (or when first live, whichever comes first).
    pub fn control_up(&mut self) {
        self.board.update(|s| s.control = "connected".to_owned());
        self.ready();
    }

    pub fn control_down(&mut self, reason: &str) {
        self.board.update(|s| s.control = reason.to_owned());
    }

    fn ready(&mut self) {
        if !self.ready_sent {
            self.ready_sent = true;
            self.notifier.ready();
        }
    }

    /// The supervisor's status changed. systemd hears `READY=1` the first time the box is
    /// live, unless the control channel came up before.
    pub fn status(&mut self, status: &str, state: &State) {
        tracing::info!(%status, "status");
        self.panel.on_air = matches!(state, State::Live { disconnected_at: None, .. });
        self.panel.fault = self.panel.lesson && matches!(state, State::Reconnecting { .. });
        let device_state = match state {
            State::Idle => DeviceState::Idle,
            State::Connecting { .. } => DeviceState::Connecting,
            State::Live { .. } => DeviceState::Live,
            State::Reconnecting { .. } => DeviceState::Reconnecting,
        };
        self.board.update(|s| {
            s.state = device_state;
            s.status = status.to_owned();
        });
        self.panel_changed();
        // After the board, so whoever hears systemd's status finds the endpoint agreeing.
        self.notifier.status(status);
        if self.panel.on_air {
            self.ready();
        }
    }

    /// The return feed changed state. Its failures are logged and shown under `return_feed`,
    /// not as the appliance's error: the room is still live.
    pub fn feed(&mut self, state: FeedState, reason: Option<&str>) {
        match (state, reason) {
            (FeedState::Playing, _) => tracing::info!("return feed live"),
            (FeedState::Waiting { .. }, Some(reason)) => tracing::warn!(%reason, "return feed failed"),
            (state, _) => tracing::debug!(state = state.name(), "return feed"),
        }
        self.board.update(|s| {
            s.return_feed.state = state.name().to_owned();
            match (state, reason) {
                (FeedState::Playing | FeedState::Off, _) => s.return_feed.error = None,
                (_, Some(reason)) => s.return_feed.error = Some(reason.to_owned()),
                _ => {}
            }
        });
    }

    /// A session failed; kept for the status endpoint until the next failure.
    pub fn error(&mut self, reason: &str) {
        self.board.update(|s| s.last_error = Some(reason.to_owned()));
    }

    /// Shows `self.panel` on the LEDs and the status endpoint.
    pub fn panel_changed(&mut self) {
        let panel = self.panel;
        self.board.update(|s| s.panel.state = panel);
        if let Some(leds) = &self.leds {
            for (led, on) in panel.leds() {
                leds.set_led(led, on);
            }
        }
    }

    /// When the next `WATCHDOG=1` is due, if systemd wants them.
    pub fn watchdog_due(&self) -> Option<Instant> {
        self.next_watchdog
    }

    /// Pings systemd if due. Called from the runner loop only, so a wedged loop stops the pings
    /// and systemd restarts the service.
    pub fn watchdog(&mut self, now: Instant) {
        if let (Some(due), Some(interval)) = (self.next_watchdog, self.notifier.watchdog_interval())
            && now >= due
        {
            self.notifier.watchdog();
            self.next_watchdog = Some(now + interval);
        }
    }

    pub fn stopping(&self) {
        self.notifier.stopping();
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::time::{Duration, Instant};

    use super::*;

    fn systemd() -> (tempfile::TempDir, UnixDatagram, Notifier) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let notifier = Notifier::new(path.to_str(), Some("2000000"), None);
        (dir, socket, notifier)
    }

    fn received(socket: &UnixDatagram) -> Vec<String> {
        let mut buf = [0u8; 256];
        std::iter::from_fn(|| socket.recv(&mut buf).ok().map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()))
            .collect()
    }

    #[test]
    fn ready_is_sent_once_when_first_live() {
        let (_dir, socket, notifier) = systemd();
        let mut reporter = Reporter::new(notifier, StatusBoard::default(), None);
        let now = Instant::now();
        reporter.status("connecting", &State::Connecting { deadline: now, published: false });
        let live = State::Live { since: now, last_heard: now, disconnected_at: None };
        reporter.status("live", &live);
        reporter.status("reconnecting in 1.0s: x", &State::Reconnecting { retry_at: now });
        reporter.status("live", &live);
        let messages = received(&socket);
        assert_eq!(
            messages,
            ["STATUS=connecting", "STATUS=live", "READY=1", "STATUS=reconnecting in 1.0s: x", "STATUS=live"]
        );
        assert_eq!(reporter.board().snapshot().state, DeviceState::Live);
    }

    #[test]
    fn ready_is_sent_once_when_the_control_channel_comes_up_idle() {
        let (_dir, socket, notifier) = systemd();
        let mut reporter = Reporter::new(notifier, StatusBoard::default(), None);
        reporter.status("waiting for a lesson", &State::Idle);
        reporter.control_up();
        reporter.control_down("retrying in 1.0s: connection closed");
        reporter.control_up();
        let now = Instant::now();
        reporter.status("live", &State::Live { since: now, last_heard: now, disconnected_at: None });
        assert_eq!(received(&socket), ["STATUS=waiting for a lesson", "READY=1", "STATUS=live"]);
        assert_eq!(reporter.board().snapshot().control, "connected");
    }

    #[test]
    fn watchdog_pings_at_half_the_timeout() {
        let (_dir, socket, notifier) = systemd();
        let mut reporter = Reporter::new(notifier, StatusBoard::default(), None);
        let start = reporter.watchdog_due().expect("watchdog wanted");
        reporter.watchdog(start);
        reporter.watchdog(start + Duration::from_millis(500));
        assert_eq!(reporter.watchdog_due(), Some(start + Duration::from_secs(1)));
        reporter.watchdog(start + Duration::from_secs(1));
        assert_eq!(received(&socket), ["WATCHDOG=1", "WATCHDOG=1"]);
    }

    #[test]
    fn fault_shows_while_a_lesson_cannot_connect() {
        let mut reporter = Reporter::new(Notifier::disabled(), StatusBoard::default(), None);
        reporter.panel.lesson = true;
        reporter.status("reconnecting", &State::Reconnecting { retry_at: Instant::now() });
        assert!(reporter.panel.fault && !reporter.panel.on_air);
        reporter.panel.lesson = false;
        reporter.status("stopped", &State::Idle);
        assert!(!reporter.panel.fault);
    }
}
