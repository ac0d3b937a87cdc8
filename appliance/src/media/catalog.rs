//! Every GStreamer element the appliance may create, with the Debian and Yocto packages that ship
//! it: the one list the install script, the `.deb`'s Depends, the Yocto recipe's RDEPENDS and the
//! error messages are checked against (`appliance/tests/packages.rs`, `debian_closure.rs`). A new
//! element goes here first, or the tests fail.
//!
//! Elements that webrtcbin makes inside itself (ICE, DTLS, SRTP, RTP sessions) are listed too: a
//! box without their plugins builds its pipeline and then fails to connect.

/// When a box needs an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every box, virtual or real.
    Always,
    /// `--virtual`: the test camera's clock overlay.
    Virtual,
    /// A real camera, microphone or HDMI capture (and echo cancellation for a real room).
    Capture,
    /// The return feed on a real room's screen and speakers (not `--virtual`, not headless).
    Display,
    /// A hardware H.264 encoder: one rung of the ladder, present only on the boards named.
    /// Boxes without it fall back to the software rung (`x264enc`, needed `Always`).
    Optional { boards: &'static str },
}

/// One element factory and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    pub factory: &'static str,
    /// The Debian 12 package that ships its plugin.
    pub debian: &'static str,
    /// The Yocto (OE-core / meta-oe / meta-tegra) package that ships its plugin.
    pub yocto: &'static str,
    pub need: Need,
}

const fn row(factory: &'static str, debian: &'static str, yocto: &'static str, need: Need) -> Element {
    Element { factory, debian, yocto, need }
}

const CORE: &str = "libgstreamer1.0-0";
const BASE: &str = "gstreamer1.0-plugins-base";
const GOOD: &str = "gstreamer1.0-plugins-good";
const BAD: &str = "gstreamer1.0-plugins-bad";
/// Debian ships the Pango plugin (text and clock overlays) on its own, outside plugins-base:
/// a box without it never goes live.
const PANGO: &str = "gstreamer1.0-x";
const RTPMANAGER: &str = "gstreamer1.0-plugins-good-rtpmanager";
const JETSON: Need = Need::Optional { boards: "Jetson Orin NX/AGX" };

use Need::{Always, Capture, Display, Virtual};

/// The catalogue, grouped by package.
pub const ELEMENTS: &[Element] = &[
    // Core elements (libgstcoreelements).
    row("capsfilter", CORE, "gstreamer1.0", Always),
    row("fakesink", CORE, "gstreamer1.0", Always),
    row("funnel", CORE, "gstreamer1.0", Always),
    row("identity", CORE, "gstreamer1.0", Always),
    row("input-selector", CORE, "gstreamer1.0", Always),
    row("queue", CORE, "gstreamer1.0", Always),
    row("tee", CORE, "gstreamer1.0", Always),
    // plugins-base
    row("appsink", BASE, "gstreamer1.0-plugins-base-app", Always),
    row("appsrc", BASE, "gstreamer1.0-plugins-base-app", Always),
    row("audioconvert", BASE, "gstreamer1.0-plugins-base-audioconvert", Always),
    row("audiomixer", BASE, "gstreamer1.0-plugins-base-audiomixer", Always),
    row("audioresample", BASE, "gstreamer1.0-plugins-base-audioresample", Always),
    // Stand-ins for a lost microphone and the return feed's silence bed.
    row("audiotestsrc", BASE, "gstreamer1.0-plugins-base-audiotestsrc", Always),
    row("opusdec", BASE, "gstreamer1.0-plugins-base-opus", Always),
    row("opusenc", BASE, "gstreamer1.0-plugins-base-opus", Always),
    row("videoconvert", BASE, "gstreamer1.0-plugins-base-videoconvertscale", Always),
    row("videorate", BASE, "gstreamer1.0-plugins-base-videorate", Capture),
    row("videoscale", BASE, "gstreamer1.0-plugins-base-videoconvertscale", Always),
    // Stand-ins for a lost camera or laptop, and the virtual sources.
    row("videotestsrc", BASE, "gstreamer1.0-plugins-base-videotestsrc", Always),
    row("volume", BASE, "gstreamer1.0-plugins-base-volume", Always),
    // Pango: the claim code on the room's screen, the hands and lobby line, "no laptop connected".
    row("textoverlay", PANGO, "gstreamer1.0-plugins-base-pango", Always),
    row("timeoverlay", PANGO, "gstreamer1.0-plugins-base-pango", Virtual),
    // plugins-good
    row("autovideosink", GOOD, "gstreamer1.0-plugins-good-autodetect", Display),
    row("jpegdec", GOOD, "gstreamer1.0-plugins-good-jpeg", Capture),
    // The status page's and the admin's snapshot of the camera.
    row("jpegenc", GOOD, "gstreamer1.0-plugins-good-jpeg", Always),
    row("level", GOOD, "gstreamer1.0-plugins-good-level", Always),
    // Edge recording (`record`): split MP4 files of what the box already encodes.
    row("mp4mux", GOOD, "gstreamer1.0-plugins-good-isomp4", Always),
    row("splitmuxsink", GOOD, "gstreamer1.0-plugins-good-multifile", Always),
    row("rtph264depay", GOOD, "gstreamer1.0-plugins-good-rtp", Always),
    row("rtph264pay", GOOD, "gstreamer1.0-plugins-good-rtp", Always),
    row("rtpopusdepay", GOOD, "gstreamer1.0-plugins-good-rtp", Always),
    row("rtpopuspay", GOOD, "gstreamer1.0-plugins-good-rtp", Always),
    row("rtpvp8depay", GOOD, "gstreamer1.0-plugins-good-rtp", Always),
    row("rtpbin", GOOD, RTPMANAGER, Always),
    row("rtpfunnel", GOOD, RTPMANAGER, Always),
    row("rtphdrextmid", GOOD, RTPMANAGER, Always),
    row("rtphdrextstreamid", GOOD, RTPMANAGER, Always),
    row("rtpjitterbuffer", GOOD, RTPMANAGER, Always),
    row("rtpptdemux", GOOD, RTPMANAGER, Always),
    row("rtprtxreceive", GOOD, RTPMANAGER, Always),
    row("rtprtxsend", GOOD, RTPMANAGER, Always),
    row("rtpsession", GOOD, RTPMANAGER, Always),
    row("rtpssrcdemux", GOOD, RTPMANAGER, Always),
    row("rtpstorage", GOOD, RTPMANAGER, Always),
    row("v4l2src", GOOD, "gstreamer1.0-plugins-good-video4linux2", Capture),
    row("v4l2h264enc", GOOD, "gstreamer1.0-plugins-good-video4linux2", Need::Optional { boards: "Raspberry Pi 4" }),
    row("videobalance", GOOD, "gstreamer1.0-plugins-good-videofilter", Always),
    row("vp8dec", GOOD, "gstreamer1.0-plugins-good-vpx", Always),
    // plugins-bad
    row("dtlsdec", BAD, "gstreamer1.0-plugins-bad-dtls", Always),
    row("dtlsenc", BAD, "gstreamer1.0-plugins-bad-dtls", Always),
    row("dtlssrtpdec", BAD, "gstreamer1.0-plugins-bad-dtls", Always),
    row("dtlssrtpdemux", BAD, "gstreamer1.0-plugins-bad-dtls", Always),
    row("dtlssrtpenc", BAD, "gstreamer1.0-plugins-bad-dtls", Always),
    // A camera's own H.264, and every recording's (`record`).
    row("h264parse", BAD, "gstreamer1.0-plugins-bad-videoparsersbad", Always),
    row("kmssink", BAD, "gstreamer1.0-plugins-bad-kms", Display),
    row("opusparse", BAD, "gstreamer1.0-plugins-bad-opusparse", Always),
    row("openh264enc", BAD, "gstreamer1.0-plugins-bad-openh264", Need::Optional { boards: "any (last rung)" }),
    row("srtpdec", BAD, "gstreamer1.0-plugins-bad-srtp", Always),
    row("srtpenc", BAD, "gstreamer1.0-plugins-bad-srtp", Always),
    row("webrtcbin", BAD, "gstreamer1.0-plugins-bad-webrtc", Always),
    row("webrtcdsp", BAD, "gstreamer1.0-plugins-bad-webrtcdsp", Capture),
    row("webrtcechoprobe", BAD, "gstreamer1.0-plugins-bad-webrtcdsp", Capture),
    // Everything else
    row("alsasink", "gstreamer1.0-alsa", "gstreamer1.0-plugins-base-alsa", Display),
    row("alsasrc", "gstreamer1.0-alsa", "gstreamer1.0-plugins-base-alsa", Capture),
    row("avdec_h264", "gstreamer1.0-libav", "gstreamer1.0-libav", Always),
    row("nicesink", "gstreamer1.0-nice", "libnice", Always),
    row("nicesrc", "gstreamer1.0-nice", "libnice", Always),
    // The software rung every board without a hardware encoder relies on (Pi 5, Orin Nano).
    row("x264enc", "gstreamer1.0-plugins-ugly", "gstreamer1.0-plugins-ugly-x264", Always),
    row("vaapih264enc", "gstreamer1.0-vaapi", "gstreamer1.0-vaapi", Need::Optional { boards: "Intel/AMD PCs" }),
    row("nvv4l2h264enc", "nvidia-l4t-gstreamer", "gstreamer1.0-plugins-nvvideo4linux2", JETSON),
    row("nvvidconv", "nvidia-l4t-gstreamer", "gstreamer1.0-plugins-nvvidconv", JETSON),
];

/// The catalogue's row for `factory`.
pub fn lookup(factory: &str) -> Option<&'static Element> {
    ELEMENTS.iter().find(|e| e.factory == factory)
}

/// What to install for `factory`, for an error message: `Debian: …, Yocto: …`.
pub fn install_hint(factory: &str) -> String {
    match lookup(factory) {
        Some(e) => format!("{} (Debian) or {} (Yocto)", e.debian, e.yocto),
        None => format!("the GStreamer plugin that provides '{factory}' (not in the appliance's element catalogue)"),
    }
}

/// Which box the check is for: `lectern-appliance probe --check [--virtual] [--headless]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mode {
    /// Test sources instead of a camera, microphone and capture card; implies headless.
    pub virtual_sources: bool,
    /// No room screen or speakers (the return feed is only measured).
    pub headless: bool,
}

impl Mode {
    /// Whether a box in this mode needs `need`. Optional encoders are the ladder's business.
    pub fn needs(self, need: Need) -> bool {
        match need {
            Always => true,
            Virtual => self.virtual_sources,
            Capture => !self.virtual_sources,
            Display => !self.virtual_sources && !self.headless,
            Need::Optional { .. } => false,
        }
    }
}

/// The rows a box in `mode` needs.
pub fn required(mode: Mode) -> impl Iterator<Item = &'static Element> {
    ELEMENTS.iter().filter(move |e| mode.needs(e.need))
}

/// The distinct packages of `rows`, in catalogue order.
pub fn packages<'a>(rows: impl Iterator<Item = &'a Element>, pick: fn(&Element) -> &'static str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for e in rows {
        let package = pick(e);
        if !out.contains(&package) {
            out.push(package);
        }
    }
    out
}

/// Every mode a box can run in: what the install lists must cover.
pub const MODES: [Mode; 3] = [
    Mode { virtual_sources: true, headless: true },
    Mode { virtual_sources: false, headless: true },
    Mode { virtual_sources: false, headless: false },
];

/// The elements any box (in any mode) needs.
pub fn required_anywhere() -> impl Iterator<Item = &'static Element> {
    ELEMENTS.iter().filter(|e| MODES.iter().any(|m| m.needs(e.need)))
}

/// The rows of `mode` whose factory this machine's GStreamer registry lacks.
pub fn missing(mode: Mode) -> Vec<&'static Element> {
    required(mode).filter(|e| gstreamer::ElementFactory::find(e.factory).is_none()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_factory_is_listed_once() {
        for (i, e) in ELEMENTS.iter().enumerate() {
            assert!(ELEMENTS[..i].iter().all(|other| other.factory != e.factory), "{} twice", e.factory);
        }
    }

    #[test]
    fn the_overlays_name_the_package_debian_ships_them_in() {
        assert!(install_hint("textoverlay").starts_with("gstreamer1.0-x (Debian)"));
        assert!(install_hint("timeoverlay").contains("gstreamer1.0-plugins-base-pango (Yocto)"));
        assert!(install_hint("nosuchelement").contains("'nosuchelement'"));
    }

    #[test]
    fn modes_choose_their_rows() {
        let virtual_box = Mode { virtual_sources: true, headless: true };
        let room = Mode { virtual_sources: false, headless: false };
        let factories = |m: Mode| required(m).map(|e| e.factory).collect::<Vec<_>>();
        assert!(factories(virtual_box).contains(&"timeoverlay"));
        assert!(!factories(virtual_box).contains(&"v4l2src"));
        assert!(factories(room).contains(&"v4l2src") && factories(room).contains(&"kmssink"));
        assert!(!factories(Mode { headless: true, ..room }).contains(&"kmssink"));
        assert!(!factories(room).contains(&"nvv4l2h264enc"), "hardware encoders are optional");
        assert!(required_anywhere().all(|e| !matches!(e.need, Need::Optional { .. })));
    }

    #[test]
    fn packages_are_distinct_and_in_order() {
        let rows = [row("a", "p", "y1", Always), row("b", "q", "y2", Always), row("c", "p", "y1", Always)];
        assert_eq!(packages(rows.iter(), |e| e.debian), ["p", "q"]);
    }
}
