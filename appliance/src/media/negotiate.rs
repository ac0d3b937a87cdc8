//! SDP offer/answer with webrtcbin. Blocking calls with deadlines, meant for the runner's
//! thread: never call these from a GStreamer streaming thread or a signal handler.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_sdp as gst_sdp;
use gstreamer_webrtc::{WebRTCICEGatheringState, WebRTCSDPType, WebRTCSessionDescription};

use super::MediaError;

/// Creates an offer, sets it as local description and waits (until `timeout`) for ICE
/// gathering to complete, so the returned SDP carries every candidate: WHIP without trickle
/// needs them all in the POST. If gathering is still running at the deadline the offer goes
/// out with the candidates found so far. The pipeline must be playing.
pub fn create_offer(webrtcbin: &gst::Element, timeout: Duration) -> Result<String, MediaError> {
    let deadline = Instant::now() + timeout;
    wait_for_caps(webrtcbin, deadline)?;
    let (gathered_tx, gathered_rx) = mpsc::channel();
    let handler = webrtcbin.connect_notify(Some("ice-gathering-state"), move |bin, _| {
        if bin.property::<WebRTCICEGatheringState>("ice-gathering-state") == WebRTCICEGatheringState::Complete {
            // The receiver is gone once create_offer returned; nothing left to tell.
            let _ = gathered_tx.send(());
        }
    });
    let result = offer_and_gather(webrtcbin, deadline, &gathered_rx);
    webrtcbin.disconnect(handler);
    result
}

/// Waits until every webrtcbin sink pad has negotiated caps. Before that, webrtcbin builds
/// the m-line from the capsfilter alone: no `profile-level-id` or `packetization-mode` for
/// H.264 (the encoder's first frame sets them), and browsers then refuse or misread the
/// stream. Fixing them up front in the caps does not work either: x264 says `42c01f` where
/// a hand-written constrained-baseline id says `42e01f`, and negotiation fails.
fn wait_for_caps(webrtcbin: &gst::Element, deadline: Instant) -> Result<(), MediaError> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let pads = webrtcbin.sink_pads();
    let handlers: Vec<_> = pads
        .iter()
        .map(|pad| {
            let tx = tx.clone();
            // The receiver is gone once this function returned; nothing left to tell.
            pad.connect_notify(Some("caps"), move |_, _| {
                let _ = tx.send(());
            })
        })
        .collect();
    let mut result = Ok(());
    while pads.iter().any(|pad| pad.current_caps().is_none()) {
        if rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err() {
            let after = deadline.saturating_duration_since(started);
            result = Err(MediaError::Timeout { what: "caps on every webrtcbin input", after });
            break;
        }
    }
    for (pad, handler) in pads.iter().zip(handlers) {
        pad.disconnect(handler);
    }
    result
}

fn offer_and_gather(
    webrtcbin: &gst::Element,
    deadline: Instant,
    gathered: &mpsc::Receiver<()>,
) -> Result<String, MediaError> {
    let reply = wait_promise("create-offer", deadline, |promise| {
        webrtcbin.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, promise]);
    })?;
    let offer = reply
        .as_ref()
        .and_then(|r| r.get::<WebRTCSessionDescription>("offer").ok())
        .ok_or_else(|| MediaError::Negotiation { step: "create-offer", detail: "reply has no offer".to_owned() })?;
    wait_promise("set-local-description", deadline, |promise| {
        webrtcbin.emit_by_name::<()>("set-local-description", &[&offer, promise]);
    })?;
    let complete =
        || webrtcbin.property::<WebRTCICEGatheringState>("ice-gathering-state") == WebRTCICEGatheringState::Complete;
    if !complete() && gathered.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err() {
        tracing::warn!("ICE gathering not complete at the deadline; offering the candidates found so far");
    }
    let local = webrtcbin
        .property::<Option<WebRTCSessionDescription>>("local-description")
        .ok_or_else(|| MediaError::Negotiation { step: "local-description", detail: "not set".to_owned() })?;
    local.sdp().as_text().map_err(|err| MediaError::Negotiation { step: "local-description", detail: err.to_string() })
}

/// Sets the hub's SDP answer as remote description.
pub fn apply_answer(webrtcbin: &gst::Element, sdp: &str, timeout: Duration) -> Result<(), MediaError> {
    let message = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).map_err(|_| MediaError::InvalidAnswer)?;
    let answer = WebRTCSessionDescription::new(WebRTCSDPType::Answer, message);
    wait_promise("set-remote-description", Instant::now() + timeout, |promise| {
        webrtcbin.emit_by_name::<()>("set-remote-description", &[&answer, promise]);
    })?;
    Ok(())
}

/// Runs `emit` with a fresh promise and waits for its reply until `deadline`. webrtcbin
/// answers on its own thread; an error it reports in the reply becomes `Negotiation`.
fn wait_promise(
    step: &'static str,
    deadline: Instant,
    emit: impl FnOnce(&gst::Promise),
) -> Result<Option<gst::Structure>, MediaError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let promise = gst::Promise::with_change_func(move |reply| {
        let reply = reply.map(|r| r.map(ToOwned::to_owned)).map_err(|err| format!("{err:?}"));
        // The receiver is gone only if we already timed out.
        let _ = tx.send(reply);
    });
    emit(&promise);
    let timeout = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(timeout) {
        Ok(Ok(reply)) => match reply.as_ref().and_then(|r| r.get::<gst::glib::Error>("error").ok()) {
            Some(err) => Err(MediaError::Negotiation { step, detail: err.to_string() }),
            None => Ok(reply),
        },
        Ok(Err(err)) => Err(MediaError::Negotiation { step, detail: format!("promise {err}") }),
        Err(_) => {
            promise.interrupt();
            Err(MediaError::Timeout { what: step, after: timeout })
        }
    }
}
