//! The control channel's pure parts: where to connect, what a hub message asks for, how long to
//! wait before reconnecting, and what the room's display shows for raised hands.

use std::time::Duration;

use lectern_common::backoff::Backoff;
use lectern_proto::device::HubMsg;
use rand::Rng;

/// First reconnect delay (before jitter); doubles per failure up to `MAX_BACKOFF`, as the media
/// path does, so a restarted hub is not met by every box at once.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(7);
/// Names shown on the room's display; the rest are counted, so a long queue stays one line.
const MAX_HANDS_SHOWN: usize = 4;
const MAX_NAME_CHARS: usize = 32;

/// What the hub asks of the rest of the appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A lesson starts: open the camera and publish.
    GoLive,
    /// The lesson is over: stop publishing, close the camera.
    End,
    /// Raised hands, in order (empty: none).
    Hands(Vec<String>),
    /// Waiting in the lobby (empty: none).
    Lobby(Vec<String>),
    /// Start (`on`) or stop recording lesson `lesson` (see `record`).
    Record { lesson: lectern_proto::LessonId, on: bool },
}

/// One message from the hub, sorted by who handles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Command(Command),
    /// Handled on the control thread: validate, write, answer `configResult`.
    ApplyConfig {
        version: u64,
        config: String,
    },
    /// Handled on the control thread: answer with a picture of the camera, if it is open.
    Snapshot,
    /// The hub refused something we sent.
    HubError(String),
    /// Run this release (handled by the update agent, `crate::update`).
    Update(lectern_proto::update::UpdateOffer),
    /// An admin moved this box to another room: keep the new credential and reconnect with it
    /// (handled on the control thread).
    Moved {
        token: String,
        from: lectern_proto::RoomId,
        room: lectern_proto::RoomId,
        device_id: String,
        name: String,
    },
    /// A message type this version does not know (a newer hub), or a malformed one: `detail` says which.
    Ignored {
        detail: String,
    },
}

pub fn parse(text: &str) -> Incoming {
    match serde_json::from_str::<HubMsg>(text) {
        Ok(HubMsg::GoLive) => Incoming::Command(Command::GoLive),
        Ok(HubMsg::End) => Incoming::Command(Command::End),
        Ok(HubMsg::Hands { names }) => Incoming::Command(Command::Hands(names)),
        Ok(HubMsg::Lobby { names }) => Incoming::Command(Command::Lobby(names)),
        Ok(HubMsg::Record { lesson, on }) => Incoming::Command(Command::Record { lesson, on }),
        Ok(HubMsg::ApplyConfig { version, config }) => Incoming::ApplyConfig { version, config },
        Ok(HubMsg::Error { message }) => Incoming::HubError(message),
        Ok(HubMsg::Snapshot) => Incoming::Snapshot,
        Ok(HubMsg::Update(offer)) => Incoming::Update(offer),
        Ok(HubMsg::Moved { token, from, room, device_id, name }) => {
            Incoming::Moved { token, from, room, device_id, name }
        }
        // Enrollment messages belong to the token-less socket (`enroll`), not this one.
        Ok(HubMsg::ClaimCode { .. } | HubMsg::Enrolled { .. }) => {
            Incoming::Ignored { detail: "an enrollment message on an enrolled box's channel".to_owned() }
        }
        Err(err) => {
            // Name the type when there is one: a newer hub's message is expected, not an error.
            let kind = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
            let detail = match kind {
                Some(kind) => format!("type '{kind}': {err}"),
                None => format!("not a hub message: {err}"),
            };
            Incoming::Ignored { detail }
        }
    }
}

/// `http(s)://host[:port][/prefix]` → `ws(s)://host[:port][/prefix]/device/ws`.
pub fn control_url(hub: &str) -> Result<String, String> {
    let (scheme, rest) = if let Some(rest) = hub.strip_prefix("http://") {
        ("ws", rest)
    } else if let Some(rest) = hub.strip_prefix("https://") {
        ("wss", rest)
    } else {
        return Err(format!("hub.url '{hub}' is not an http:// or https:// URL"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("hub.url '{hub}' has no host"));
    }
    Ok(format!("{scheme}://{}/device/ws", rest.trim_end_matches('/')))
}

/// The control channel's reconnect backoff: `lectern_common`'s, with this channel's delays.
pub fn backoff<R: Rng>(rng: R) -> Backoff<R> {
    Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF, rng)
}

/// The overlay line on the room's display: `Hands up: Ada, Bob`, or empty when no hand is up.
/// Words, not pictographs: a box's Pango has no emoji font and draws an empty box.
pub fn hands_text(names: &[String]) -> String {
    names_line("Hands up:", names)
}

/// The lobby line on the room's display: `Waiting: Ada`, or empty when nobody waits.
pub fn lobby_text(names: &[String]) -> String {
    names_line("Waiting:", names)
}

fn names_line(prefix: &str, names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = names
        .iter()
        .take(MAX_HANDS_SHOWN)
        // Control characters would break the line; a name is a name, not layout.
        .map(|n| n.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect::<String>())
        .collect();
    let mut text = format!("{prefix} {}", shown.join(", "));
    if names.len() > MAX_HANDS_SHOWN {
        text.push_str(&format!(" +{}", names.len() - MAX_HANDS_SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn hub_commands_map_to_appliance_commands() {
        assert_eq!(parse(r#"{"type":"goLive"}"#), Incoming::Command(Command::GoLive));
        assert_eq!(parse(r#"{"type":"end"}"#), Incoming::Command(Command::End));
        assert_eq!(
            parse(r#"{"type":"hands","names":["Ada","Bob"]}"#),
            Incoming::Command(Command::Hands(vec!["Ada".into(), "Bob".into()]))
        );
        assert_eq!(
            parse(r#"{"type":"applyConfig","version":3,"config":"[video]\nframerate = 25\n"}"#),
            Incoming::ApplyConfig { version: 3, config: "[video]\nframerate = 25\n".into() }
        );
        assert_eq!(parse(r#"{"type":"error","message":"no"}"#), Incoming::HubError("no".into()));
        let lesson = lectern_proto::LessonId::parse("lab.1700000000000").unwrap();
        assert_eq!(
            parse(r#"{"type":"record","lesson":"lab.1700000000000","on":true}"#),
            Incoming::Command(Command::Record { lesson, on: true })
        );
        assert!(matches!(parse(r#"{"type":"record","lesson":"../etc","on":true}"#), Incoming::Ignored { .. }));
    }

    #[test]
    fn a_move_carries_the_new_credential() {
        let Incoming::Moved { token, from, room, device_id, name } = parse(
            r#"{"type":"moved","token":"t.o.k","from":"lab-1","room":"lab-2","deviceId":"box-1","name":"Lab box"}"#,
        ) else {
            panic!("not a move")
        };
        assert_eq!(
            (token.as_str(), from.as_str(), room.as_str(), device_id.as_str(), name.as_str()),
            ("t.o.k", "lab-1", "lab-2", "box-1", "Lab box")
        );
        assert!(matches!(parse(r#"{"type":"moved","token":"t","from":"lab-1"}"#), Incoming::Ignored { .. }));
    }

    #[test]
    fn unknown_and_malformed_messages_are_ignored_with_a_reason() {
        let Incoming::Ignored { detail } = parse(r#"{"type":"reboot"}"#) else { panic!("not ignored") };
        assert!(detail.starts_with("type 'reboot'"), "{detail}");
        let Incoming::Ignored { detail } = parse("[1,2") else { panic!("not ignored") };
        assert!(detail.starts_with("not a hub message"), "{detail}");
        assert!(matches!(parse(r#"{"type":"applyConfig"}"#), Incoming::Ignored { .. }));
    }

    #[test]
    fn control_url_follows_the_hub_url() {
        assert_eq!(control_url("http://127.0.0.1:8080").unwrap(), "ws://127.0.0.1:8080/device/ws");
        assert_eq!(control_url("https://hub.example/lectern/").unwrap(), "wss://hub.example/lectern/device/ws");
        assert!(control_url("ftp://hub").is_err());
        assert!(control_url("http:///x").is_err());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut backoff = backoff(StdRng::seed_from_u64(7));
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        for (n, d) in delays.iter().enumerate() {
            let ceiling = INITIAL_BACKOFF.saturating_mul(1 << n).min(MAX_BACKOFF);
            assert!(*d >= ceiling / 2 && *d <= ceiling, "attempt {n}: {d:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
        }
        assert!(delays.iter().all(|d| *d <= MAX_BACKOFF));
        backoff.reset();
        assert!(backoff.next_delay() <= INITIAL_BACKOFF);
        assert!(backoff.longest() >= MAX_BACKOFF / 2);
    }

    #[test]
    fn raised_hands_read_as_one_short_line() {
        assert_eq!(hands_text(&[]), "");
        assert_eq!(hands_text(&["Ada".into(), "Bob".into()]), "Hands up: Ada, Bob");
        let many: Vec<String> = ["A", "B", "C", "D", "E", "F"].map(String::from).to_vec();
        assert_eq!(hands_text(&many), "Hands up: A, B, C, D +2");
        assert_eq!(hands_text(&["Ev\u{7}e\n".into()]), "Hands up: Eve");
        assert_eq!(lobby_text(&["Marie".into()]), "Waiting: Marie");
        assert_eq!(
            parse(r#"{"type":"lobby","names":["Marie"]}"#),
            Incoming::Command(Command::Lobby(vec!["Marie".into()]))
        );
    }
}
