//! Command line and environment. Scripts depend on these flags: change them only on purpose.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lectern_proto::RoomId;

use crate::config::{ConfigPaths, Overrides, Settings};
use crate::media::{
    AudioProcessing, Controls, MediaSettings, PlaybackOutput, PlaybackSettings, SimulcastLayer, Source, TestPattern,
    VideoSettings,
};
use crate::whip::Token;

#[derive(Debug, Parser)]
#[command(
    name = "lectern-appliance",
    version,
    about = "Publishes a classroom's camera and microphone to a Lectern hub"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this machine's cameras, microphones, speakers and H.264 encoders as JSON.
    Probe(ProbeArgs),
}

#[derive(Debug, Args, Default)]
pub struct ProbeArgs {
    /// Instead of the JSON: check that every GStreamer element a box needs is installed, print
    /// each missing one with its package, and exit non-zero if any is missing.
    #[arg(long)]
    pub check: bool,
    /// With --check: a virtual box (test sources, no room screen or speakers).
    #[arg(long = "virtual", requires = "check")]
    pub virtual_sources: bool,
    /// With --check: a real box without a room screen or speakers.
    #[arg(long, requires = "check")]
    pub headless: bool,
    /// Instead of the JSON: print the packages that ship every element any box needs, one a
    /// line (what install scripts and package dependencies must cover).
    #[arg(long, value_enum, conflicts_with = "check")]
    pub packages: Option<Distro>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Distro {
    Debian,
    Yocto,
}

impl ProbeArgs {
    pub fn mode(&self) -> crate::media::catalog::Mode {
        crate::media::catalog::Mode { virtual_sources: self.virtual_sources, headless: self.headless }
    }
}

/// Running the appliance (no subcommand). Flags win over the configuration files.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Use test sources (videotestsrc/audiotestsrc) and the fake panel instead of real devices.
    #[arg(long = "virtual")]
    pub use_virtual: bool,
    /// Hub base URL, e.g. http://hub.example:8080 [config: hub.url]
    #[arg(long, env = "LECTERN_HUB")]
    pub hub: Option<String>,
    /// Room to publish into [config: hub.room]
    #[arg(long, env = "LECTERN_ROOM", value_parser = parse_room)]
    pub room: Option<RoomId>,
    /// Device token (`lectern-hub token --role device`). Prefer the environment or
    /// hub.token_file: arguments show in `ps`.
    #[arg(long, env = "LECTERN_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub token: Option<Token>,
    /// Configuration directory: appliance.toml and config.d/*.toml.
    #[arg(long = "config", value_name = "DIR", env = "LECTERN_CONFIG_DIR", default_value = "/etc/lectern")]
    pub config_dir: PathBuf,
    /// Vendor defaults directory, read before --config.
    #[arg(long, value_name = "DIR", env = "LECTERN_VENDOR_CONFIG_DIR", default_value = "/usr/lib/lectern")]
    pub vendor_config_dir: PathBuf,
    /// Writable state directory (keeps the last good configuration).
    #[arg(long, value_name = "DIR", env = "LECTERN_STATE_DIR", default_value = "/var/lib/lectern")]
    pub state_dir: PathBuf,
    /// V4L2 camera device path or name [config: camera.device, default /dev/video0]
    #[arg(long)]
    pub camera: Option<String>,
    /// The laptop's HDMI capture, sent as a second `content` track; with --virtual any value
    /// sends a test picture [config: content.device, default: none]
    #[arg(long)]
    pub content: Option<String>,
    /// ALSA capture device [config: audio.mic, default: ALSA's default]
    #[arg(long)]
    pub mic: Option<String>,
    /// Test pattern in --virtual mode.
    #[arg(long, value_enum, default_value_t = PatternArg::Smpte)]
    pub pattern: PatternArg,
    /// [config: video.width, default 1280]
    #[arg(long)]
    pub width: Option<u32>,
    /// [config: video.height, default 720]
    #[arg(long)]
    pub height: Option<u32>,
    /// [config: video.framerate, default 30]
    #[arg(long)]
    pub framerate: Option<u32>,
    /// Video bitrate in kbit/s [config: video.bitrate_kbps, default 1500]
    #[arg(long)]
    pub bitrate: Option<u32>,
    /// Use this H.264 encoder instead of the ladder [config: video.encoders]
    #[arg(long)]
    pub encoder: Option<String>,
    /// Local address to gather ICE candidates on (repeatable). Default: every interface, plus
    /// loopback when the hub is on this machine (libnice skips loopback on its own).
    #[arg(long = "ice-address")]
    pub ice_addresses: Vec<IpAddr>,
    /// With --virtual: press the fake panel's buttons by writing their names to standard input,
    /// one per line (go-live, mute, privacy).
    #[arg(long, requires = "use_virtual")]
    pub panel_stdin: bool,
    /// Status endpoint address, e.g. 127.0.0.1:8090 [config: status.listen]
    #[arg(long, value_name = "ADDR")]
    pub status_listen: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatternArg {
    Smpte,
    Ball,
}

impl RunArgs {
    pub fn config_paths(&self) -> ConfigPaths {
        ConfigPaths {
            vendor_dir: self.vendor_config_dir.clone(),
            admin_dir: self.config_dir.clone(),
            state_dir: self.state_dir.clone(),
        }
    }

    pub fn overrides(&self) -> Overrides {
        Overrides {
            hub: self.hub.clone(),
            room: self.room.clone(),
            token: self.token.clone(),
            camera: self.camera.clone(),
            content: self.content.clone(),
            mic: self.mic.clone(),
            width: self.width,
            height: self.height,
            framerate: self.framerate,
            bitrate_kbps: self.bitrate,
            encoder: self.encoder.clone(),
            status_listen: self.status_listen.clone(),
        }
    }

    /// What the pipeline builder needs, with `encoder` (the ladder's pick) and `camera` (the
    /// resolved device path). A content capture is resolved and probed here.
    pub fn media_settings(&self, settings: &Settings, camera: &str, encoder: &str) -> MediaSettings {
        let source = if self.use_virtual {
            let pattern = match self.pattern {
                PatternArg::Smpte => TestPattern::Smpte,
                PatternArg::Ball => TestPattern::Ball,
            };
            Source::Virtual { pattern }
        } else {
            Source::Capture { camera: camera.to_owned(), mic: settings.audio.mic.clone() }
        };
        let v = &settings.video;
        let video = VideoSettings {
            width: v.width,
            height: v.height,
            framerate: v.framerate,
            bitrate_kbps: v.bitrate_kbps,
            keyframe_interval_s: v.keyframe_interval_s,
            encoder: encoder.to_owned(),
            simulcast: v
                .simulcast
                .iter()
                .map(|l| SimulcastLayer { width: l.width, height: l.height, bitrate_kbps: l.bitrate_kbps })
                .collect(),
            min_bitrate_kbps: v.adapt_bitrate.then_some(v.min_bitrate_kbps),
        };
        let a = &settings.audio;
        let audio = AudioProcessing { aec: a.aec, ns: a.ns, agc: a.agc };
        let mut ice_addresses = self.ice_addresses.clone();
        if ice_addresses.is_empty() && hub_is_loopback(&settings.hub.url) {
            ice_addresses.push(IpAddr::from([127, 0, 0, 1]));
        }
        let content = settings
            .content
            .as_ref()
            .map(|c| crate::content::content_settings(c, v.keyframe_interval_s, encoder, !self.use_virtual));
        MediaSettings { source, video, audio, controls: Controls::default(), content, ice_addresses }
    }

    /// Where the return feed plays: the configured speaker and the display, or nowhere
    /// (measured only) with `--virtual`. ICE uses the same addresses as publishing.
    pub fn playback_settings(&self, settings: &Settings, media: &MediaSettings) -> PlaybackSettings {
        let output = if self.use_virtual {
            PlaybackOutput::Headless
        } else {
            PlaybackOutput::Devices { speaker: settings.audio.speaker.clone() }
        };
        PlaybackSettings { output, ice_addresses: media.ice_addresses.clone() }
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

    fn settings(cli: &Cli) -> Settings {
        crate::config::validate(&crate::config::Fragment::default(), &cli.run.overrides()).expect("valid")
    }

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
        assert!(cli.run.use_virtual && cli.command.is_none());
        assert_eq!(cli.run.room.as_ref().map(RoomId::as_str), Some("demo"));
        let media = cli.run.media_settings(&settings(&cli), "/dev/video0", "x264enc");
        assert!(matches!(media.source, Source::Virtual { .. }));
        assert_eq!(media.ice_addresses, [IpAddr::from([127, 0, 0, 1])]);
        assert_eq!((media.video.width, media.video.framerate, media.video.bitrate_kbps), (1280, 30, 1500));
        let playback = cli.run.playback_settings(&settings(&cli), &media);
        assert_eq!(playback.output, PlaybackOutput::Headless, "virtual boxes play the return feed nowhere");
        assert_eq!(playback.ice_addresses, media.ice_addresses);
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
        let settings = settings(&cli);
        assert_eq!(settings.camera, "/dev/video2");
        let media = cli.run.media_settings(&settings, &settings.camera, "x264enc");
        assert_eq!(media.source, Source::Capture { camera: "/dev/video2".into(), mic: None });
        let playback = cli.run.playback_settings(&settings, &media);
        assert_eq!(playback.output, PlaybackOutput::Devices { speaker: None });
    }

    #[test]
    fn probe_needs_no_hub() {
        let cli = Cli::try_parse_from(["lectern-appliance", "probe"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Probe(ProbeArgs { check: false, .. }))));
        let cli = Cli::try_parse_from(["lectern-appliance", "probe", "--check", "--virtual"]).unwrap();
        let Some(Command::Probe(args)) = cli.command else { panic!("probe") };
        assert!(args.mode().virtual_sources && !args.mode().headless);
        assert!(Cli::try_parse_from(["lectern-appliance", "probe", "--virtual"]).is_err(), "--virtual needs --check");
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
