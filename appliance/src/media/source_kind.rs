//! Which capture device a pipeline branch, a stand-in or a supervisor input is about.

/// Which capture device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Camera,
    Microphone,
    /// The laptop's HDMI capture, when the box sends content.
    Content,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [SourceKind::Camera, SourceKind::Microphone, SourceKind::Content];
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Camera => "camera",
            SourceKind::Microphone => "microphone",
            SourceKind::Content => "content",
        }
    }
}

/// Element names per device: its source, its stand-in source, the selector.
pub(super) struct Names {
    pub(super) source: &'static str,
    /// The capsfilter that ends the device's part.
    pub(super) device_caps: &'static str,
    pub(super) stand_in: &'static str,
    pub(super) stand_in_caps: &'static str,
    pub(super) selector: &'static str,
}

pub(super) fn names(kind: SourceKind) -> Names {
    match kind {
        SourceKind::Camera => Names {
            source: "video-src",
            device_caps: "video-device-caps",
            stand_in: "video-standin",
            stand_in_caps: "video-standin-caps",
            selector: "video-select",
        },
        SourceKind::Content => Names {
            source: "content-src",
            device_caps: "content-device-caps",
            stand_in: "content-standin",
            stand_in_caps: "content-standin-caps",
            selector: "content-select",
        },
        SourceKind::Microphone => Names {
            source: "audio-src",
            device_caps: "audio-device-caps",
            stand_in: "audio-standin",
            stand_in_caps: "audio-standin-caps",
            selector: "audio-select",
        },
    }
}

/// Which device an element's error is about, by the source element's name.
pub fn source_of(element: &str) -> Option<SourceKind> {
    SourceKind::ALL.into_iter().find(|&kind| names(kind).source == element)
}
