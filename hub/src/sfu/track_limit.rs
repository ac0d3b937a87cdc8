//! How many tracks one publisher and one room may have: every published track costs each
//! subscriber an m-line and the shard a forwarding path, so an offer with hundreds of m-lines is
//! refused before anything is built. A publisher sends at most one microphone, one camera and
//! one screen (the classroom box's laptop slides are its screen); simulcast layers share their
//! m-line and count once.

/// Published tracks in one room at once (a class of 90 with camera and microphone on fits).
pub const MAX_ROOM_TRACKS: usize = 200;

/// The m-lines an offer sends media on (not stopped, not receive-only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offered {
    pub audio: usize,
    pub video: usize,
    /// One of the video lines is the screen (`screen_mid`).
    pub screen: bool,
}

impl Offered {
    /// Reads `sdp` (an offer as text); `screen_mid` is the m-line its publisher says is a screen.
    pub fn of(sdp: &str, screen_mid: Option<&str>) -> Self {
        let mut offered = Offered::default();
        let mut section: Option<Section> = None;
        for line in sdp.lines().map(str::trim_end) {
            if let Some(m) = line.strip_prefix("m=") {
                if let Some(s) = section.take() {
                    offered.count(&s, screen_mid);
                }
                let mut words = m.split_whitespace();
                let kind = words.next().unwrap_or_default().to_owned();
                let stopped = words.next() == Some("0");
                section = Some(Section { kind, stopped, sends: true, mid: None });
            } else if let Some(s) = section.as_mut() {
                match line {
                    "a=recvonly" | "a=inactive" => s.sends = false,
                    "a=sendonly" | "a=sendrecv" => s.sends = true,
                    _ => {
                        if let Some(mid) = line.strip_prefix("a=mid:") {
                            s.mid = Some(mid.trim().to_owned());
                        }
                    }
                }
            }
        }
        if let Some(s) = section {
            offered.count(&s, screen_mid);
        }
        offered
    }

    fn count(&mut self, s: &Section, screen_mid: Option<&str>) {
        if s.stopped || !s.sends {
            return;
        }
        match s.kind.as_str() {
            "audio" => self.audio += 1,
            "video" => {
                self.video += 1;
                self.screen |= screen_mid.is_some_and(|m| s.mid.as_deref() == Some(m));
            }
            _ => {}
        }
    }

    pub fn tracks(self) -> usize {
        self.audio + self.video
    }

    /// Within the per-publisher caps, and the room (`others`: tracks other publishers have
    /// there now) within its own; else what was exceeded, naming the limit.
    pub fn check(self, others: usize) -> Result<(), String> {
        let cameras = self.video - usize::from(self.screen);
        if self.audio > 1 {
            return Err(format!("{} audio tracks offered: a publisher sends at most 1", self.audio));
        }
        if cameras > 1 {
            return Err(format!(
                "{cameras} camera tracks offered: a publisher sends at most 1 camera and 1 screen (marked as the screen)"
            ));
        }
        if others + self.tracks() > MAX_ROOM_TRACKS {
            return Err(format!("the room has {others} tracks: at most {MAX_ROOM_TRACKS} are published in a room"));
        }
        Ok(())
    }
}

struct Section {
    kind: String,
    stopped: bool,
    sends: bool,
    mid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(lines: &[(&str, &str, &str)]) -> String {
        let mut s = String::from("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");
        for (i, (kind, port, dir)) in lines.iter().enumerate() {
            s += &format!("m={kind} {port} UDP/TLS/RTP/SAVPF 96\r\na=mid:{i}\r\na={dir}\r\n");
        }
        s
    }

    #[test]
    fn stopped_and_receive_only_lines_are_not_tracks() {
        let offer = sdp(&[("audio", "9", "sendonly"), ("video", "0", "sendonly"), ("video", "9", "recvonly")]);
        assert_eq!(Offered::of(&offer, None), Offered { audio: 1, video: 0, screen: false });
        let offer = sdp(&[("audio", "9", "sendrecv"), ("video", "9", "sendonly"), ("video", "9", "sendonly")]);
        assert_eq!(Offered::of(&offer, Some("2")), Offered { audio: 1, video: 2, screen: true });
        assert_eq!(Offered::of("garbage\nm=\n", None), Offered::default());
    }

    #[test]
    fn one_microphone_one_camera_one_screen_and_the_room_cap() {
        let ok = sdp(&[("audio", "9", "sendonly"), ("video", "9", "sendonly"), ("video", "9", "sendonly")]);
        assert_eq!(Offered::of(&ok, Some("2")).check(0), Ok(()));
        let err = Offered::of(&ok, None).check(0).unwrap_err();
        assert!(err.contains("2 camera tracks") && err.contains("at most 1 camera"), "{err}");
        let two_mics = sdp(&[("audio", "9", "sendonly"), ("audio", "9", "sendonly")]);
        assert!(Offered::of(&two_mics, None).check(0).unwrap_err().contains("at most 1"));
        let many: Vec<_> = (0..300).map(|_| ("video", "9", "sendonly")).collect();
        assert!(Offered::of(&sdp(&many), None).check(0).unwrap_err().contains("300 camera tracks"));
        let err = Offered::of(&ok, Some("2")).check(MAX_ROOM_TRACKS - 2).unwrap_err();
        assert!(err.contains(&format!("at most {MAX_ROOM_TRACKS}")), "{err}");
    }
}
