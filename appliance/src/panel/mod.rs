//! The front panel: buttons (go live / end, mic mute, camera privacy) in, LEDs (live, muted,
//! fault) out. `Panel` is the hardware seam: `GpioPanel` drives the Linux GPIO character
//! device, `FakePanel` serves `--virtual` and tests. `PanelState` is the meaning of the
//! buttons and LEDs, as plain state; `spawn` runs a panel on its own thread.

mod fake;
#[cfg(all(target_os = "linux", feature = "gpio"))]
mod gpio;

use std::sync::mpsc::{self, Sender, TryRecvError};
use std::time::Duration;

use serde::Serialize;

pub use fake::{FakeHandle, FakePanel};
#[cfg(all(target_os = "linux", feature = "gpio"))]
pub use gpio::GpioPanel;

/// How long the panel thread waits for a press before it looks at LED changes again:
/// short enough that an LED follows the state without a visible lag.
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Button {
    GoLive,
    Mute,
    Privacy,
}

impl Button {
    /// `go-live`, `mute` or `privacy`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "go-live" => Some(Button::GoLive),
            "mute" => Some(Button::Mute),
            "privacy" => Some(Button::Privacy),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Led {
    Live,
    Muted,
    Fault,
}

impl Led {
    pub const ALL: [Led; 3] = [Led::Live, Led::Muted, Led::Fault];

    fn index(self) -> usize {
        match self {
            Led::Live => 0,
            Led::Muted => 1,
            Led::Fault => 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    /// Names the chip and the configuration keys of the lines involved.
    #[error("GPIO {chip}: cannot use {lines}: {detail}")]
    Gpio { chip: String, lines: String, detail: String },
    #[error("the GPIO panel is not built in (feature `gpio`)")]
    Unsupported,
}

/// A set of buttons and LEDs. Implementations block only inside `next_press`.
pub trait Panel: Send {
    /// `gpio` or `fake`, for the status endpoint.
    fn kind(&self) -> &'static str;
    /// Waits up to `timeout` for a button press; `Ok(None)` if none came.
    fn next_press(&mut self, timeout: Duration) -> Result<Option<Button>, PanelError>;
    fn set_led(&mut self, led: Led, on: bool) -> Result<(), PanelError>;
}

/// What a press asks the appliance to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelAction {
    StartLesson,
    EndLesson,
    SetMuted(bool),
    SetPrivacy(bool),
}

/// The panel's meaning: which switches are on and what the LEDs show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PanelState {
    /// A lesson is on (the box should be publishing), whether or not it is connected yet.
    pub lesson: bool,
    /// Connected and sending: the "on air" LED.
    pub on_air: bool,
    pub muted: bool,
    pub privacy: bool,
    /// Something needs attention: not connected while a lesson is on, or a device failed.
    pub fault: bool,
}

impl PanelState {
    pub fn press(&mut self, button: Button) -> PanelAction {
        match button {
            Button::GoLive => {
                self.lesson = !self.lesson;
                if self.lesson { PanelAction::StartLesson } else { PanelAction::EndLesson }
            }
            Button::Mute => {
                self.muted = !self.muted;
                PanelAction::SetMuted(self.muted)
            }
            Button::Privacy => {
                self.privacy = !self.privacy;
                PanelAction::SetPrivacy(self.privacy)
            }
        }
    }

    pub fn leds(&self) -> [(Led, bool); 3] {
        [(Led::Live, self.on_air), (Led::Muted, self.muted), (Led::Fault, self.fault)]
    }
}

/// Sets LEDs on a running panel thread. Dropping it stops the thread.
pub struct PanelHandle {
    leds: Sender<(Led, bool)>,
}

impl PanelHandle {
    pub fn set_led(&self, led: Led, on: bool) {
        // A stopped panel thread has already logged why.
        let _ = self.leds.send((led, on));
    }
}

/// Runs `panel` on its own thread: presses go to `on_press` (which returns false once nobody
/// listens any more), LED changes come through the returned handle.
pub fn spawn(
    mut panel: Box<dyn Panel>,
    on_press: impl Fn(Button) -> bool + Send + 'static,
) -> std::io::Result<PanelHandle> {
    let (leds, leds_rx) = mpsc::channel::<(Led, bool)>();
    std::thread::Builder::new().name("panel".to_owned()).spawn(move || {
        let mut led_failed = false;
        loop {
            loop {
                match leds_rx.try_recv() {
                    Ok((led, on)) => {
                        if let Err(err) = panel.set_led(led, on)
                            && !std::mem::replace(&mut led_failed, true)
                        {
                            tracing::error!(%err, "panel LED failed");
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            match panel.next_press(POLL) {
                Ok(Some(button)) => {
                    tracing::info!(?button, "panel button pressed");
                    if !on_press(button) {
                        return;
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(%err, "panel buttons failed; the panel is ignored from now on");
                    return;
                }
            }
        }
    })?;
    Ok(PanelHandle { leds })
}

#[cfg(test)]
mod tests;
