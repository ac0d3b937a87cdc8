//! Simulcast: the camera published at several sizes on one video m-line, the way browsers send it
//! (RFC 8853): one RTP stream per layer with its own SSRC, each packet naming its layer in the
//! RID header extension (RFC 8852), announced in the offer with `a=rid:<id> send` and
//! `a=simulcast:send`. The hub can then tell the layers apart and forward a suitable one to each
//! student without asking the box to re-encode.
//!
//! ```text
//!  … video-raw-caps ─▶ tee ┬─▶ queue ─────────────────────────▶ encoder (video-enc)   ─▶ rtph264pay rid=f ─┐
//!                          ├─▶ queue ─▶ videoscale ─▶ I420,w×h ─▶ encoder (video-enc-h) ─▶ rtph264pay rid=h ─┼─▶ rtpfunnel
//!                          └─▶ queue ─▶ videoscale ─▶ I420,w×h ─▶ encoder (video-enc-q) ─▶ rtph264pay rid=q ─┘      │
//!                                                                                              webrtcbin ◀─────┘
//! ```
//!
//! The top layer keeps the single-stream names (`video-enc`, `video-pay`), so live bitrate changes
//! and the status counters apply to it as before. A keyframe request from the hub (a PLI naming a
//! layer's SSRC) reaches that layer's encoder only (see `forward_keyframe_requests`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_rtp as gst_rtp;
use gstreamer_rtp::prelude::*;
use gstreamer_webrtc as gst_webrtc;

use super::MediaError;
use super::chain::video_payloader;
use super::element::{add_and_link, capsfilter, leaky_queue, make};
use super::encoder::{encoder_elements, set_encoder_bitrate};
use super::settings::VideoSettings;

/// The RIDs in the offer, top layer first: full, half, quarter, eighth (as browsers commonly name
/// them; the hub ranks layers by what it receives, not by these names). One for the main picture
/// and each of the at most three layers the configuration allows.
const RIDS: [&str; 4] = ["f", "h", "q", "e"];
/// The header extension that carries a packet's RID.
const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// The header extension that carries the m-line's MID.
const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// Their ids in the offer (webrtcbin adds none of its own by default).
const MID_EXT_ID: u32 = 9;
const RID_EXT_ID: u32 = 10;
/// The tee the layers branch from (the end of the single-stream chain's raw part).
pub(super) const TEE: &str = "video-tee";

/// One RTP stream of the simulcast m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    pub rid: &'static str,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}x{} {} kbit/s", self.rid, self.width, self.height, self.bitrate_kbps)
    }
}

/// The streams `video` asks for, top (the main picture) first; empty without simulcast layers.
/// Lower layers are ordered by size so the RIDs read top to bottom.
pub fn encodings(video: &VideoSettings) -> Vec<Encoding> {
    if video.simulcast.is_empty() {
        return Vec::new();
    }
    let mut lower = video.simulcast.clone();
    lower.sort_by_key(|l| std::cmp::Reverse(u64::from(l.width) * u64::from(l.height)));
    let top = (video.width, video.height, video.bitrate_kbps);
    std::iter::once(top)
        .chain(lower.iter().map(|l| (l.width, l.height, l.bitrate_kbps)))
        .zip(RIDS)
        .map(|((width, height, bitrate_kbps), rid)| Encoding { rid, width, height, bitrate_kbps })
        .collect()
}

/// Builds one branch per encoding from the camera chain's tee and merges them in an `rtpfunnel`,
/// which is returned for linking to webrtcbin. `None` when the chain has no tee (one stream).
pub(super) fn fan_out(pipeline: &gst::Pipeline, video: &VideoSettings) -> Result<Option<gst::Element>, MediaError> {
    let Some(tee) = pipeline.by_name(TEE) else { return Ok(None) };
    let funnel = make("rtpfunnel", "video-funnel")?;
    pipeline.add(&funnel).map_err(|_| super::element::add_error("video-funnel"))?;
    let mut ssrcs = Vec::new();
    for (i, encoding) in encodings(video).into_iter().enumerate() {
        let branch = branch(video, &encoding, i == 0, &mut ssrcs)?;
        add_and_link(pipeline, &branch)?;
        let link_err =
            |from: &gst::Element, to: &str| MediaError::Link { from: from.name().to_string(), to: to.into() };
        // Invariant: a branch starts with its queue and ends with its RTP caps.
        let (first, last) = (branch.first().expect("branch"), branch.last().expect("branch"));
        tee.link(first).map_err(|_| link_err(&tee, &first.name()))?;
        last.link(&funnel).map_err(|_| link_err(last, "video-funnel"))?;
    }
    Ok(Some(funnel))
}

/// queue ─▶ [videoscale ─▶ I420,w×h] ─▶ encoder ─▶ rtph264pay (own SSRC, RID extension) ─▶ RTP caps.
fn branch(
    video: &VideoSettings,
    encoding: &Encoding,
    top: bool,
    ssrcs: &mut Vec<u32>,
) -> Result<Vec<gst::Element>, MediaError> {
    let layer = VideoSettings {
        width: encoding.width,
        height: encoding.height,
        bitrate_kbps: encoding.bitrate_kbps,
        simulcast: Vec::new(),
        ..video.clone()
    };
    let mut chain = vec![leaky_queue("video-queue")?];
    if !top {
        let raw = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", i32::try_from(layer.width).unwrap_or(i32::MAX))
            .field("height", i32::try_from(layer.height).unwrap_or(i32::MAX))
            .build();
        chain.push(make("videoscale", "video-layer-scale")?);
        chain.push(capsfilter("video-layer-caps", raw)?);
    }
    chain.extend(encoder_elements(&layer.encoder, &layer)?);
    let payloader = video_payloader()?;
    let pay = &payloader[0];
    let ssrc = loop {
        let candidate = rand::random::<u32>();
        if !ssrcs.contains(&candidate) {
            break candidate;
        }
    };
    ssrcs.push(ssrc);
    pay.set_property("ssrc", ssrc);
    tag_with_rid(pay, encoding.rid)?;
    chain.extend(payloader);
    // Names are free to change until the elements join the pipeline.
    if !top {
        for element in &chain {
            element.set_property("name", layer_name(&element.name(), encoding.rid, top));
        }
    }
    Ok(chain)
}

/// Sets the camera encoders' bitrates while playing, `kbps` top layer first (as `encodings`
/// orders them; one figure for a single stream). `false` when an encoder is missing or cannot
/// change its rate while playing.
pub fn set_layer_bitrates(pipeline: &gst::Pipeline, kbps: &[u32]) -> bool {
    let mut all = !kbps.is_empty();
    for (i, (&rate, rid)) in kbps.iter().zip(RIDS).enumerate() {
        let set =
            pipeline.by_name(&layer_name("video-enc", rid, i == 0)).is_some_and(|e| set_encoder_bitrate(&e, rate));
        all &= set;
    }
    all && kbps.len() <= RIDS.len()
}

/// The name of a layer's element: the single-stream name on the top layer, so everything that
/// finds `video-enc` or `video-pay` by name still does; the others get their RID as a suffix.
fn layer_name(base: &str, rid: &str, top: bool) -> String {
    if top { base.to_owned() } else { format!("{base}-{rid}") }
}

/// Makes the payloader write `rid` into every packet, under the extension id the offer announces.
fn tag_with_rid(pay: &gst::Element, rid: &'static str) -> Result<(), MediaError> {
    let ext = gst_rtp::RTPHeaderExtension::create_from_uri(RID_URI).ok_or_else(|| MediaError::MissingElement {
        element: "rtphdrextstreamid".into(),
        install: super::catalog::install_hint("rtphdrextstreamid"),
    })?;
    ext.set_id(RID_EXT_ID);
    ext.set_property("rid", rid);
    pay.emit_by_name::<()>("add-extension", &[&ext]);
    Ok(())
}

/// Puts the layers into webrtcbin's offer through the video transceiver's codec preferences:
/// GstSDP turns `rid-<id>=send`, `a-simulcast` and `extmap-N` caps fields into `a=rid`,
/// `a=simulcast` and `a=extmap` lines. Preferences replace the pad's caps in the offer, so they are
/// rebuilt from a payloader's negotiated caps when those arrive (before `create_offer` goes on):
/// the offer keeps the encoder's `profile-level-id` and `packetization-mode`. `funnel` must already be
/// linked to webrtcbin.
pub(super) fn announce(funnel: &gst::Element, video: &VideoSettings, payload: i32) -> Result<(), MediaError> {
    let link_err = || MediaError::Link { from: "video-funnel".into(), to: "webrtcbin".into() };
    let sink = funnel.static_pad("src").and_then(|p| p.peer()).ok_or_else(link_err)?;
    let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
    let rids: Vec<&'static str> = encodings(video).iter().map(|e| e.rid).collect();
    let base = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", "H264")
        .field("payload", payload)
        .field("clock-rate", 90_000i32)
        .build();
    transceiver.set_property("codec-preferences", with_layers(base, &rids));
    let webrtcbin = sink.parent_element().ok_or_else(link_err)?;
    forward_keyframe_requests(&webrtcbin, funnel, &rids)?;
    let rids: Arc<[&'static str]> = rids.into();
    let top_seen = Arc::new(AtomicBool::new(false));
    for (i, rid) in rids.iter().enumerate() {
        let name = layer_name("video-pay", rid, i == 0);
        let pay = funnel.parent().and_downcast::<gst::Bin>().and_then(|bin| bin.by_name(&name)).ok_or_else(link_err)?;
        tag_with_mid(&pay, &transceiver)?;
        let Some(src) = pay.static_pad("src") else { continue };
        let (transceiver, rids, top_seen) = (transceiver.clone(), Arc::clone(&rids), Arc::clone(&top_seen));
        // The funnel's own caps are bare `application/x-rtp`: the layers' fmtp comes from a
        // payloader, the top one's once it has caps (levels differ per size; the rest is equal).
        src.connect_notify(Some("caps"), move |pad, _| {
            let Some(caps) = pad.current_caps() else { return };
            if i == 0 {
                top_seen.store(true, Ordering::Release);
            } else if top_seen.load(Ordering::Acquire) {
                return;
            }
            transceiver.set_property("codec-preferences", with_layers(caps, &rids));
        });
    }
    Ok(())
}

/// Gets each layer's keyframe requests to its encoder. A PLI names the SSRC of the layer that
/// needs a keyframe, and webrtcbin passes it upstream only towards SSRCs it has seen in caps; it
/// sees the funnel's, which name none (one pad carries all layers), so the request would stop
/// inside webrtcbin. Its RTP session reports every feedback message (`on-feedback-rtcp`): a PLI
/// for a layer's SSRC (or a FIR, which names SSRCs only in its payload: every layer) becomes a
/// force-key-unit on that layer's encoder.
fn forward_keyframe_requests(webrtcbin: &gst::Element, funnel: &gst::Element, rids: &[&str]) -> Result<(), MediaError> {
    let missing = |what: &str| MediaError::Link { from: what.to_owned(), to: "webrtcbin".into() };
    let bin = funnel.parent().and_downcast::<gst::Bin>().ok_or_else(|| missing("video-funnel"))?;
    let mut layers = Vec::new();
    for (i, rid) in rids.iter().enumerate() {
        let pay = bin.by_name(&layer_name("video-pay", rid, i == 0)).ok_or_else(|| missing("video-pay"))?;
        let enc = bin.by_name(&layer_name("video-enc", rid, i == 0)).ok_or_else(|| missing("video-enc"))?;
        layers.push((pay.property::<u32>("ssrc"), enc));
    }
    let layers: Arc<[(u32, gst::Element)]> = layers.into();
    // webrtcbin's RTP bin is an implementation detail (as its ICE agent is): without it the
    // layers still get their periodic keyframes, so say so and carry on.
    let Some(rtpbin) = webrtcbin.downcast_ref::<gst::Bin>().and_then(|b| b.by_name("rtpbin")) else {
        tracing::warn!("no rtpbin in webrtcbin: simulcast layers get keyframes only at their interval");
        return Ok(());
    };
    let watched = Arc::new(AtomicBool::new(false));
    rtpbin.connect("on-new-sender-ssrc", false, move |args| {
        let (Some(rtpbin), Some(session)) =
            (args[0].get::<gst::Element>().ok(), args.get(1).and_then(|v| v.get::<u32>().ok()))
        else {
            return None;
        };
        if watched.swap(true, Ordering::AcqRel) {
            return None;
        }
        let rtp_session = rtpbin.emit_by_name::<gst::glib::Object>("get-internal-session", &[&session]);
        let layers = Arc::clone(&layers);
        rtp_session.connect("on-feedback-rtcp", false, move |args| {
            let field = |i: usize| args.get(i).and_then(|v| v.get::<u32>().ok());
            let (Some(kind), Some(fmt), Some(media_ssrc)) = (field(1), field(2), field(4)) else { return None };
            const PSFB: u32 = 206;
            const PLI: u32 = 1;
            const FIR: u32 = 4;
            if kind != PSFB || !(fmt == PLI || fmt == FIR) {
                return None;
            }
            for (ssrc, enc) in layers.iter().filter(|(ssrc, _)| fmt == FIR || *ssrc == media_ssrc) {
                let event = gst::event::CustomUpstream::new(
                    gst::Structure::builder("GstForceKeyUnit").field("all-headers", true).build(),
                );
                if !enc.static_pad("src").is_some_and(|pad| pad.send_event(event)) {
                    tracing::debug!(ssrc, "the layer's encoder did not take the keyframe request");
                }
            }
            None
        });
        None
    });
    Ok(())
}

/// `caps` with the simulcast fields, and without the SSRC (there is one per layer, not one).
fn with_layers(mut caps: gst::Caps, rids: &[&str]) -> gst::Caps {
    if let Some(s) = caps.make_mut().structure_mut(0) {
        for per_stream in ["ssrc", "timestamp-offset", "seqnum-offset"] {
            s.remove_field(per_stream);
        }
        s.set(format!("extmap-{MID_EXT_ID}").as_str(), MID_URI);
        s.set(format!("extmap-{RID_EXT_ID}").as_str(), RID_URI);
        s.set("a-simulcast", format!("send {}", rids.join(";")));
        for rid in rids {
            s.set(format!("rid-{rid}").as_str(), "send");
        }
    }
    caps
}

/// Makes the payloader write the m-line's MID into its packets: a receiver learns which m-line a
/// simulcast SSRC belongs to only from MID and RID together (there are no `a=ssrc` lines).
/// webrtcbin names the m-line when the offer is made, after the first frames; until then the
/// packets go nowhere anyway (webrtcbin holds them until it is negotiated).
fn tag_with_mid(pay: &gst::Element, transceiver: &gst_webrtc::WebRTCRTPTransceiver) -> Result<(), MediaError> {
    let ext = gst_rtp::RTPHeaderExtension::create_from_uri(MID_URI).ok_or_else(|| MediaError::MissingElement {
        element: "rtphdrextmid".into(),
        install: super::catalog::install_hint("rtphdrextmid"),
    })?;
    ext.set_id(MID_EXT_ID);
    pay.emit_by_name::<()>("add-extension", &[&ext]);
    let Some(src) = pay.static_pad("src") else { return Ok(()) };
    let transceiver = transceiver.clone();
    src.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, _| {
        match transceiver.property::<Option<String>>("mid") {
            Some(mid) => {
                ext.set_property("mid", mid);
                gst::PadProbeReturn::Remove
            }
            None => gst::PadProbeReturn::Ok,
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::SimulcastLayer;

    #[test]
    fn encodings_put_the_main_picture_on_top_and_order_layers_by_size() {
        let video = VideoSettings {
            width: 1280,
            height: 720,
            bitrate_kbps: 1500,
            simulcast: vec![
                SimulcastLayer { width: 320, height: 180, bitrate_kbps: 150 },
                SimulcastLayer { width: 640, height: 360, bitrate_kbps: 500 },
            ],
            ..VideoSettings::default()
        };
        let got: Vec<_> = encodings(&video).into_iter().map(|e| (e.rid, e.width, e.bitrate_kbps)).collect();
        assert_eq!(got, [("f", 1280, 1500), ("h", 640, 500), ("q", 320, 150)]);
    }

    #[test]
    fn no_layers_means_no_simulcast() {
        assert!(encodings(&VideoSettings::default()).is_empty());
    }
}
