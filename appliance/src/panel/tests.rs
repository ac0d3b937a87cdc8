use std::sync::mpsc;
use std::time::Duration;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn buttons_toggle_lesson_mute_and_privacy() {
    let mut state = PanelState::default();
    assert_eq!(state.press(Button::GoLive), PanelAction::StartLesson);
    assert_eq!(state.press(Button::Mute), PanelAction::SetMuted(true));
    assert_eq!(state.press(Button::Privacy), PanelAction::SetPrivacy(true));
    assert_eq!(state.press(Button::Mute), PanelAction::SetMuted(false));
    assert_eq!(state.press(Button::GoLive), PanelAction::EndLesson);
    assert!(!state.lesson && !state.muted && state.privacy);
}

#[test]
fn leds_show_on_air_muted_and_fault() {
    let state = PanelState { on_air: true, muted: true, fault: false, ..PanelState::default() };
    assert_eq!(state.leds(), [(Led::Live, true), (Led::Muted, true), (Led::Fault, false)]);
}

#[test]
fn fake_panel_delivers_scripted_presses_and_shows_leds() {
    let (panel, fake) = FakePanel::new();
    let (tx, rx) = mpsc::channel();
    let handle = spawn(Box::new(panel), move |b| tx.send(b).is_ok()).expect("panel thread");
    fake.press(Button::Mute);
    fake.press(Button::GoLive);
    assert_eq!(rx.recv_timeout(WAIT), Ok(Button::Mute));
    assert_eq!(rx.recv_timeout(WAIT), Ok(Button::GoLive));

    handle.set_led(Led::Fault, true);
    assert!(fake.wait_led(Led::Fault, true, WAIT), "fault LED lit");
    handle.set_led(Led::Fault, false);
    assert!(fake.wait_led(Led::Fault, false, WAIT), "fault LED off again");
    assert!(!fake.is_lit(Led::Live));
}

#[cfg(all(target_os = "linux", feature = "gpio"))]
#[test]
fn gpio_panel_on_a_missing_chip_names_the_chip_and_lines() {
    let pins = crate::config::PanelPins {
        chip: "/dev/gpiochip-lectern-test".into(),
        go_live: Some(17),
        mute: Some(27),
        privacy: None,
        buttons_active_low: true,
        live_led: Some(5),
        muted_led: None,
        fault_led: None,
        leds_active_low: false,
    };
    let err = GpioPanel::open(&pins).err().expect("no such chip here");
    let text = err.to_string();
    assert!(text.contains("/dev/gpiochip-lectern-test"), "{text}");
    assert!(text.contains("panel.buttons.go_live=17") && text.contains("panel.buttons.mute=27"), "{text}");
}

#[test]
fn fake_panel_presses_buttons_named_on_input_lines() {
    let (mut panel, fake) = FakePanel::new();
    fake.press_lines(std::io::Cursor::new("mute\nbogus\n\n privacy \ngo-live\n"));
    let mut pressed = Vec::new();
    while let Ok(Some(button)) = panel.next_press(Duration::ZERO) {
        pressed.push(button);
    }
    assert_eq!(pressed, [Button::Mute, Button::Privacy, Button::GoLive]);
}
