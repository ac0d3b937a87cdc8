//! Publishing the room: build and play the capture pipeline, negotiate it with the hub (WHIP),
//! keep its devices on their stand-ins while they are gone, and take it all down again.

use std::path::Path;
use std::time::Instant;

use gstreamer::prelude::*;

use super::negotiate::negotiate;
use super::{AttemptError, Event, Runner, Session, error_chain};
use crate::media::{
    self, EchoProbe, InboundMonitor, MediaError, MediaEvent, MediaSettings, MediaStats, PeerState, PipelineOptions,
    Source, SourceKind,
};
use crate::status::StatusBoard;
use crate::supervisor::Input;
use crate::uplink::{self, UplinkStatus, UplinkTask};
use crate::whip::{WhipError, WhipSession};

impl Runner {
    /// Tells the supervisor when the hub was last heard from, just before it checks for silence.
    pub(super) fn report_inbound(&mut self) {
        let heard = self.session.as_ref().and_then(|s| s.inbound.as_ref()).and_then(InboundMonitor::last_inbound);
        if let Some(at) = heard {
            self.supervisor.handle_input(Input::Heard(at), Instant::now());
        }
    }

    pub(super) fn use_stand_in(&mut self, kind: SourceKind) {
        tracing::warn!(source = kind.name(), "device lost; sending its stand-in");
        if let Some(Err(err)) = self.session.as_ref().map(|s| s.pipeline.use_stand_in(kind)) {
            tracing::error!(%err, source = kind.name(), "cannot switch to the stand-in");
        }
    }

    /// Reopens a device that is back; if it fails again, it is lost again.
    pub(super) fn reopen(&mut self, kind: SourceKind) {
        tracing::info!(source = kind.name(), "device is back; reopening it");
        let privacy = self.media.controls.privacy;
        let reopened = self.session.as_ref().map(|s| {
            s.pipeline.reopen(kind)?;
            // A passed-through camera's privacy is the stand-in, which reopening replaced.
            if privacy && kind == SourceKind::Camera { s.pipeline.set_privacy(true) } else { Ok(()) }
        });
        if let Some(Err(err)) = reopened {
            self.feed(Input::SourceLost { kind, reason: error_chain(&err) });
        }
    }

    /// Whether `kind`'s device is there: the camera's device path exists (for virtual sources,
    /// the test plug file if one is set). ALSA names are not paths: a lost microphone counts as
    /// present and is simply tried again at each check.
    pub(super) fn source_present(&self, kind: SourceKind) -> bool {
        match (kind, &self.media.source) {
            (SourceKind::Camera, Source::Capture { camera, .. }) => {
                !camera.starts_with('/') || Path::new(camera).exists()
            }
            (SourceKind::Camera, _) => self.camera_plug.as_deref().is_none_or(Path::exists),
            (SourceKind::Content, Source::Capture { .. }) => {
                self.media.content.as_ref().is_some_and(|c| !c.device.starts_with('/') || Path::new(&c.device).exists())
            }
            (SourceKind::Content, _) => self.content_plug.as_deref().is_none_or(Path::exists),
            (SourceKind::Microphone, _) => true,
        }
    }

    pub(super) fn build_and_publish(&mut self) -> Input {
        self.generation += 1;
        match self.publish() {
            Ok(()) => {
                if let Some(session) = &self.session {
                    self.record.attach(&session.pipeline);
                }
                self.show_recording();
                Input::Published
            }
            Err(err) => {
                let reason = error_chain(&err);
                if let AttemptError::Media(MediaError::SourceFailed { kind, detail }) = &err {
                    // The next attempt starts on the stand-in instead of failing the same way.
                    self.feed(Input::SourceLost { kind: *kind, reason: detail.clone() });
                }
                if let AttemptError::Whip(WhipError::CredentialsRejected { .. }) = err {
                    tracing::error!(%reason, "the hub rejected this device's token: check LECTERN_TOKEN; retrying slowly");
                } else {
                    tracing::warn!(%reason, "publish attempt failed");
                }
                let retryable = match &err {
                    AttemptError::Media(e) => e.is_retryable(),
                    AttemptError::Whip(e) => e.is_retryable(),
                };
                Input::PublishFailed { retryable, reason }
            }
        }
    }

    /// Builds and plays the pipeline, then offer → WHIP POST → answer. On error, whatever was
    /// set up stays in `self.session` for the `Detach` the supervisor orders next.
    pub(super) fn publish(&mut self) -> Result<(), AttemptError> {
        // Made before the first pipeline that wants it (AEC may also be switched on by a push).
        if self.echo.is_none() {
            self.echo = echo_probe(&self.media);
        }
        // A device already gone is not opened: the lesson starts on its stand-in.
        let devices: &[SourceKind] = if self.media.content.is_some() {
            &[SourceKind::Camera, SourceKind::Content]
        } else {
            &[SourceKind::Camera]
        };
        for &kind in devices {
            if !self.supervisor.source_lost(kind) && !self.source_present(kind) {
                let reason = format!("{}: no device", kind.name());
                self.supervisor.handle_input(Input::SourceLost { kind, reason }, Instant::now());
            }
        }
        let options = PipelineOptions {
            echo: self.echo.clone(),
            camera_lost: self.supervisor.source_lost(SourceKind::Camera),
            mic_lost: self.supervisor.source_lost(SourceKind::Microphone),
            content_lost: self.supervisor.source_lost(SourceKind::Content),
            virtual_camera_plug: self.camera_plug.clone(),
            virtual_content_plug: self.content_plug.clone(),
            camera_mode: self.camera_mode.clone(),
            flash: self.flash,
        };
        let pipeline = media::build_pipeline_with(&self.media, &options)?;
        let (tx, generation) = (self.events_tx.clone(), self.generation);
        pipeline.watch(move |event| {
            // The runner outlives every pipeline it watches, except at process exit.
            let _ = tx.send(Event::Media { generation, event });
        });
        let session = self.session.insert(Session { pipeline, whip: None, inbound: None, uplink: None });
        // A camera that encodes H.264 itself publishes one stream whatever the configuration says.
        let layers = if session.pipeline.passes_through() {
            Vec::new()
        } else {
            media::simulcast_encodings(&self.media.video).iter().map(ToString::to_string).collect()
        };
        self.reporter.board().update(|s| {
            s.camera_open = true;
            s.simulcast = layers;
        });
        session.pipeline.play()?;
        self.reporter.board().set_stats(MediaStats::attach(session.pipeline.gst_pipeline()));
        self.reporter.board().snapshots().attach(session.pipeline.gst_pipeline());
        self.reporter.board().loss().attach(session.pipeline.webrtcbin());
        session.uplink = adapt_to_uplink(&self.media, &session.pipeline, self.reporter.board());
        let inbound = &mut session.inbound;
        negotiate(session.pipeline.webrtcbin(), &self.certificate, &self.whip, &mut session.whip, "publish", || {
            *inbound = InboundMonitor::attach(session.pipeline.webrtcbin());
            if inbound.is_none() {
                tracing::warn!("no ICE transport to watch: a vanished hub is only noticed if ICE fails");
            }
        })?;
        Ok(())
    }

    /// Ends the session and `DELETE`s its WHIP resource, and a detached one's.
    pub(super) fn teardown(&mut self) {
        let ended = self.end_session();
        for published in ended.iter().chain(self.replaced.take().as_ref()) {
            self.delete_resource(published);
        }
    }

    /// Ends a failed session but keeps its WHIP resource for the next session to take over on
    /// the hub (see `Output::Detach`). An older detached one is superseded by now: it goes.
    pub(super) fn detach(&mut self) {
        let Some(published) = self.end_session() else { return };
        tracing::info!(resource = %published.resource_url, "session detached; the next one takes over its place in the room");
        if let Some(older) = self.replaced.replace(published) {
            self.delete_resource(&older);
        }
    }

    /// The new session is up: the one it replaced goes.
    pub(super) fn release_replaced(&mut self) {
        if let Some(replaced) = self.replaced.take() {
            tracing::info!(resource = %replaced.resource_url, "the new session took over; deleting the old one");
            self.delete_resource(&replaced);
        }
    }

    fn delete_resource(&self, published: &WhipSession) {
        match self.whip.delete(published) {
            Ok(()) => tracing::debug!(resource = %published.resource_url, "WHIP resource deleted"),
            // Gone already (the hub let go of it) is fine: the session is over either way.
            Err(err) => tracing::debug!(reason = %error_chain(&err), "WHIP DELETE failed (ignored)"),
        }
    }

    /// Pipeline to `Null` and the status cleared; the WHIP resource, if the hub answered, is
    /// the caller's to delete or keep.
    fn end_session(&mut self) -> Option<WhipSession> {
        self.generation += 1;
        self.reporter.board().set_stats(None);
        self.reporter.board().snapshots().detach();
        self.reporter.board().loss().detach();
        // The files are finished before the pipeline they copy from stops.
        self.record.detach();
        self.show_recording();
        let session = self.session.take()?;
        drop(session.uplink);
        session.pipeline.shutdown();
        self.reporter.board().update(|s| {
            s.camera_open = false;
            s.simulcast.clear();
            s.uplink = UplinkStatus::default();
        });
        session.whip
    }
}

/// Starts following the uplink with the camera's encoders, when configured and the box encodes
/// the camera itself (a camera's own H.264 has one fixed rate).
fn adapt_to_uplink(media: &MediaSettings, pipeline: &media::Pipeline, board: &StatusBoard) -> Option<UplinkTask> {
    let ladder = uplink::ladder(&media.video)?;
    if pipeline.passes_through() {
        tracing::info!("the camera encodes itself: its bitrate cannot follow the uplink");
        return None;
    }
    tracing::info!(?ladder, "the camera's bitrate follows the uplink");
    let weak = pipeline.gst_pipeline().downgrade();
    let apply = move |kbps: &[u32]| weak.upgrade().is_some_and(|p| media::set_layer_bitrates(&p, kbps));
    match UplinkTask::spawn(ladder, board.loss().clone(), board.clone(), apply) {
        Ok(task) => Some(task),
        Err(err) => {
            tracing::error!(%err, "cannot start the uplink thread: the camera keeps its configured bitrate");
            None
        }
    }
}

/// An echo probe, when echo cancellation applies; the runner keeps it from then on.
fn echo_probe(media: &MediaSettings) -> Option<EchoProbe> {
    if !(media.audio.aec && media.source.hears_a_room()) {
        return None;
    }
    match EchoProbe::new() {
        Ok(probe) => Some(probe),
        Err(err) => {
            tracing::error!(%err, "echo cancellation unavailable: remote students will hear themselves");
            None
        }
    }
}

/// Which pipeline events change the supervisor's mind. `connection-state` folds ICE and DTLS,
/// so ICE alone only counts when it fails outright.
pub(super) fn media_input(event: MediaEvent) -> Option<Input> {
    tracing::debug!(?event, "media event");
    match event {
        MediaEvent::Connection(PeerState::Connected) => Some(Input::Connected),
        MediaEvent::Connection(PeerState::Disconnected) => Some(Input::Disconnected),
        MediaEvent::Connection(state @ (PeerState::Failed | PeerState::Closed)) => {
            Some(Input::ConnectionLost { reason: format!("peer connection {state:?}").to_lowercase() })
        }
        MediaEvent::Ice(PeerState::Failed) => Some(Input::ConnectionLost { reason: "ICE failed".to_owned() }),
        // A failing camera or microphone is replaced, not the session.
        MediaEvent::Error { element, message } => match media::source_of(&element) {
            Some(kind) => Some(Input::SourceLost { kind, reason: message }),
            None => Some(Input::ConnectionLost { reason: message }),
        },
        MediaEvent::EndOfStream => Some(Input::ConnectionLost { reason: "media ended".to_owned() }),
        MediaEvent::Connection(_) | MediaEvent::Ice(_) => None,
    }
}
