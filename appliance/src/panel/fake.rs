//! A panel in memory: tests and `--virtual` press its buttons through a `FakeHandle` and read
//! its LEDs back, waiting on a condition variable instead of sleeping.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Button, Led, Panel, PanelError};

#[derive(Default)]
struct Leds {
    lit: Mutex<[bool; 3]>,
    changed: Condvar,
}

pub struct FakePanel {
    presses: Receiver<Button>,
    leds: Arc<Leds>,
}

/// The test's side of a `FakePanel`. Cheap to clone.
#[derive(Clone)]
pub struct FakeHandle {
    presses: Sender<Button>,
    leds: Arc<Leds>,
}

impl FakePanel {
    pub fn new() -> (Self, FakeHandle) {
        let (presses_tx, presses) = mpsc::channel();
        let leds = Arc::new(Leds::default());
        (Self { presses, leds: Arc::clone(&leds) }, FakeHandle { presses: presses_tx, leds })
    }
}

impl Panel for FakePanel {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn next_press(&mut self, timeout: Duration) -> Result<Option<Button>, PanelError> {
        match self.presses.recv_timeout(timeout) {
            Ok(button) => Ok(Some(button)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            // Nobody can press any more; behave like an idle panel without spinning.
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }

    fn set_led(&mut self, led: Led, on: bool) -> Result<(), PanelError> {
        let mut lit = self.leds.lit.lock().unwrap_or_else(|p| p.into_inner());
        lit[led.index()] = on;
        self.leds.changed.notify_all();
        Ok(())
    }
}

impl FakeHandle {
    pub fn press(&self, button: Button) {
        // A panel that is gone ignores presses, like an unplugged one.
        let _ = self.presses.send(button);
    }

    pub fn is_lit(&self, led: Led) -> bool {
        self.leds.lit.lock().unwrap_or_else(|p| p.into_inner())[led.index()]
    }

    /// Presses the buttons named on each line of `input` (`go-live`, `mute`, `privacy`) until
    /// it ends: `--virtual --panel-stdin` scripts the panel this way.
    pub fn press_lines(&self, input: impl std::io::BufRead) {
        for line in input.lines() {
            let Ok(line) = line else { return };
            match Button::from_name(line.trim()) {
                Some(button) => self.press(button),
                None if line.trim().is_empty() => {}
                None => tracing::warn!(line = line.trim(), "not a button: go-live, mute or privacy"),
            }
        }
    }

    /// Waits until `led` is `on`, up to `timeout`; returns whether it got there.
    pub fn wait_led(&self, led: Led, on: bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut lit = self.leds.lit.lock().unwrap_or_else(|p| p.into_inner());
        while lit[led.index()] != on {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            lit = self.leds.changed.wait_timeout(lit, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }
}
