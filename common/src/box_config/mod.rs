//! The classroom box's configuration, defined once: the TOML schema (`Fragment`: what the box's
//! files hold and what the web admin pushes), the limits and defaults, and `resolve`, which checks
//! a fragment and turns it into values. The box resolves its merged files with it; the admin
//! checks a push with the same function before sending it, and renders it with `toml::to_string`,
//! so a limit changed here changes the box's and the admin's refusals alike.

mod fragment;
pub mod limits;
mod rules;

pub use fragment::{
    AudioFragment, ButtonsFragment, CameraFragment, ContentFragment, Fragment, HubFragment, HubUrls, LayerFragment,
    LedsFragment, PanelFragment, RecordingFragment, StatusFragment, UpdateFragment, VideoFragment,
};
pub use rules::{
    AudioConfig, ContentConfig, DEFAULT_ENCODERS, DEFAULT_RECORDING_DIR, DEFAULT_STATUS_LISTEN, DEFAULT_UPLOAD_KBPS,
    KeyError, Layer, PanelPins, RecordingConfig, Resolved, VideoConfig, resolve,
};
