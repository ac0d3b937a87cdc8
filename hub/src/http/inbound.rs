//! What a browser sends on `/rtc`: signaling ([`ClientMsg`]) and classroom commands
//! ([`ClassroomCommand`]) share one socket and one `type` field. A message is parsed once; its
//! `type` picks the enum by the names [`ClientMsg`]'s own `Deserialize` accepts, so no list of
//! names is kept by hand.

use std::sync::OnceLock;

use lectern_proto::board::BoardCommand;
use lectern_proto::breakout::BreakoutCommand;
use lectern_proto::classroom::ClassroomCommand;
use lectern_proto::signal::ClientMsg;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer};

/// One message from a browser after `join`.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Signal(ClientMsg),
    Classroom(ClassroomCommand),
}

impl<'de> Deserialize<'de> for Inbound {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        // A message without a string `type` is refused in ClientMsg's words, as before the split.
        let tag = value.get("type").and_then(serde_json::Value::as_str);
        let classroom = tag.is_some_and(|t| !signal_types().contains(&t));
        let parsed = if tag.is_some_and(|t| board_types().contains(&t)) {
            BoardCommand::deserialize(value).map(|c| Self::Classroom(ClassroomCommand::Board(c)))
        } else if tag.is_some_and(|t| breakout_types().contains(&t)) {
            BreakoutCommand::deserialize(value).map(|c| Self::Classroom(ClassroomCommand::Breakout(c)))
        } else if classroom {
            ClassroomCommand::deserialize(value).map(Self::Classroom)
        } else {
            ClientMsg::deserialize(value).map(Self::Signal)
        };
        parsed.map_err(de::Error::custom)
    }
}

/// The `type` values of [`ClientMsg`].
pub fn signal_types() -> &'static [&'static str] {
    static NAMES: OnceLock<&'static [&'static str]> = OnceLock::new();
    NAMES.get_or_init(tag_names::<ClientMsg>)
}

/// The `type` values of [`BoardCommand`] (routed as [`ClassroomCommand::Board`]).
pub fn board_types() -> &'static [&'static str] {
    static NAMES: OnceLock<&'static [&'static str]> = OnceLock::new();
    NAMES.get_or_init(tag_names::<BoardCommand>)
}

/// The `type` values of [`BreakoutCommand`] (routed as [`ClassroomCommand::Breakout`]).
pub fn breakout_types() -> &'static [&'static str] {
    static NAMES: OnceLock<&'static [&'static str]> = OnceLock::new();
    NAMES.get_or_init(tag_names::<BreakoutCommand>)
}

/// The tags an internally tagged enum accepts, as its derived `Deserialize` lists them when it
/// refuses an unknown one.
pub fn tag_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let probe = de::value::MapDeserializer::<_, NamesOf>::new(std::iter::once(("type", "\u{0}")));
    match T::deserialize(probe) {
        Err(NamesOf(Some(names))) => names,
        _ => &[],
    }
}

/// A deserializer error that keeps the list of expected variants and nothing else.
#[derive(Debug)]
struct NamesOf(Option<&'static [&'static str]>);

impl de::Error for NamesOf {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Self(None)
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        Self(Some(expected))
    }
}

impl std::fmt::Display for NamesOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected one of {:?}", self.0.unwrap_or_default())
    }
}

impl std::error::Error for NamesOf {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_types_come_from_client_msg() {
        assert_eq!(
            signal_types(),
            ["join", "publishOffer", "subscribeAnswer", "trickle", "restartIce", "setMuted", "setAudioOnly", "leave"]
        );
    }

    #[test]
    fn no_type_is_both_a_signal_and_a_classroom_command() {
        let classroom = tag_names::<ClassroomCommand>();
        assert!(classroom.contains(&"raiseHand"), "{classroom:?}");
        assert!(signal_types().iter().all(|t| !classroom.contains(t)));
        let board = board_types();
        assert!(board.contains(&"boardUpdate"), "{board:?}");
        assert!(board.iter().all(|t| !classroom.contains(t) && !signal_types().contains(t)));
        let breakout = breakout_types();
        assert!(breakout.contains(&"createBreakouts"), "{breakout:?}");
        assert!(breakout.iter().all(|t| !classroom.contains(t) && !signal_types().contains(t) && !board.contains(t)));
    }

    #[test]
    fn each_message_lands_in_its_enum() {
        let parse = |s: &str| serde_json::from_str::<Inbound>(s);
        assert_eq!(parse(r#"{"type":"leave"}"#).expect("a signal"), Inbound::Signal(ClientMsg::Leave));
        assert_eq!(
            parse(r#"{"type":"raiseHand"}"#).expect("a command"),
            Inbound::Classroom(ClassroomCommand::RaiseHand)
        );
        assert_eq!(
            parse(r#"{"type":"setNotesReadOnly","readOnly":true}"#).expect("a board command"),
            Inbound::Classroom(ClassroomCommand::Board(BoardCommand::SetNotesReadOnly { read_only: true }))
        );
        assert_eq!(
            parse(r#"{"type":"startBreakouts"}"#).expect("a breakout command"),
            Inbound::Classroom(ClassroomCommand::Breakout(BreakoutCommand::StartBreakouts))
        );
        let err = parse(r#"{"type":"boardUpdate","doc":"board"}"#).expect_err("refused").to_string();
        assert!(err.contains("missing field `update`"), "{err}");
    }

    #[test]
    fn refusals_name_what_was_wrong() {
        let err = |s: &str| serde_json::from_str::<Inbound>(s).expect_err("refused").to_string();
        assert!(err(r#"{"type":"publishOffer"}"#).contains("missing field `sdp`"));
        assert!(err(r#"{"type":"dance"}"#).contains("unknown variant `dance`"));
        assert!(err(r#"{"sdp":"x"}"#).contains("missing field `type`"));
        assert!(err("not json").contains("expected"));
    }
}
