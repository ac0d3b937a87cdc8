//! Making and joining elements, shared by every pipeline builder. A missing element's error names
//! the package that ships it, from the `catalog`.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::catalog;

/// A new element of `factory` called `name`, or an error naming the package to install.
pub(super) fn make(factory: &str, name: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory).name(name).build().map_err(|_| MediaError::MissingElement {
        element: factory.to_owned(),
        install: catalog::install_hint(factory),
    })
}

/// Adds `chain` to `pipeline` and links it in order.
pub(super) fn add_and_link(pipeline: &gst::Pipeline, chain: &[gst::Element]) -> Result<(), MediaError> {
    for element in chain {
        pipeline.add(element).map_err(|_| add_error(&element.name()))?;
    }
    for pair in chain.windows(2) {
        pair[0]
            .link(&pair[1])
            .map_err(|_| MediaError::Link { from: pair[0].name().to_string(), to: pair[1].name().to_string() })?;
    }
    Ok(())
}

pub(super) fn add_error(name: &str) -> MediaError {
    MediaError::Link { from: name.to_owned(), to: "pipeline".to_owned() }
}

/// A queue between capture and encoder so a slow encoder drops old frames instead of
/// stalling the source: latency matters more than completeness in a live lesson.
pub(super) fn leaky_queue(name: &str) -> Result<gst::Element, MediaError> {
    let queue = make("queue", name)?;
    queue.set_property("max-size-buffers", 3u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 0u64);
    queue.set_property_from_str("leaky", "downstream");
    Ok(queue)
}

pub(super) fn capsfilter(name: &str, caps: gst::Caps) -> Result<gst::Element, MediaError> {
    let filter = make("capsfilter", name)?;
    filter.set_property("caps", caps);
    Ok(filter)
}

/// Makes libnice keep the connection alive with STUN binding *requests* instead of
/// indications. The hub (str0m, ICE-lite) only counts requests as consent (RFC 7675) and
/// drops a publisher after ~15 s without them; libnice also fails the pair when requests go
/// unanswered, which is how a vanished hub shows up as ICE failure. The NiceAgent is reached
/// through webrtcbin's `ice-agent`, which GStreamer documents as implementation-specific:
/// if the properties are missing, say so and carry on (`InboundMonitor` still notices silence).
pub(super) fn check_consent(webrtcbin: &gst::Element) {
    let agent = webrtcbin
        .property::<Option<gst::glib::Object>>("ice-agent")
        .filter(|ice| ice.find_property("agent").is_some())
        .and_then(|ice| ice.property::<Option<gst::glib::Object>>("agent"));
    match agent {
        Some(agent) if agent.find_property("keepalive-conncheck").is_some() => {
            agent.set_property("keepalive-conncheck", true);
        }
        _ => tracing::warn!("cannot make libnice send consent checks; the hub may drop idle-looking sessions"),
    }
}

/// Restricts ICE gathering to `addresses` (libnice never offers loopback by itself, so a hub on
/// the same machine is unreachable without it).
pub(super) fn gather_on(webrtcbin: &gst::Element, addresses: &[std::net::IpAddr]) {
    let Some(ice) = webrtcbin.property::<Option<gst::glib::Object>>("ice-agent") else { return };
    for addr in addresses {
        let added = ice.emit_by_name::<bool>("add-local-ip-address", &[&addr.to_string()]);
        if !added {
            tracing::warn!(%addr, "ICE agent refused the local address");
        }
    }
}
