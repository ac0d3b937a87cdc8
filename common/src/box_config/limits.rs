//! Every range a box-configuration value must fall in. The box and the web admin read them from
//! here (through `resolve`), and tests build their expected messages from them.

use std::ops::RangeInclusive;

pub const WIDTH: RangeInclusive<u32> = 16..=7680;
pub const HEIGHT: RangeInclusive<u32> = 16..=4320;
pub const FRAMERATE: RangeInclusive<u32> = 1..=120;
/// Slides change a few times a minute: more than 30 fps only costs the box CPU.
pub const CONTENT_FRAMERATE: RangeInclusive<u32> = 1..=30;
pub const BITRATE_KBPS: RangeInclusive<u32> = 100..=100_000;
pub const KEYFRAME_INTERVAL_S: RangeInclusive<u32> = 1..=60;
/// `video.min_bitrate_kbps` without a value: this share of `video.bitrate_kbps` (and at least the
/// bottom of `BITRATE_KBPS`), a picture that still decodes smoothly at a lower quality.
pub const DEFAULT_MIN_BITRATE_DIVISOR: u32 = 4;
/// A simulcast layer's bitrate floor; its ceiling is the main picture's bitrate.
pub const LAYER_MIN_BITRATE_KBPS: u32 = 50;
/// A simulcast layer's size floor; its ceiling is the main picture's size.
pub const LAYER_MIN_SIZE: u32 = 16;
/// Browsers negotiate up to three simulcast encodings; more would only cost the box CPU.
pub const MAX_SIMULCAST_LAYERS: usize = 3;
/// `recording.fragment_minutes`: a lost fragment (power cut) costs at most this much.
pub const RECORDING_FRAGMENT_MINUTES: RangeInclusive<u32> = 1..=60;
/// `recording.budget_mb`: from a few minutes of 720p up to a large disk.
pub const RECORDING_BUDGET_MB: RangeInclusive<u32> = 100..=4_000_000;
/// `recording.min_free_mb`.
pub const RECORDING_MIN_FREE_MB: RangeInclusive<u32> = 0..=1_000_000;
/// `recording.upload_kbps`: 0 is no cap; otherwise from a trickle to a fast LAN.
pub const RECORDING_UPLOAD_KBPS: RangeInclusive<u32> = 0..=1_000_000;
/// GPIO line offsets on a chip.
pub const GPIO_LINE: RangeInclusive<u32> = 0..=1023;
/// A device name (V4L2 path, ALSA name) as the box reports it.
pub const DEVICE_NAME_CHARS: RangeInclusive<usize> = 1..=256;

/// The message for `value` outside `range`, as both the box and the admin say it.
pub fn out_of_range(value: impl std::fmt::Display, range: &RangeInclusive<impl std::fmt::Display>) -> String {
    format!("{value} is out of range {}..={}", range.start(), range.end())
}
