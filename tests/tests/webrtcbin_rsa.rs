//! GStreamer's webrtcbin with its *default* DTLS certificate (RSA-2048, made by OpenSSL) publishes
//! audio to the real hub by WHIP, and a second webrtcbin, also RSA, views it by WHEP and receives
//! the RTP. Before the dimpl patch (`vendor/dimpl/LECTERN-PATCH.md`) the hub asked only for ECDSA
//! client certificates, OpenSSL sent none and the hub failed the handshake with "no client
//! certificate received" (`docs/dtls.md`). Nothing of the appliance is used: this is webrtcbin as
//! any GStreamer WHIP/WHEP client (e.g. `whipclientsink`) drives it.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_sdp as gst_sdp;
use gstreamer_webrtc as gst_webrtc;
use gstreamer_webrtc::{WebRTCPeerConnectionState, WebRTCSDPType, WebRTCSessionDescription};
use lectern_e2e::{Proc, agent, free_port, mint, start_hub, wait_for};

const OPUS: &str =
    "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2";

/// One webrtcbin in its own pipeline, gathering ICE on loopback (libnice skips it by default).
struct Peer {
    pipeline: gst::Pipeline,
    webrtcbin: gst::Element,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Peer {
    fn new(description: &str) -> Self {
        // A description of one element parses to that element, not to a pipeline.
        let pipeline = match gst::parse::launch(description).expect("pipeline parses").downcast::<gst::Pipeline>() {
            Ok(pipeline) => pipeline,
            Err(element) => {
                let pipeline = gst::Pipeline::new();
                pipeline.add(&element).expect("element added");
                pipeline
            }
        };
        let webrtcbin = pipeline.by_name("w").expect("webrtcbin named w");
        let ice = webrtcbin.property::<Option<gst::glib::Object>>("ice-agent").expect("an ICE agent");
        assert!(ice.emit_by_name::<bool>("add-local-ip-address", &[&"127.0.0.1"]), "ICE on loopback");
        Self { pipeline, webrtcbin }
    }

    /// Offer (with every host candidate) → POST `url` → answer applied. Returns the answer.
    fn negotiate(&self, url: &str, token: &str) -> String {
        self.pipeline.set_state(gst::State::Playing).expect("pipeline plays");
        // Offer only once the payloader's caps (with its SSRC) reached webrtcbin: an offer without
        // `a=ssrc` (and no mid extension, which webrtcbin 1.22 does not offer) leaves the hub
        // unable to tell which m-line the RTP belongs to.
        wait_for("caps on every webrtcbin input", Duration::from_secs(10), || {
            self.webrtcbin.sink_pads().iter().all(|pad| pad.current_caps().is_some()).then_some(())
        });
        let offer = promise(&self.webrtcbin, "create-offer", &[&None::<gst::Structure>])
            .get::<WebRTCSessionDescription>("offer")
            .expect("an offer");
        promise(&self.webrtcbin, "set-local-description", &[&offer]);
        wait_for("ICE gathering", Duration::from_secs(10), || {
            (self.webrtcbin.property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state")
                == gst_webrtc::WebRTCICEGatheringState::Complete)
                .then_some(())
        });
        let local = self
            .webrtcbin
            .property::<Option<WebRTCSessionDescription>>("local-description")
            .expect("a local description");
        let sdp = local.sdp().as_text().expect("SDP text");
        let mut response = agent()
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/sdp")
            .send(sdp.as_str())
            .expect("POST reaches the hub");
        let body = response.body_mut().read_to_string().expect("answer body");
        assert_eq!(response.status(), 201, "POST {url}: {body}");
        let message = gst_sdp::SDPMessage::parse_buffer(body.as_bytes()).expect("the answer parses");
        let answer = WebRTCSessionDescription::new(WebRTCSDPType::Answer, message);
        promise(&self.webrtcbin, "set-remote-description", &[&answer]);
        body
    }

    fn state(&self) -> WebRTCPeerConnectionState {
        self.webrtcbin.property("connection-state")
    }
}

/// Emits `signal` with a fresh promise and returns its reply; a reply carrying an error panics.
fn promise(webrtcbin: &gst::Element, signal: &str, args: &[&dyn ToValue]) -> gst::Structure {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let promise = gst::Promise::with_change_func(move |reply| {
        let _ = tx.send(reply.ok().flatten().map(ToOwned::to_owned));
    });
    let mut values: Vec<gst::glib::Value> = args.iter().map(|a| a.to_value()).collect();
    values.push(promise.to_value());
    let refs: Vec<&dyn ToValue> = values.iter().map(|v| v as &dyn ToValue).collect();
    webrtcbin.emit_by_name::<()>(signal, &refs);
    let reply = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{signal} answered"));
    let reply = reply.unwrap_or_else(|| gst::Structure::new_empty("empty"));
    if let Ok(err) = reply.get::<gst::glib::Error>("error") {
        panic!("{signal}: {err}");
    }
    reply
}

/// The PEM of the certificate the first DTLS decoder inside `webrtcbin` uses, once there is one.
fn dtls_pem(webrtcbin: &gst::Element) -> Option<String> {
    let bin = webrtcbin.downcast_ref::<gst::Bin>()?;
    let decoder = bin.iterate_all_by_element_factory_name("dtlssrtpdec").next().ok().flatten()?;
    decoder.property::<Option<String>>("pem")
}

/// "rsaEncryption" if `pem` holds an RSA certificate (openssl's own parser says so).
fn public_key_algorithm(pem: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child.stdin.take().expect("stdin").write_all(pem.as_bytes()).expect("PEM written");
    let out = child.wait_with_output().expect("openssl output");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Public Key Algorithm:"))
        .map(|a| a.trim().to_owned())
        .unwrap_or_default()
}

fn connected_or_explain(peer: &Peer, hub: &Proc, what: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    while peer.state() != WebRTCPeerConnectionState::Connected {
        let state = peer.state();
        if Instant::now() > end || state == WebRTCPeerConnectionState::Failed {
            let ice = peer.webrtcbin.property::<gst_webrtc::WebRTCICEConnectionState>("ice-connection-state");
            let said: Vec<String> = hub.lines.try_iter().collect();
            panic!("{what}: webrtcbin is {state:?} (ICE {ice:?}), not Connected; the hub said: {said:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn webrtcbin_with_its_default_rsa_certificate_publishes_by_whip_and_a_whep_viewer_receives_it() {
    gst::init().expect("GStreamer initialises");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = start_hub(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");

    let publisher = Peer::new(&format!(
        "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 \
         ! {OPUS} ! webrtcbin name=w bundle-policy=max-bundle"
    ));
    // A WHIP publisher only sends (webrtcbin's default transceiver is sendrecv).
    for pad in publisher.webrtcbin.sink_pads() {
        let transceiver = pad.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
        transceiver.set_property("direction", gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly);
    }
    let answer = publisher.negotiate(&format!("{base}/whip/rsa"), &mint(dir.path(), "rsa", "device"));
    assert!(answer.contains("a=setup:passive"), "the hub is the DTLS server (it verifies our certificate): {answer}");
    connected_or_explain(&publisher, &hub, "WHIP publisher");
    let pem = dtls_pem(&publisher.webrtcbin).expect("the publisher's DTLS certificate");
    assert_eq!(public_key_algorithm(&pem), "rsaEncryption", "webrtcbin's default certificate is RSA");

    let viewer = Peer::new("webrtcbin name=w bundle-policy=max-bundle");
    viewer.webrtcbin.emit_by_name::<gst_webrtc::WebRTCRTPTransceiver>(
        "add-transceiver",
        &[&gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly, &gst::Caps::from_str(OPUS).expect("caps")],
    );
    let received = Arc::new(AtomicUsize::new(0));
    let pipeline = viewer.pipeline.downgrade();
    let count = received.clone();
    viewer.webrtcbin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline.upgrade() else { return };
        let sink = gst::ElementFactory::make("fakesink").property("async", false).build().expect("fakesink");
        pipeline.add(&sink).expect("fakesink added");
        sink.sync_state_with_parent().expect("fakesink plays");
        let count = count.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            count.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        pad.link(&sink.static_pad("sink").expect("sink pad")).expect("linked to fakesink");
    });
    viewer.negotiate(&format!("{base}/whep/rsa"), &mint(dir.path(), "rsa", "viewer"));
    connected_or_explain(&viewer, &hub, "WHEP viewer");
    wait_for("50 RTP packets at the WHEP viewer", Duration::from_secs(20), || {
        (received.load(Ordering::Relaxed) >= 50).then_some(())
    });
}
