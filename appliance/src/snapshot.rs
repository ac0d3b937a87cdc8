//! Camera snapshots for the fleet view: a pad probe on the publishing pipeline's raw video keeps
//! the latest frame (a reference, no copy, at most one a second); on the hub's request it is
//! scaled to a 320-pixel-wide JPEG by a one-shot pipeline. Outside lessons the camera is closed
//! and there is no frame, which is the answer the admin gets: the box never opens its camera just
//! to be looked at. In privacy mode the frames are already black.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

/// The raw-video element of the publishing pipeline whose output is sampled.
const TAPPED: &str = "video-convert";
const EVERY: Duration = Duration::from_secs(1);
const ENCODE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Latest {
    sample: Option<gst::Sample>,
    at: Option<Instant>,
    /// Which pipeline the sample came from, so a new pipeline's tap replaces an old one's.
    generation: u64,
}

/// Shared between the thread that builds pipelines and the control thread. Cheap to clone.
#[derive(Clone, Default)]
pub struct SnapshotTap {
    latest: Arc<Mutex<Latest>>,
}

impl SnapshotTap {
    fn lock(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts sampling `pipeline` (replacing any earlier pipeline). A pipeline without raw video
    /// (H.264 straight from the camera) has nothing to sample; the answer then says so.
    pub fn attach(&self, pipeline: &gst::Pipeline) {
        let generation = {
            let mut latest = self.lock();
            latest.generation += 1;
            latest.sample = None;
            latest.at = None;
            latest.generation
        };
        let Some(pad) = pipeline.by_name(TAPPED).and_then(|e| e.static_pad("src")) else { return };
        let latest = self.latest.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let mut l = latest.lock().unwrap_or_else(|e| e.into_inner());
            if l.generation != generation {
                return gst::PadProbeReturn::Remove;
            }
            if l.at.is_some_and(|at| at.elapsed() < EVERY) {
                return gst::PadProbeReturn::Ok;
            }
            if let (Some(buffer), Some(caps)) = (info.buffer(), pad.current_caps()) {
                l.sample = Some(gst::Sample::builder().buffer(buffer).caps(&caps).build());
                l.at = Some(Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// The camera is closed: forget the last frame so no stale picture is sent.
    pub fn detach(&self) {
        let mut latest = self.lock();
        latest.generation += 1;
        latest.sample = None;
        latest.at = None;
    }

    /// A JPEG of the latest frame, or why there is none.
    pub fn jpeg(&self) -> Result<Vec<u8>, String> {
        let sample = {
            let latest = self.lock();
            match (&latest.sample, latest.at) {
                (Some(sample), Some(at)) if at.elapsed() < Duration::from_secs(10) => sample.clone(),
                _ => return Err("the camera is closed outside lessons".to_owned()),
            }
        };
        encode(&sample)
    }
}

fn encode(sample: &gst::Sample) -> Result<Vec<u8>, String> {
    let caps = sample.caps().ok_or("the frame has no format")?;
    let s = caps.structure(0).ok_or("the frame has no format")?;
    let (w, h) = (s.get::<i32>("width").unwrap_or(1280), s.get::<i32>("height").unwrap_or(720));
    let height = ((320 * h.max(1) / w.max(1)) & !1).max(2);
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time ! videoconvert ! videoscale ! video/x-raw,width=320,height={height} \
         ! jpegenc quality=70 ! appsink name=sink sync=false"
    ))
    .map_err(|e| format!("snapshot encoder: {e}"))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "snapshot encoder: not a pipeline".to_owned())?;
    let src = pipeline.by_name("src").ok_or("snapshot encoder: no appsrc")?;
    let sink = pipeline.by_name("sink").ok_or("snapshot encoder: no appsink")?;
    src.set_property("caps", caps.to_owned());
    let result = (|| {
        pipeline.set_state(gst::State::Playing).map_err(|e| format!("snapshot encoder: {e}"))?;
        let pushed = src.emit_by_name::<gst::FlowReturn>("push-sample", &[sample]);
        if pushed != gst::FlowReturn::Ok {
            return Err(format!("snapshot encoder: {pushed:?}"));
        }
        // The one frame is all there is; the encoder flushes it on end-of-stream.
        let _ = src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
        let timeout = gst::ClockTime::from_mseconds(ENCODE_TIMEOUT.as_millis() as u64);
        let jpeg = sink
            .emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&timeout])
            .ok_or("snapshot encoder: no picture in time")?;
        let buffer = jpeg.buffer().ok_or("snapshot encoder: empty picture")?;
        let map = buffer.map_readable().map_err(|_| "snapshot encoder: unreadable picture".to_owned())?;
        Ok(map.as_slice().to_vec())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_of_the_running_pipeline_becomes_a_small_jpeg() {
        crate::media::init().unwrap();
        let tap = SnapshotTap::default();
        assert!(tap.jpeg().unwrap_err().contains("closed"), "no pipeline, no picture");
        let pipeline = gst::parse::launch(
            "videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=10/1 \
             ! videoconvert name=video-convert ! fakesink",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        tap.attach(&pipeline);
        pipeline.set_state(gst::State::Playing).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let jpeg = loop {
            match tap.jpeg() {
                Ok(jpeg) => break jpeg,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Err(err) => panic!("{err}"),
            }
        };
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() < 48 * 1024, "{} bytes", jpeg.len());
        tap.detach();
        assert!(tap.jpeg().is_err(), "a closed camera gives no stale picture");
    }
}
