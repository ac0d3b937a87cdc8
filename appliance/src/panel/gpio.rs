//! The panel on the Linux GPIO character device (`/dev/gpiochipN`, uAPI v2): works the same on
//! a Raspberry Pi and a Jetson. Buttons are one edge-detecting input request with debounce in
//! the kernel; LEDs are one output request. Polarity (`active_low`) is the kernel's job too, so
//! "active" always means pressed / lit here.

use std::time::Duration;

use gpiocdev::Request;
use gpiocdev::line::{EdgeDetection, Value};

use super::{Button, Led, Panel, PanelError};
use crate::config::PanelPins;

const CONSUMER: &str = "lectern-appliance";
/// Mechanical buttons bounce for a few milliseconds; a human presses for a hundred.
const DEBOUNCE: Duration = Duration::from_millis(30);

pub struct GpioPanel {
    buttons: Option<Request>,
    button_lines: Vec<(u32, Button)>,
    leds: Option<Request>,
    led_lines: [Option<u32>; 3],
}

impl GpioPanel {
    /// Requests the configured lines. Fails naming the chip and the lines' keys, e.g. when the
    /// chip does not exist or another program holds a line.
    pub fn open(pins: &PanelPins) -> Result<Self, PanelError> {
        let keyed = pins.lines();
        let button_lines: Vec<(u32, Button)> = [Button::GoLive, Button::Mute, Button::Privacy]
            .into_iter()
            .zip(&keyed[..3])
            .filter_map(|(button, (_, line))| line.map(|l| (l, button)))
            .collect();
        let led_lines = [pins.live_led, pins.muted_led, pins.fault_led];
        let describe = |keys: &[(&str, Option<u32>)]| {
            keys.iter().filter_map(|(k, l)| l.map(|l| format!("{k}={l}"))).collect::<Vec<_>>().join(", ")
        };
        let error = |keys: &[(&str, Option<u32>)], err: gpiocdev::Error| PanelError::Gpio {
            chip: pins.chip.clone(),
            lines: describe(keys),
            detail: err.to_string(),
        };
        let buttons = if button_lines.is_empty() {
            None
        } else {
            let offsets: Vec<u32> = button_lines.iter().map(|(l, _)| *l).collect();
            let mut builder = Request::builder();
            builder.on_chip(&pins.chip).with_consumer(CONSUMER).with_lines(&offsets).as_input();
            if pins.buttons_active_low {
                builder.as_active_low();
            }
            builder.with_edge_detection(EdgeDetection::RisingEdge).with_debounce_period(DEBOUNCE);
            Some(builder.request().map_err(|e| error(&keyed[..3], e))?)
        };
        let leds = if led_lines.iter().all(Option::is_none) {
            None
        } else {
            let offsets: Vec<u32> = led_lines.iter().flatten().copied().collect();
            let mut builder = Request::builder();
            builder.on_chip(&pins.chip).with_consumer(CONSUMER).with_lines(&offsets).as_output(Value::Inactive);
            if pins.leds_active_low {
                builder.as_active_low();
            }
            Some(builder.request().map_err(|e| error(&keyed[3..], e))?)
        };
        Ok(Self { buttons, button_lines, leds, led_lines })
    }
}

impl Panel for GpioPanel {
    fn kind(&self) -> &'static str {
        "gpio"
    }

    fn next_press(&mut self, timeout: Duration) -> Result<Option<Button>, PanelError> {
        let Some(request) = &self.buttons else {
            // A panel with LEDs only: nothing to wait for but time.
            std::thread::sleep(timeout);
            return Ok(None);
        };
        let gpio_error = |err: gpiocdev::Error| PanelError::Gpio {
            chip: request.chip_path().display().to_string(),
            lines: "panel.buttons".to_owned(),
            detail: err.to_string(),
        };
        if !request.wait_edge_event(timeout).map_err(gpio_error)? {
            return Ok(None);
        }
        let event = request.read_edge_event().map_err(gpio_error)?;
        Ok(self.button_lines.iter().find(|(line, _)| *line == event.offset).map(|(_, b)| *b))
    }

    fn set_led(&mut self, led: Led, on: bool) -> Result<(), PanelError> {
        let (Some(request), Some(line)) = (&self.leds, self.led_lines[led.index()]) else {
            return Ok(());
        };
        let value = if on { Value::Active } else { Value::Inactive };
        request.set_value(line, value).map_err(|err| PanelError::Gpio {
            chip: request.chip_path().display().to_string(),
            lines: format!("LED line {line}"),
            detail: err.to_string(),
        })
    }
}
