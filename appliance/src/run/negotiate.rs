//! One negotiation with the hub, the same for publishing (WHIP) and the return feed (WHEP): our
//! offer with the box's certificate → POST → the hub's answer applied.

use std::time::Duration;

use gstreamer as gst;

use super::AttemptError;
use crate::media::{self, DtlsCertificate};
use crate::whip::{WhipClient, WhipSession};

/// Caps, offer and ICE gathering together; host candidates take milliseconds.
const OFFER_TIMEOUT: Duration = Duration::from_secs(10);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Negotiates `webrtcbin` with `hub`. `offered` runs once the offer exists (the ICE transport is
/// there from then on); `resource` holds the hub's resource as soon as it exists, so a failure
/// after the POST still deletes it at teardown.
pub(super) fn negotiate(
    webrtcbin: &gst::Element,
    certificate: &DtlsCertificate,
    hub: &WhipClient,
    resource: &mut Option<WhipSession>,
    what: &str,
    offered: impl FnOnce(),
) -> Result<(), AttemptError> {
    certificate.install(webrtcbin)?;
    let offer = media::create_offer(webrtcbin, OFFER_TIMEOUT)?;
    let offer = certificate.with_fingerprint(&offer);
    tracing::trace!(%offer, what, "local offer");
    offered();
    let answered = resource.insert(hub.publish(&offer)?);
    tracing::info!(resource = %answered.resource_url, what, "hub accepted the offer");
    tracing::trace!(answer = %answered.answer, what, "hub's answer");
    media::apply_answer(webrtcbin, &answered.answer, ANSWER_TIMEOUT)?;
    Ok(())
}
