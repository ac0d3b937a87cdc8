//! The IO shell around `Supervisor`: one thread that executes its outputs (build a pipeline,
//! publish over WHIP, start or stop the return feed over WHEP, tear down) and turns
//! webrtcbin/bus events, timeouts and shutdown requests into its inputs. Blocking work happens
//! here, never on GStreamer's threads.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::config::Settings;
use crate::control::{Command, ControlEvent, hands_text, lobby_text};
use crate::media::SourceKind;
use crate::media::{
    self, CameraMode, DtlsCertificate, EchoProbe, InboundMonitor, MediaError, MediaEvent, MediaSettings, MediaStats,
    PeerState, Pipeline, PipelineOptions, Playback, PlaybackSettings, Source,
};
use crate::panel::{Button, PanelAction, PanelHandle};
use crate::report::Reporter;
use crate::supervisor::{Input, Output, Supervisor, SupervisorConfig};
use crate::whip::{WhipClient, WhipError, WhipSession};

/// Caps, offer and ICE gathering together; host candidates take milliseconds.
const OFFER_TIMEOUT: Duration = Duration::from_secs(10);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What reaches the runner thread from elsewhere.
#[derive(Debug)]
pub enum Event {
    /// From the pipeline of session `generation`; older generations are stale and ignored.
    Media {
        generation: u64,
        event: MediaEvent,
    },
    /// From the return-feed pipeline of feed session `generation`.
    Feed {
        generation: u64,
        event: MediaEvent,
    },
    /// A panel button was pressed.
    Panel(Button),
    /// From the hub's control channel.
    Control(ControlEvent),
    Shutdown,
}

/// Asks a running `Runner` to stop cleanly. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct ShutdownHandle(Sender<Event>);

impl ShutdownHandle {
    pub fn request(&self) {
        // If the runner is gone it has already stopped.
        let _ = self.0.send(Event::Shutdown);
    }
}

#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Whip(#[from] WhipError),
}

struct Session {
    pipeline: Pipeline,
    whip: Option<WhipSession>,
    inbound: Option<InboundMonitor>,
}

/// A running return feed: its pipeline and, once the hub answered, its WHEP resource.
struct Feed {
    playback: Playback,
    whep: Option<WhipSession>,
}

/// The hub's two endpoints for this room.
pub struct HubClients {
    /// `/whip/{room}`: the room's camera and microphone.
    pub publish: WhipClient,
    /// `/whep/{room}/return`: the remote students, played in the room.
    pub return_feed: WhipClient,
}

pub struct Runner {
    supervisor: Supervisor<StdRng>,
    whip: WhipClient,
    whep: WhipClient,
    media: MediaSettings,
    playback: PlaybackSettings,
    /// One per process: generating a key per attempt would only cost time.
    certificate: DtlsCertificate,
    /// What the speaker plays, for the microphone's echo canceller; lives as long as the
    /// runner because webrtcdsp looks it up by name when a publish pipeline starts. `None` when
    /// AEC is off, the source is a test tone, or the element is missing (then AEC is off).
    echo: Option<EchoProbe>,
    /// Test hook: with virtual sources, the camera counts as plugged in only while this exists.
    camera_plug: Option<PathBuf>,
    /// The same for the virtual content source.
    content_plug: Option<PathBuf>,
    /// How to open the camera, chosen from its formats at start-up.
    camera_mode: Option<CameraMode>,
    /// Measurement hook: virtual frames flip white/black with the wall clock's seconds.
    flash: bool,
    events_tx: Sender<Event>,
    events_rx: Receiver<Event>,
    session: Option<Session>,
    /// Bumped per session so events of a torn-down pipeline cannot touch the next one.
    generation: u64,
    feed: Option<Feed>,
    /// The same for return-feed sessions.
    feed_generation: u64,
    stopping: bool,
    reporter: Reporter,
    /// The raised-hands line over the return feed's video (empty: none).
    hands: String,
    /// The lobby line under it (empty: none).
    lobby: String,
}

impl Runner {
    pub fn new(
        hub: HubClients,
        media: MediaSettings,
        playback: PlaybackSettings,
        certificate: DtlsCertificate,
        reporter: Reporter,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::channel();
        Self {
            supervisor: Supervisor::new(SupervisorConfig::default(), StdRng::from_os_rng()),
            whip: hub.publish,
            whep: hub.return_feed,
            media,
            playback,
            certificate,
            echo: None,
            camera_plug: None,
            content_plug: None,
            camera_mode: None,
            flash: false,
            events_tx,
            events_rx,
            session: None,
            generation: 0,
            feed: None,
            feed_generation: 0,
            stopping: false,
            reporter,
            hands: String::new(),
            lobby: String::new(),
        }
    }

    /// Test hook for `--virtual`: the test camera behaves as if unplugged while `plug` (a file)
    /// does not exist, so tests can take the box through unplug and replug.
    pub fn set_virtual_camera_plug(&mut self, plug: PathBuf) {
        self.camera_plug = Some(plug);
    }

    /// Test hook for `--virtual`: the same for the content source (the teacher's laptop).
    pub fn set_virtual_content_plug(&mut self, plug: PathBuf) {
        self.content_plug = Some(plug);
    }

    /// Measurement hook for `--virtual`: paint frames white/black by wall-clock second so a viewer
    /// can time glass-to-glass delay.
    pub fn set_flash(&mut self, flash: bool) {
        self.flash = flash;
    }

    /// Opens the camera in `mode` (e.g. its own H.264, passed through) from the next pipeline.
    pub fn set_camera_mode(&mut self, mode: CameraMode) {
        self.camera_mode = Some(mode);
    }

    /// Lets panel LEDs show the state from now on.
    pub fn attach_panel(&mut self, leds: PanelHandle) {
        self.reporter.attach_leds(leds);
    }

    /// Where a panel thread delivers presses; returns false once the runner is gone.
    pub fn panel_sink(&self) -> impl Fn(Button) -> bool + Send + 'static {
        let tx = self.events_tx.clone();
        move |button| tx.send(Event::Panel(button)).is_ok()
    }

    /// Where the control-channel thread delivers; returns false once the runner is gone.
    pub fn control_sink(&self) -> impl Fn(ControlEvent) -> bool + Send + 'static {
        let tx = self.events_tx.clone();
        move |event| tx.send(Event::Control(event)).is_ok()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.events_tx.clone())
    }

    /// Runs until shutdown is requested. With `live_at_start` it publishes at once (the demo, the
    /// tests, a box started by hand); otherwise the camera stays closed until a lesson starts (the
    /// hub's `goLive` or the panel) and closes again when it ends.
    pub fn run(mut self, live_at_start: bool) {
        tracing::info!(endpoint = self.whip.endpoint(), live_at_start, "starting");
        if live_at_start {
            self.reporter.panel.lesson = true;
            self.feed(Input::Start);
        } else {
            self.reporter.status("waiting for a lesson", self.supervisor.state());
        }
        loop {
            let wake = self.perform_outputs();
            if self.stopping {
                self.reporter.stopping();
                tracing::info!("stopped");
                return;
            }
            let input = self.next_input(wake);
            self.feed(input);
        }
    }

    /// Hands `input` to the supervisor, noting failures for the status endpoint.
    fn feed(&mut self, input: Input) {
        if let Input::PublishFailed { reason, .. }
        | Input::ConnectionLost { reason }
        | Input::SourceLost { reason, .. } = &input
        {
            self.reporter.error(reason);
        }
        self.supervisor.handle_input(input, Instant::now());
    }

    /// Executes the supervisor's actions; returns when it next wants to be woken.
    fn perform_outputs(&mut self) -> Option<Instant> {
        loop {
            match self.supervisor.poll_output()? {
                Output::WaitUntil(at) => return Some(at),
                Output::Status(status) => self.reporter.status(&status, self.supervisor.state()),
                Output::Teardown => self.teardown(),
                Output::BuildAndPublish => {
                    let input = self.build_and_publish();
                    self.feed(input);
                }
                Output::StartFeed => {
                    if let Some(input) = self.start_feed() {
                        self.feed(input);
                    }
                }
                Output::StopFeed => self.stop_feed(),
                Output::UseStandIn(kind) => self.use_stand_in(kind),
                Output::CheckSource(kind) => {
                    if self.source_present(kind) {
                        self.feed(Input::SourcePresent { kind });
                    }
                }
                Output::Reopen(kind) => self.reopen(kind),
                Output::Feed { state, reason } => self.reporter.feed(state, reason.as_deref()),
            }
        }
    }

    /// Blocks until an event the supervisor cares about arrives, or `wake` (then `Tick`).
    /// Pings the systemd watchdog on the way, so only a turning loop keeps the service alive.
    fn next_input(&mut self, wake: Option<Instant>) -> Input {
        loop {
            self.reporter.watchdog(Instant::now());
            let until = match (wake, self.reporter.watchdog_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let event = match until {
                Some(at) => match self.events_rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) if wake.is_some_and(|w| Instant::now() >= w) => {
                        self.report_inbound();
                        return Input::Tick;
                    }
                    Err(RecvTimeoutError::Timeout) => continue,
                    // Unreachable while `self.events_tx` lives; stopping is the safe answer.
                    Err(RecvTimeoutError::Disconnected) => Event::Shutdown,
                },
                None => self.events_rx.recv().unwrap_or(Event::Shutdown),
            };
            if let Some(input) = self.handle_event(event) {
                return input;
            }
        }
    }

    fn handle_event(&mut self, event: Event) -> Option<Input> {
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
    fn control(&mut self, event: ControlEvent) -> Option<Input> {
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
            ControlEvent::Configured(settings) => self.reconfigure(&settings),
        }
        None
    }

    /// The hands and lobby lines over the return feed's video.
    fn overlay_text(&self) -> String {
        [self.hands.as_str(), self.lobby.as_str()].into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
    }

    fn show_overlay(&self) {
        if let Some(Err(err)) = self.feed.as_ref().map(|f| f.playback.set_overlay(&self.overlay_text())) {
            tracing::warn!(%err, "cannot update the room display's overlay");
        }
    }

    fn set_lesson(&mut self, on: bool) -> Input {
        self.reporter.panel.lesson = on;
        self.reporter.panel_changed();
        if on { Input::Start } else { Input::Stop }
    }

    /// Takes the pushed video and audio-processing settings for the next pipeline (the next
    /// lesson, or the next reconnect): a running lesson is not interrupted for them. The
    /// encoder, devices, hub and panel are chosen at start-up and change at the next restart.
    fn reconfigure(&mut self, settings: &Settings) {
        let v = &settings.video;
        let video = &mut self.media.video;
        let bitrate_changed = video.bitrate_kbps != v.bitrate_kbps;
        (video.width, video.height, video.framerate) = (v.width, v.height, v.framerate);
        (video.bitrate_kbps, video.keyframe_interval_s) = (v.bitrate_kbps, v.keyframe_interval_s);
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
        let live = bitrate_changed
            && self
                .session
                .as_ref()
                .is_some_and(|s| media::set_live_bitrate(s.pipeline.gst_pipeline(), v.bitrate_kbps));
        if live {
            tracing::info!(bitrate_kbps = v.bitrate_kbps, "pushed bitrate applied to the running encoder");
        }
        tracing::info!("pushed configuration applies from the next pipeline");
    }

    /// Applies a panel press: lessons go through the supervisor, mute and privacy straight
    /// to the playing pipeline (and to the settings, so the next pipeline keeps them).
    fn press(&mut self, button: Button) -> Option<Input> {
        let action = self.reporter.panel.press(button);
        self.reporter.panel_changed();
        let controls = &mut self.media.controls;
        let applied = match action {
            PanelAction::StartLesson => return Some(Input::Start),
            // The end of a lesson, not of the appliance: the runner goes on idling.
            PanelAction::EndLesson => return Some(Input::Stop),
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

    /// Tells the supervisor when the hub was last heard from, just before it checks for silence.
    fn report_inbound(&mut self) {
        let heard = self.session.as_ref().and_then(|s| s.inbound.as_ref()).and_then(InboundMonitor::last_inbound);
        if let Some(at) = heard {
            self.supervisor.handle_input(Input::Heard(at), Instant::now());
        }
    }

    fn use_stand_in(&mut self, kind: SourceKind) {
        tracing::warn!(source = kind.name(), "device lost; sending its stand-in");
        if let Some(Err(err)) = self.session.as_ref().map(|s| s.pipeline.use_stand_in(kind)) {
            tracing::error!(%err, source = kind.name(), "cannot switch to the stand-in");
        }
    }

    /// Reopens a device that is back; if it fails again, it is lost again.
    fn reopen(&mut self, kind: SourceKind) {
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
    fn source_present(&self, kind: SourceKind) -> bool {
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

    fn build_and_publish(&mut self) -> Input {
        self.generation += 1;
        match self.publish() {
            Ok(()) => Input::Published,
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
    /// set up stays in `self.session` for the `Teardown` the supervisor orders next.
    fn publish(&mut self) -> Result<(), AttemptError> {
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
        media::watch(&pipeline, move |event| {
            // The runner outlives every pipeline it watches, except at process exit.
            let _ = tx.send(Event::Media { generation, event });
        });
        let session = self.session.insert(Session { pipeline, whip: None, inbound: None });
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
        self.reporter.board().set_stats(MediaStats::attach(&session.pipeline));
        self.reporter.board().snapshots().attach(session.pipeline.gst_pipeline());
        self.reporter.board().loss().attach(session.pipeline.webrtcbin());
        self.certificate.install(session.pipeline.webrtcbin())?;
        let offer = media::create_offer(session.pipeline.webrtcbin(), OFFER_TIMEOUT)?;
        let offer = self.certificate.with_fingerprint(&offer);
        tracing::trace!(%offer, "local offer");
        session.inbound = InboundMonitor::attach(session.pipeline.webrtcbin());
        if session.inbound.is_none() {
            tracing::warn!("no ICE transport to watch: a vanished hub is only noticed if ICE fails");
        }
        let published = session.whip.insert(self.whip.publish(&offer)?);
        tracing::info!(resource = %published.resource_url, "hub accepted the offer");
        tracing::trace!(answer = %published.answer, "hub's answer");
        media::apply_answer(session.pipeline.webrtcbin(), &published.answer, ANSWER_TIMEOUT)?;
        Ok(())
    }

    /// Builds, plays and requests the return feed. `None` once the hub answered (the connection
    /// reports in later), `FeedFailed` otherwise; whatever was set up stays in `self.feed` for
    /// the `StopFeed` that follows.
    fn start_feed(&mut self) -> Option<Input> {
        self.feed_generation += 1;
        let err = self.request_feed().err()?;
        let reason = error_chain(&err);
        Some(Input::FeedFailed { reason })
    }

    fn request_feed(&mut self) -> Result<(), AttemptError> {
        // A previous feed still holding the echo probe would keep the new one from using it.
        self.feed = None;
        let playback = match &self.echo {
            Some(probe) => media::build_playback_with_echo(&self.playback, probe)?,
            None => media::build_playback(&self.playback)?,
        };
        let (tx, generation) = (self.events_tx.clone(), self.feed_generation);
        media::watch(&playback.pipeline, move |event| {
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
        self.certificate.install(pipeline.webrtcbin())?;
        let offer = media::create_offer(pipeline.webrtcbin(), OFFER_TIMEOUT)?;
        let offer = self.certificate.with_fingerprint(&offer);
        tracing::trace!(%offer, "return feed offer");
        let answered = feed.whep.insert(self.whep.publish(&offer)?);
        tracing::debug!(resource = %answered.resource_url, "hub accepted the return feed offer");
        tracing::trace!(answer = %answered.answer, "hub's return feed answer");
        media::apply_answer(pipeline.webrtcbin(), &answered.answer, ANSWER_TIMEOUT)?;
        Ok(())
    }

    fn stop_feed(&mut self) {
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

    fn teardown(&mut self) {
        self.generation += 1;
        self.reporter.board().set_stats(None);
        self.reporter.board().snapshots().detach();
        self.reporter.board().loss().detach();
        let Some(session) = self.session.take() else {
            return;
        };
        if let Some(published) = &session.whip {
            match self.whip.delete(published) {
                Ok(()) => {
                    tracing::debug!(resource = %published.resource_url, "WHIP resource deleted")
                }
                Err(err) => {
                    tracing::debug!(reason = %error_chain(&err), "WHIP DELETE failed (ignored)")
                }
            }
        }
        session.pipeline.shutdown();
        self.reporter.board().update(|s| {
            s.camera_open = false;
            s.simulcast.clear();
        });
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
fn media_input(event: MediaEvent) -> Option<Input> {
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

/// Which return-feed events end it. A `Disconnected` feed is left alone: it either recovers or
/// the publish session, which shares the path to the hub, notices first and stops both.
fn feed_input(event: MediaEvent) -> Option<Input> {
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

/// `err: source: source…`, like anyhow's `{:#}`, for one-line logs.
fn error_chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
