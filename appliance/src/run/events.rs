//! What reaches the runner from outside the supervisor's loop: the hub's control channel, the
//! panel's buttons and pushed configuration. Lessons go through the supervisor; the rest is
//! applied to the running pipelines directly.

use super::{Event, Runner, feed_input, media_input};
use crate::config::Settings;
use crate::control::{Command, ControlEvent, hands_text, lobby_text};
use crate::media::{self, Source, SourceKind};
use crate::panel::{Button, PanelAction};
use crate::supervisor::Input;

impl Runner {
    pub(super) fn handle_event(&mut self, event: Event) -> Option<Input> {
        match event {
            Event::Shutdown => {
                tracing::info!("shutdown requested");
                self.stopping = true;
                Some(Input::Stop)
            }
            Event::Media { generation, event } if generation == self.generation => media_input(event),
            Event::Media { .. } => None,
            Event::Feed { generation, event } if generation == self.feed_generation => feed_input(event),
            Event::Feed { .. } => None,
            Event::Panel(button) => self.press(button),
            Event::Control(event) => self.control(event),
        }
    }

    /// Applies what the hub's control channel says: lessons go through the supervisor like the
    /// panel's button, raised hands straight to the return feed's display.
    pub(super) fn control(&mut self, event: ControlEvent) -> Option<Input> {
        match event {
            ControlEvent::Up => self.reporter.control_up(),
            ControlEvent::Down { reason } => self.reporter.control_down(&reason),
            ControlEvent::Command(Command::GoLive) => return Some(self.set_lesson(true)),
            ControlEvent::Command(Command::End) => return Some(self.set_lesson(false)),
            ControlEvent::Command(Command::Hands(names)) => {
                self.hands = hands_text(&names);
                self.show_overlay();
            }
            ControlEvent::Command(Command::Lobby(names)) => {
                self.lobby = lobby_text(&names);
                self.show_overlay();
            }
            ControlEvent::Command(Command::Record { lesson, on }) => self.set_recording(lesson, on),
            ControlEvent::Configured(settings) => self.reconfigure(&settings),
        }
        None
    }

    /// The hands and lobby lines over the return feed's video.
    pub(super) fn overlay_text(&self) -> String {
        [self.hands.as_str(), self.lobby.as_str()].into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
    }

    pub(super) fn show_overlay(&self) {
        if let Some(Err(err)) = self.feed.as_ref().map(|f| f.playback.set_overlay(&self.overlay_text())) {
            tracing::warn!(%err, "cannot update the room display's overlay");
        }
    }

    /// The hub starts or stops recording the lesson.
    /// Recording starts on the playing pipeline (or the next one, if the lesson is not live yet).
    pub(super) fn set_recording(&mut self, lesson: lectern_proto::LessonId, on: bool) {
        tracing::info!(%lesson, on, "the hub switched recording");
        self.record.want(on.then_some(lesson), self.session.as_ref().map(|s| &s.pipeline));
        self.show_recording();
    }

    /// The status endpoint's `recording`, after it changed.
    pub(super) fn show_recording(&self) {
        let recording = self.record.status();
        self.reporter.board().update(|s| s.recording = recording);
    }

    pub(super) fn set_lesson(&mut self, on: bool) -> Input {
        if !on {
            // The lesson's end ends its recording; the next lesson is asked for anew.
            self.record.want(None, None);
            self.show_recording();
        }
        self.reporter.panel.lesson = on;
        self.reporter.panel_changed();
        if on { Input::Start } else { Input::Stop }
    }

    /// Takes the pushed video and audio-processing settings for the next pipeline (the next
    /// lesson, or the next reconnect): a running lesson is not interrupted for them. The
    /// encoder, devices, hub and panel are chosen at start-up and change at the next restart.
    pub(super) fn reconfigure(&mut self, settings: &Settings) {
        let v = &settings.video;
        let video = &mut self.media.video;
        let bitrate_changed = video.bitrate_kbps != v.bitrate_kbps;
        (video.width, video.height, video.framerate) = (v.width, v.height, v.framerate);
        (video.bitrate_kbps, video.keyframe_interval_s) = (v.bitrate_kbps, v.keyframe_interval_s);
        video.min_bitrate_kbps = v.adapt_bitrate.then_some(v.min_bitrate_kbps);
        let a = &settings.audio;
        (self.media.audio.aec, self.media.audio.ns, self.media.audio.agc) = (a.aec, a.ns, a.agc);
        let capture = matches!(self.media.source, Source::Capture { .. });
        if let Source::Capture { camera, mic } = &mut self.media.source {
            // The configured name or path; a name the probe cannot place is kept and fails loudly
            // when the next pipeline opens it.
            *camera = crate::probe::resolve_camera(&settings.camera).unwrap_or_else(|_| settings.camera.clone());
            mic.clone_from(&a.mic);
        }
        // The laptop may be switched on, off or resized by a push like the rest.
        let encoder = self.media.video.encoder.clone();
        self.media.content = settings
            .content
            .as_ref()
            .map(|c| crate::content::content_settings(c, v.keyframe_interval_s, &encoder, capture));
        // The bitrate is what admins change during a lesson (a weak uplink): apply it now where
        // the encoder allows; the rest applies from the next pipeline.
        // While following the uplink, the new bounds go to the adaptation, which sets the rates.
        let adapting = self.session.as_ref().and_then(|s| s.uplink.as_ref());
        let ladder = crate::uplink::ladder(&self.media.video);
        if let (Some(task), Some(ladder)) = (adapting, ladder) {
            task.set_ladder(ladder);
            tracing::info!("pushed bitrate bounds applied to the uplink adaptation");
        } else if bitrate_changed
            && self.session.as_ref().is_some_and(|s| media::set_live_bitrate(s.pipeline.gst_pipeline(), v.bitrate_kbps))
        {
            tracing::info!(bitrate_kbps = v.bitrate_kbps, "pushed bitrate applied to the running encoder");
        }
        tracing::info!("pushed configuration applies from the next pipeline");
    }

    /// Applies a panel press: lessons go through the supervisor, mute and privacy straight
    /// to the playing pipeline (and to the settings, so the next pipeline keeps them).
    pub(super) fn press(&mut self, button: Button) -> Option<Input> {
        let action = self.reporter.panel.press(button);
        self.reporter.panel_changed();
        let controls = &mut self.media.controls;
        let applied = match action {
            PanelAction::StartLesson => return Some(Input::Start),
            // The end of a lesson, not of the appliance: the runner goes on idling.
            PanelAction::EndLesson => {
                self.record.want(None, None);
                self.show_recording();
                return Some(Input::Stop);
            }
            PanelAction::SetMuted(muted) => {
                controls.muted = muted;
                self.session.as_ref().map(|s| s.pipeline.set_muted(muted))
            }
            PanelAction::SetPrivacy(privacy) => {
                controls.privacy = privacy;
                // A lost camera stays covered by its stand-in whatever privacy says.
                let lost = self.supervisor.source_lost(SourceKind::Camera);
                self.session
                    .as_ref()
                    .filter(|s| !(lost && s.pipeline.passes_through()))
                    .map(|s| s.pipeline.set_privacy(privacy))
            }
        };
        if let Some(Err(err)) = applied {
            tracing::error!(%err, ?action, "panel control failed");
        }
        None
    }
}
