//! The claim code on the room's screen while the box waits to be enrolled: a plain dark picture
//! with the code in large type, so whoever installs the box can read it off the display. Headless
//! boxes (`--virtual`) render it into a `fakesink`, which keeps the same code path running.

use gstreamer as gst;
use gstreamer::prelude::*;

const TEXT: &str = "claim-text";

pub struct ClaimScreen {
    pipeline: gst::Pipeline,
    text: gst::Element,
}

impl ClaimScreen {
    /// Starts showing "waiting for a code". `headless`: render nowhere. Call after `media::init`.
    pub fn start(headless: bool) -> Result<Self, String> {
        let sink = if headless { "fakesink sync=true" } else { "autovideosink" };
        // 5 frames a second is plenty for text that changes once a day, and cheap on a Pi.
        let description = format!(
            "videotestsrc is-live=true pattern=solid-color foreground-color=0xff16202a \
             ! video/x-raw,width=1280,height=720,framerate=5/1 \
             ! textoverlay name={TEXT} valignment=center halignment=center font-desc=\"Sans Bold 44\" \
             ! videoconvert ! {sink}"
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| format!("claim screen: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "claim screen: not a pipeline".to_owned())?;
        let text = pipeline.by_name(TEXT).ok_or("claim screen: no text overlay")?;
        let screen = Self { pipeline, text };
        screen.show("Lectern\n\nConnecting to the hub…");
        screen.pipeline.set_state(gst::State::Playing).map_err(|e| format!("claim screen: {e}"))?;
        Ok(screen)
    }

    pub fn show_code(&self, code: &str) {
        self.show(&screen_text(code));
    }

    fn show(&self, text: &str) {
        self.text.set_property("text", text);
    }

    /// The running pipeline (for tests that walk its elements).
    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// What the screen says now.
    pub fn text(&self) -> String {
        self.text.property::<String>("text")
    }
}

impl Drop for ClaimScreen {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

pub fn screen_text(code: &str) -> String {
    format!("Lectern classroom box\n\nClaim code\n{code}\n\nEnter it in the hub's web admin:\nFleet → Enroll a box")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_screen_shows_the_code_and_plays() {
        crate::media::init().unwrap();
        let screen = ClaimScreen::start(true).unwrap();
        screen.show_code("K7QX-M2PD");
        assert!(screen.text().contains("K7QX-M2PD"));
        let (result, state, _) = screen.pipeline.state(gst::ClockTime::from_seconds(10));
        assert!(result.is_ok() && state == gst::State::Playing, "{result:?} {state:?}");
    }
}
