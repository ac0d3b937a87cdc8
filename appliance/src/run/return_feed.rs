//! The return feed: the remote students played in the room (WHEP), started once the room is live,
//! retried on its own and stopped with the lesson. Its failures never take publishing down.

use super::negotiate::negotiate;
use super::{AttemptError, Event, Feed, Runner, error_chain};
use crate::media::{self, MediaEvent, PeerState};
use crate::supervisor::Input;

impl Runner {
    /// Builds, plays and requests the return feed. `None` once the hub answered (the connection
    /// reports in later), `FeedFailed` otherwise; whatever was set up stays in `self.feed` for
    /// the `StopFeed` that follows.
    pub(super) fn start_feed(&mut self) -> Option<Input> {
        self.feed_generation += 1;
        let err = self.request_feed().err()?;
        let reason = error_chain(&err);
        Some(Input::FeedFailed { reason })
    }

    pub(super) fn request_feed(&mut self) -> Result<(), AttemptError> {
        // A previous feed still holding the echo probe would keep the new one from using it.
        self.feed = None;
        let playback = match &self.echo {
            Some(probe) => media::build_playback_with_echo(&self.playback, probe)?,
            None => media::build_playback(&self.playback)?,
        };
        let (tx, generation) = (self.events_tx.clone(), self.feed_generation);
        playback.pipeline.watch(move |event| {
            // The runner outlives every pipeline it watches, except at process exit.
            let _ = tx.send(Event::Feed { generation, event });
        });
        let overlay = self.overlay_text();
        let feed = self.feed.insert(Feed { playback, whep: None });
        let pipeline = &feed.playback.pipeline;
        pipeline.play()?;
        self.reporter.board().set_return_stats(Some(feed.playback.stats.clone()));
        if !overlay.is_empty()
            && let Err(err) = feed.playback.set_overlay(&overlay)
        {
            tracing::warn!(%err, "cannot update the room display's overlay");
        }
        negotiate(pipeline.webrtcbin(), &self.certificate, &self.whep, &mut feed.whep, "return feed", || {})?;
        Ok(())
    }

    pub(super) fn stop_feed(&mut self) {
        self.feed_generation += 1;
        self.reporter.board().set_return_stats(None);
        let Some(feed) = self.feed.take() else {
            return;
        };
        if let Some(resource) = &feed.whep
            && let Err(err) = self.whep.delete(resource)
        {
            tracing::debug!(reason = %error_chain(&err), "WHEP DELETE failed (ignored)");
        }
        feed.playback.pipeline.shutdown();
    }
}

/// Which return-feed events end it. A `Disconnected` feed is left alone: it either recovers or
/// the publish session, which shares the path to the hub, notices first and stops both.
pub(super) fn feed_input(event: MediaEvent) -> Option<Input> {
    tracing::debug!(?event, "return feed event");
    let reason = match event {
        MediaEvent::Connection(PeerState::Connected) => return Some(Input::FeedConnected),
        MediaEvent::Connection(state @ (PeerState::Failed | PeerState::Closed)) => {
            format!("peer connection {state:?}").to_lowercase()
        }
        MediaEvent::Ice(PeerState::Failed) => "ICE failed".to_owned(),
        MediaEvent::Error { message, .. } => message,
        MediaEvent::EndOfStream => "media ended".to_owned(),
        MediaEvent::Connection(_) | MediaEvent::Ice(_) => return None,
    };
    Some(Input::FeedFailed { reason })
}
