//! Everything GStreamer: building the capture → encode → webrtcbin pipeline and the return
//! feed's webrtcbin → decode → speaker/display pipeline, negotiating
//! SDP with webrtcbin, and turning its signals and bus messages into plain events.
//!
//! Nothing here speaks HTTP or decides when to retry; `run` glues this to `whip` and the
//! `supervisor`.

mod camera_mode;
pub mod catalog;
mod certificate;
mod chain;
mod content;
mod controls;
mod echo;
mod element;
mod encoder;
mod error;
mod flash;
mod inbound;
mod negotiate;
mod pipeline;
mod playback;
mod publish;
mod settings;
mod simulcast;
mod source_kind;
mod standin;
mod stats;
mod watch;

pub use camera_mode::{CameraCodec, CameraFormat, CameraMode, camera_formats, choose_mode};
pub use certificate::DtlsCertificate;
pub use echo::EchoProbe;
pub use encoder::{EncoderChoice, EncoderRegistry, GstEncoderRegistry, Skipped, choose_encoder, set_live_bitrate};
pub use error::MediaError;
pub use inbound::InboundMonitor;
pub use negotiate::{apply_answer, create_offer};
pub use pipeline::{EncodedStream, Pipeline};
pub use playback::{AUDIO_SLOTS, Playback, PlaybackOutput, PlaybackSettings, build_playback, build_playback_with_echo};
pub use publish::{PipelineOptions, build_pipeline, build_pipeline_with};
pub use settings::{
    AudioProcessing, ContentSettings, Controls, MediaSettings, SimulcastLayer, Source, TestPattern, VideoSettings,
};
pub use simulcast::{Encoding as SimulcastEncoding, encodings as simulcast_encodings, set_layer_bitrates};
pub use source_kind::SourceKind;
pub use source_kind::source_of;
pub use stats::{AudioLevel, MediaStats, ReturnStats};
pub use watch::{MediaEvent, PeerState};

/// Initialises GStreamer once per process; later calls are cheap no-ops.
pub fn init() -> Result<(), MediaError> {
    gstreamer::init().map_err(MediaError::Init)
}
