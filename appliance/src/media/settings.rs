//! What the pipeline captures and how it encodes it. Plain data, validated by `build_pipeline`.

/// Where pictures and sound come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `videotestsrc` + `audiotestsrc`: demos, tests and laptops without a camera.
    Virtual { pattern: TestPattern },
    /// A V4L2 camera and an ALSA microphone (`None` = ALSA's default device).
    Capture { camera: String, mic: Option<String> },
    /// Test pictures and a simulated room for echo tests: the "microphone" hears only what a
    /// return feed with `PlaybackOutput::EchoRoom` of the same `channel` plays, as a real
    /// microphone hears the speaker (see `EchoProbe`'s module).
    EchoRoom { pattern: TestPattern, channel: String },
}

impl Source {
    /// Whether the microphone hears a room (real or simulated), where webrtcdsp has work to
    /// do. A sine test tone has nothing to clean.
    pub fn hears_a_room(&self) -> bool {
        !matches!(self, Source::Virtual { .. })
    }
}

/// The `videotestsrc` pattern shown in virtual mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestPattern {
    #[default]
    Smpte,
    /// Moves, so a frozen picture is easy to spot in a browser.
    Ball,
}

impl TestPattern {
    /// The `videotestsrc` `pattern` property's nick.
    pub fn nick(self) -> &'static str {
        match self {
            TestPattern::Smpte => "smpte",
            TestPattern::Ball => "ball",
        }
    }
}

/// Raw video format fed to the encoder and the encoder's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    /// Target bitrate in kbit/s.
    pub bitrate_kbps: u32,
    pub keyframe_interval_s: u32,
    /// GStreamer factory name of the H.264 encoder, normally `choose_encoder`'s pick. The ladder's
    /// encoders are tuned (`encoder::configure`); others run on their defaults.
    pub encoder: String,
    /// Smaller copies of the picture sent beside it on the same m-line (see `simulcast`); empty
    /// publishes one stream.
    pub simulcast: Vec<SimulcastLayer>,
    /// `Some(floor)`: the main picture's bitrate follows the uplink between `floor` and
    /// `bitrate_kbps` (see `crate::uplink`); `None` keeps it fixed.
    pub min_bitrate_kbps: Option<u32>,
}

/// One lower simulcast layer: its size and its encoder's bitrate. Frame rate and keyframe
/// interval are the main picture's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulcastLayer {
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            framerate: 30,
            bitrate_kbps: 1500,
            keyframe_interval_s: 2,
            encoder: "x264enc".to_owned(),
            simulcast: Vec::new(),
            min_bitrate_kbps: None,
        }
    }
}

/// The second video track: the teacher's laptop (an HDMI-to-USB capture), sent as slides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSettings {
    /// The capture's V4L2 device path; unused for virtual sources, which send a test picture.
    pub device: String,
    /// Its own size, rate and bitrate; the encoder is the camera's.
    pub video: VideoSettings,
    /// The capture mode chosen from its probed formats (never its own H.264); `None` negotiates
    /// raw video, as for a capture plugged in after start-up.
    pub mode: Option<super::CameraMode>,
}

/// webrtcdsp on the microphone. Off for test sources: a sine tone has nothing to clean.
/// Echo cancellation also needs an `EchoProbe` (`PipelineOptions::echo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioProcessing {
    /// Echo cancellation against what the return feed plays through the `EchoProbe`.
    pub aec: bool,
    pub ns: bool,
    pub agc: bool,
}

impl AudioProcessing {
    pub fn any(self) -> bool {
        self.aec || self.ns || self.agc
    }
}

/// The panel's switches, applied when a pipeline is built and changeable while it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Controls {
    /// Microphone muted: silence is sent.
    pub muted: bool,
    /// Camera privacy: black frames are sent.
    pub privacy: bool,
}

/// Everything `build_pipeline` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSettings {
    pub source: Source,
    pub video: VideoSettings,
    pub audio: AudioProcessing,
    pub controls: Controls,
    /// The laptop's picture as a second video track; `None` sends camera and microphone only.
    pub content: Option<ContentSettings>,
    /// Addresses to gather ICE candidates on; empty means libnice's choice (all but loopback).
    pub ice_addresses: Vec<std::net::IpAddr>,
}

impl MediaSettings {
    /// Test sources at the default 720p30, 1.5 Mbit/s.
    pub fn virtual_sources(pattern: TestPattern) -> Self {
        Self {
            source: Source::Virtual { pattern },
            video: VideoSettings::default(),
            audio: AudioProcessing::default(),
            controls: Controls::default(),
            content: None,
            ice_addresses: Vec::new(),
        }
    }
}
