//! Which of a camera's modes to open, from the formats it offers (as the device monitor reports
//! its caps) and the configured target. Pure: tests describe cameras without having one.
//!
//! Preference, for a mode that covers the target size and frame rate:
//! 1. H.264 at exactly the target size: passed through, no encoder at all (UVC cameras that
//!    encode themselves, e.g. Logitech's conference cameras).
//! 2. Raw (YUYV, NV12…) at exactly the target size: nothing to decode.
//! 3. MJPEG at exactly the target size: what USB 2 cameras offer at 1080p30.
//! 4. Otherwise the smallest mode that covers the target (scaled down), raw before MJPEG;
//! 5. and if none covers it, the largest mode at the best rate (scaled up, or fewer frames).

use gstreamer as gst;

/// How a camera delivers pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraCodec {
    Raw,
    Mjpeg,
    H264,
}

/// One size a camera offers in one codec, with its best frame rate (frames per second).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraFormat {
    pub codec: CameraCodec,
    pub width: u32,
    pub height: u32,
    pub max_fps: f64,
}

/// The mode to open the camera in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraMode {
    pub codec: CameraCodec,
    pub width: u32,
    pub height: u32,
    /// Frames per second to ask for: the target, or the camera's best if lower.
    pub fps: u32,
}

impl CameraMode {
    /// Whether the camera's own H.264 goes out as it is.
    pub fn passes_through(&self) -> bool {
        self.codec == CameraCodec::H264
    }

    /// What to ask `v4l2src` for.
    pub fn caps(&self) -> gst::Caps {
        let name = match self.codec {
            CameraCodec::Raw => "video/x-raw",
            CameraCodec::Mjpeg => "image/jpeg",
            CameraCodec::H264 => "video/x-h264",
        };
        gst::Caps::builder(name)
            .field("width", i32::try_from(self.width).unwrap_or(i32::MAX))
            .field("height", i32::try_from(self.height).unwrap_or(i32::MAX))
            .field("framerate", gst::Fraction::new(i32::try_from(self.fps).unwrap_or(30), 1))
            .build()
    }
}

/// The best mode for `width`×`height` at `fps`, or `None` when the camera offers nothing usable.
pub fn choose_mode(formats: &[CameraFormat], width: u32, height: u32, fps: u32) -> Option<CameraMode> {
    let target_fps = f64::from(fps);
    // A camera's "30 fps" is often 30000/1001.
    let fast_enough = |f: &CameraFormat| f.max_fps + 0.1 >= target_fps;
    let covers = |f: &CameraFormat| f.width >= width && f.height >= height && fast_enough(f);
    let exact = |f: &&CameraFormat| f.width == width && f.height == height && fast_enough(f);
    let exact_in = |codec| formats.iter().filter(exact).find(|f| f.codec == codec);
    let decodable = |f: &&CameraFormat| f.codec != CameraCodec::H264;
    let pick = exact_in(CameraCodec::H264)
        .or_else(|| exact_in(CameraCodec::Raw))
        .or_else(|| exact_in(CameraCodec::Mjpeg))
        .or_else(|| {
            // Scaling means decoding: a camera's H.264 is only used as it is.
            formats
                .iter()
                .filter(decodable)
                .filter(|f| covers(f))
                .min_by_key(|f| (u64::from(f.width) * u64::from(f.height), f.codec != CameraCodec::Raw))
        })
        .or_else(|| {
            formats.iter().filter(decodable).max_by(|a, b| {
                let rate = |f: &CameraFormat| f.max_fps.min(target_fps);
                let area = |f: &CameraFormat| u64::from(f.width) * u64::from(f.height);
                rate(a).total_cmp(&rate(b)).then(area(a).cmp(&area(b)))
            })
        })?;
    let fps = if fast_enough(pick) { fps } else { (pick.max_fps.floor() as u32).max(1) };
    Some(CameraMode { codec: pick.codec, width: pick.width, height: pick.height, fps })
}

/// The formats in a camera's caps (one structure per codec and size, as V4L2 devices report
/// them). Structures without a fixed size or a usable rate are skipped, so odd caps never fail.
pub fn camera_formats(caps: &gst::CapsRef) -> Vec<CameraFormat> {
    caps.iter()
        .filter_map(|s| {
            let codec = match s.name().as_str() {
                "video/x-raw" => CameraCodec::Raw,
                "image/jpeg" => CameraCodec::Mjpeg,
                "video/x-h264" => CameraCodec::H264,
                _ => return None,
            };
            let width = u32::try_from(s.get::<i32>("width").ok()?).ok()?;
            let height = u32::try_from(s.get::<i32>("height").ok()?).ok()?;
            let max_fps = max_framerate(s.value("framerate").ok()?)?;
            Some(CameraFormat { codec, width, height, max_fps })
        })
        .collect()
}

/// The highest rate in a `framerate` field: a fraction, a list of them or a range.
fn max_framerate(value: &gst::glib::SendValue) -> Option<f64> {
    let fps = |f: gst::Fraction| (f.denom() != 0).then(|| f64::from(f.numer()) / f64::from(f.denom()));
    if let Ok(f) = value.get::<gst::Fraction>() {
        return fps(f);
    }
    if let Ok(list) = value.get::<gst::List>() {
        return list.iter().filter_map(|v| v.get::<gst::Fraction>().ok()).filter_map(fps).reduce(f64::max);
    }
    if let Ok(range) = value.get::<gst::FractionRange>() {
        return fps(range.max());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(codec: CameraCodec, width: u32, height: u32, max_fps: f64) -> CameraFormat {
        CameraFormat { codec, width, height, max_fps }
    }

    /// A typical USB 2 webcam: raw only at small sizes, MJPEG up to 1080p30.
    fn webcam() -> Vec<CameraFormat> {
        vec![
            format(CameraCodec::Raw, 640, 480, 30.0),
            format(CameraCodec::Raw, 1280, 720, 10.0),
            format(CameraCodec::Raw, 1920, 1080, 5.0),
            format(CameraCodec::Mjpeg, 640, 480, 30.0),
            format(CameraCodec::Mjpeg, 1280, 720, 30.0),
            format(CameraCodec::Mjpeg, 1920, 1080, 30.0),
        ]
    }

    fn mode(codec: CameraCodec, width: u32, height: u32, fps: u32) -> Option<CameraMode> {
        Some(CameraMode { codec, width, height, fps })
    }

    #[test]
    fn h264_at_the_target_size_is_passed_through() {
        let mut camera = webcam();
        camera.push(format(CameraCodec::H264, 1920, 1080, 30.0));
        let chosen = choose_mode(&camera, 1920, 1080, 30);
        assert_eq!(chosen, mode(CameraCodec::H264, 1920, 1080, 30));
        assert!(chosen.is_some_and(|m| m.passes_through()));
    }

    #[test]
    fn mjpeg_when_raw_is_too_slow_at_the_target_size() {
        assert_eq!(choose_mode(&webcam(), 1280, 720, 30), mode(CameraCodec::Mjpeg, 1280, 720, 30));
        assert_eq!(choose_mode(&webcam(), 1920, 1080, 30), mode(CameraCodec::Mjpeg, 1920, 1080, 30));
    }

    #[test]
    fn raw_before_mjpeg_when_both_are_fast_enough() {
        assert_eq!(choose_mode(&webcam(), 640, 480, 30), mode(CameraCodec::Raw, 640, 480, 30));
    }

    #[test]
    fn h264_at_another_size_is_not_used_the_smallest_covering_mode_is_scaled() {
        let camera = vec![
            format(CameraCodec::H264, 1920, 1080, 30.0),
            format(CameraCodec::Mjpeg, 1920, 1080, 30.0),
            format(CameraCodec::Mjpeg, 3840, 2160, 30.0),
        ];
        assert_eq!(choose_mode(&camera, 1280, 720, 30), mode(CameraCodec::Mjpeg, 1920, 1080, 30));
    }

    #[test]
    fn a_camera_below_the_target_gives_its_best() {
        let camera = vec![format(CameraCodec::Raw, 640, 480, 30.0), format(CameraCodec::Raw, 1280, 720, 7.5)];
        assert_eq!(choose_mode(&camera, 1920, 1080, 30), mode(CameraCodec::Raw, 640, 480, 30));
        let slow = vec![format(CameraCodec::Mjpeg, 1920, 1080, 15.0)];
        assert_eq!(choose_mode(&slow, 1920, 1080, 30), mode(CameraCodec::Mjpeg, 1920, 1080, 15));
    }

    #[test]
    fn ntsc_rates_count_as_thirty() {
        let camera = vec![format(CameraCodec::H264, 1280, 720, 30000.0 / 1001.0)];
        assert_eq!(choose_mode(&camera, 1280, 720, 30), mode(CameraCodec::H264, 1280, 720, 30));
    }

    #[test]
    fn nothing_usable_is_none() {
        assert_eq!(choose_mode(&[], 1280, 720, 30), None);
        let only_h264 = vec![format(CameraCodec::H264, 640, 480, 30.0)];
        assert_eq!(choose_mode(&only_h264, 1280, 720, 30), None, "H.264 at another size would need re-encoding");
    }

    #[test]
    fn formats_are_read_from_device_caps_and_odd_structures_skipped() {
        gst::init().expect("GStreamer initialises");
        let caps: gst::Caps = "video/x-raw, format=YUY2, width=640, height=480, framerate={ 30/1, 15/1 }; \
             image/jpeg, width=1920, height=1080, framerate=30/1; \
             video/x-h264, stream-format=byte-stream, width=1920, height=1080, framerate=[ 1/1, 30/1 ]; \
             video/x-raw, format=NV12, width=[ 16, 4096 ], height=480, framerate=30/1; \
             audio/x-raw, rate=48000"
            .parse()
            .expect("caps parse");
        let formats = camera_formats(&caps);
        assert_eq!(
            formats,
            vec![
                format(CameraCodec::Raw, 640, 480, 30.0),
                format(CameraCodec::Mjpeg, 1920, 1080, 30.0),
                format(CameraCodec::H264, 1920, 1080, 30.0),
            ]
        );
        assert_eq!(choose_mode(&formats, 1920, 1080, 30), mode(CameraCodec::H264, 1920, 1080, 30));
    }
}
