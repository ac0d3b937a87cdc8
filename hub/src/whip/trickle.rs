//! Trickle ICE for WHIP/WHEP (RFC 8840, RFC 9725 §4.3.1): a `PATCH` carries an
//! `application/trickle-ice-sdpfrag` whose `a=candidate:` lines are the client's new candidates.
//! Every other line (ufrag, pwd, m-lines, end-of-candidates) is read past.

use str0m::Candidate;

/// A candidate line str0m cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid candidate: {0}")]
pub struct TrickleError(String);

/// The candidates of an sdpfrag, in order; one unreadable candidate refuses the whole fragment.
pub fn candidates(frag: &str) -> Result<Vec<Candidate>, TrickleError> {
    frag.lines()
        .filter_map(|l| l.trim().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(|l| Candidate::from_sdp_string(l).map_err(|e| TrickleError(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAG: &str = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n\
        a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n\
        a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn candidate_lines_are_read_in_order_and_the_rest_is_skipped() {
        let found = candidates(FRAG).expect("valid fragment");
        let addrs: Vec<String> = found.iter().map(|c| c.addr().to_string()).collect();
        assert_eq!(addrs, vec!["192.0.2.1:61764", "198.51.100.2:61765"]);
        assert_eq!(candidates("a=end-of-candidates\r\n"), Ok(Vec::new()));
        assert_eq!(candidates(""), Ok(Vec::new()));
    }

    #[test]
    fn one_unreadable_candidate_refuses_the_fragment_and_never_panics() {
        let bad = FRAG.replace("udp 2122194687", "udp notanumber");
        let err = candidates(&bad).expect_err("a broken candidate");
        assert!(err.to_string().starts_with("invalid candidate: "), "{err}");
        for end in (0..=FRAG.len()).filter(|&i| FRAG.is_char_boundary(i)) {
            let _ = candidates(&FRAG[..end]);
        }
    }
}
