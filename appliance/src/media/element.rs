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
