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
