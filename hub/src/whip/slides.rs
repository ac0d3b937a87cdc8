//! Which m-line of a classroom box's WHIP offer carries the teacher's laptop: the video m-line
//! marked `a=content:slides` (RFC 4796). The hub shows it to students as a screen share. The
//! offer text comes from the network: anything unexpected means "no slides", never a panic.

/// The `a=mid` of the first video m-line whose `a=content` lists `slides`.
pub fn slides_mid(sdp: &str) -> Option<String> {
    let mut video = false;
    let mut mid: Option<&str> = None;
    let mut slides = false;
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            if let Some(found) = mid.filter(|_| video && slides) {
                return Some(found.to_owned());
            }
            (video, mid, slides) = (line.starts_with("m=video "), None, false);
        } else if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(value.trim()).filter(|m| !m.is_empty());
        } else if let Some(tags) = line.strip_prefix("a=content:") {
            // Media content tags are a comma-separated list (`a=content:main,slides` is valid).
            slides |= tags.split(',').any(|tag| tag.trim().eq_ignore_ascii_case("slides"));
        }
    }
    mid.filter(|_| video && slides).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::slides_mid;

    const OFFER: &str = "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0 audio1 video2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:video0\r\na=sendonly\r\na=rtpmap:96 H264/90000\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:audio1\r\na=content:slides\r\na=rtpmap:111 OPUS/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 98\r\na=rtpmap:98 H264/90000\r\na=content:slides\r\na=mid:video2\r\n";

    #[test]
    fn the_video_m_line_marked_slides_is_found_wherever_its_mid_line_is() {
        assert_eq!(slides_mid(OFFER).as_deref(), Some("video2"));
        let main_first = OFFER.replace("a=content:slides\r\na=mid:video2", "a=content:main, Slides\r\na=mid:video2");
        assert_eq!(slides_mid(&main_first).as_deref(), Some("video2"));
        let not_last = format!("{OFFER}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:3\r\n");
        assert_eq!(slides_mid(&not_last).as_deref(), Some("video2"));
    }

    #[test]
    fn an_audio_line_other_content_or_no_mid_is_not_slides() {
        let without = OFFER.replace("m=video 9 UDP/TLS/RTP/SAVPF 98", "m=audio 9 UDP/TLS/RTP/SAVPF 98");
        assert_eq!(slides_mid(&without), None, "only the audio m-lines say slides");
        assert_eq!(slides_mid(&OFFER.replace("a=content:slides", "a=content:main")), None);
        assert_eq!(slides_mid(&OFFER.replace("a=mid:video2", "a=mid:")), None);
        assert_eq!(slides_mid(&OFFER.replace("a=content:slides", "a=content:slidesx")), None);
    }

    #[test]
    fn malformed_text_is_no_slides_and_never_a_panic() {
        for text in ["", "m=", "a=content:slides", "m=video\na=content:\na=mid:", "\u{0}\u{fffd}m=video 9 x\r\r\n"] {
            assert_eq!(slides_mid(text), None, "{text:?}");
        }
        // Every prefix of a real offer, cut anywhere (also inside a line).
        for end in (0..=OFFER.len()).filter(|&i| OFFER.is_char_boundary(i)) {
            let _ = slides_mid(&OFFER[..end]);
        }
    }
}
