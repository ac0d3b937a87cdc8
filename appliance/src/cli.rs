//! Command line and environment. Scripts depend on these flags: change them only on purpose.

use clap::{Parser, ValueEnum};
use lectern_proto::RoomId;

use crate::media::{MediaSettings, Source, TestPattern, VideoSettings};
use crate::whip::Token;

#[derive(Debug, Parser)]
#[command(
    name = "lectern-appliance",
    version,
    about = "Publishes a classroom's camera and microphone to a Lectern hub"
)]
pub struct Cli {
    /// Use test sources (videotestsrc/audiotestsrc) instead of a camera and microphone.
    #[arg(long = "virtual")]
    pub use_virtual: bool,
    /// Hub base URL, e.g. http://hub.example:8080
    #[arg(long, env = "LECTERN_HUB")]
    pub hub: String,
    /// Room to publish into.
    #[arg(long, env = "LECTERN_ROOM", value_parser = parse_room)]
    pub room: RoomId,
    /// Device token (`lectern-hub token --role device`). Prefer the environment: arguments show in `ps`.
    #[arg(long, env = "LECTERN_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub token: Token,
    /// V4L2 camera device.
    #[arg(long, default_value = "/dev/video0")]
    pub camera: String,
    /// ALSA capture device (default: ALSA's default).
    #[arg(long)]
    pub mic: Option<String>,
    /// Test pattern in --virtual mode.
    #[arg(long, value_enum, default_value_t = PatternArg::Smpte)]
    pub pattern: PatternArg,
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    #[arg(long, default_value_t = 30)]
    pub framerate: u32,
    /// Video bitrate in kbit/s.
    #[arg(long, default_value_t = 1500)]
    pub bitrate: u32,
    /// H.264 encoder element.
    #[arg(long, default_value = "x264enc")]
    pub encoder: String,
    /// Local address to gather ICE candidates on (repeatable). Default: every interface, plus
    /// loopback when the hub is on this machine (libnice skips loopback on its own).
    #[arg(long = "ice-address")]
    pub ice_addresses: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatternArg {
    Smpte,
    Ball,
}

impl Cli {
    pub fn media_settings(&self) -> MediaSettings {
        let source = if self.use_virtual {
            let pattern = match self.pattern {
                PatternArg::Smpte => TestPattern::Smpte,
                PatternArg::Ball => TestPattern::Ball,
            };
            Source::Virtual { pattern }
        } else {
            Source::Capture { camera: self.camera.clone(), mic: self.mic.clone() }
        };
        let video = VideoSettings {
            width: self.width,
            height: self.height,
            framerate: self.framerate,
            bitrate_kbps: self.bitrate,
            encoder: self.encoder.clone(),
        };
        let mut ice_addresses = self.ice_addresses.clone();
        if ice_addresses.is_empty() && hub_is_loopback(&self.hub) {
            ice_addresses.push(std::net::IpAddr::from([127, 0, 0, 1]));
        }
        MediaSettings { source, video, ice_addresses }
    }
}

/// Whether the hub URL names this machine's loopback (`localhost`, `127.x`, `[::1]`).
fn hub_is_loopback(hub: &str) -> bool {
    let rest = hub.split_once("://").map_or(hub, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_room(s: &str) -> Result<RoomId, String> {
    RoomId::parse(s).map_err(|e| e.to_string())
}

/// Never fails: clap would echo a rejected value, and the token is a secret even when
/// malformed. `WhipClient::new` checks it instead.
fn parse_token(s: &str) -> Result<Token, std::convert::Infallible> {
    Ok(Token::new(s.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_flags_parse() {
        let cli = Cli::try_parse_from([
            "lectern-appliance",
            "--virtual",
            "--hub",
            "http://127.0.0.1:1",
            "--room",
            "demo",
            "--token",
            "abc",
        ])
        .unwrap();
        assert!(cli.use_virtual);
        assert_eq!(cli.room.as_str(), "demo");
        assert!(matches!(cli.media_settings().source, Source::Virtual { .. }));
    }

    #[test]
    fn without_virtual_captures_from_the_camera() {
        let cli = Cli::try_parse_from([
            "lectern-appliance",
            "--hub",
            "http://h",
            "--room",
            "r",
            "--token",
            "t",
            "--camera",
            "/dev/video2",
        ])
        .unwrap();
        assert_eq!(cli.media_settings().source, Source::Capture { camera: "/dev/video2".into(), mic: None });
    }

    #[test]
    fn loopback_hub_is_recognised() {
        assert!(hub_is_loopback("http://127.0.0.1:8080"));
        assert!(hub_is_loopback("http://localhost:8080/x"));
        assert!(hub_is_loopback("http://[::1]:80"));
        assert!(!hub_is_loopback("https://hub.school.example"));
        assert!(!hub_is_loopback("http://192.0.2.7:8080"));
    }

    #[test]
    fn bad_room_is_rejected() {
        let bad_room = Cli::try_parse_from(["x", "--hub", "http://h", "--room", "../etc", "--token", "t"]);
        assert!(bad_room.is_err());
    }
}
