//! Media errors name the element or step that failed, so a field report is actionable.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("GStreamer could not be initialised")]
    Init(#[source] gstreamer::glib::Error),
    /// `install` names the package(s) that ship it (see `catalog`).
    #[error("element '{element}' not available: install {install}")]
    MissingElement { element: String, install: String },
    #[error("invalid media settings: {0}")]
    InvalidSettings(String),
    #[error("could not link '{from}' to '{to}'")]
    Link { from: String, to: String },
    /// The camera or microphone would not open; the rest of the pipeline was fine.
    #[error("{} would not open: {detail}", kind.name())]
    SourceFailed { kind: super::SourceKind, detail: String },
    #[error("pipeline could not go to {state}: {detail}")]
    StateChange { state: &'static str, detail: String },
    #[error("webrtcbin {step} failed: {detail}")]
    Negotiation { step: &'static str, detail: String },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: &'static str, after: Duration },
    #[error("DTLS certificate: {0}")]
    Certificate(String),
    #[error("the hub's SDP answer does not parse")]
    InvalidAnswer,
    #[error("no H.264 encoder works: tried {tried}")]
    NoEncoder { tried: String },
    /// A control (mute, privacy) needs an element the pipeline does not have.
    #[error("pipeline has no element '{element}' for {control}")]
    NoControl { element: &'static str, control: &'static str },
}

impl MediaError {
    /// Whether trying again soon may help. A missing plugin or bad settings will not fix
    /// themselves, so the supervisor retries those slowly.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            MediaError::Init(_)
                | MediaError::MissingElement { .. }
                | MediaError::InvalidSettings(_)
                | MediaError::Certificate(_)
                | MediaError::Link { .. }
                | MediaError::NoEncoder { .. }
                | MediaError::NoControl { .. }
        )
    }
}
