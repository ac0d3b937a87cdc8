//! The IO shell around `Supervisor`: one thread that executes its outputs (build a pipeline,
//! publish over WHIP, start or stop the return feed over WHEP, tear down) and turns
//! webrtcbin/bus events, timeouts and shutdown requests into its inputs. Blocking work happens
//! here, never on GStreamer's threads. `publish` and `return_feed` hold the two hub sessions
//! (both negotiated by `negotiate`), `events` what arrives from the panel and the control channel.

mod events;
mod negotiate;
mod publish;
mod return_feed;

use publish::media_input;
use return_feed::feed_input;

use std::error::Error;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::control::ControlEvent;
use crate::media::{
    CameraMode, DtlsCertificate, EchoProbe, InboundMonitor, MediaError, MediaEvent, MediaSettings, Pipeline, Playback,
    PlaybackSettings,
};
use crate::panel::{Button, PanelHandle};
use crate::report::Reporter;
use crate::supervisor::{Input, Output, Supervisor, SupervisorConfig};
use crate::uplink::UplinkTask;
use crate::whip::{WhipClient, WhipError, WhipSession};

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
    /// The camera's bitrate following the uplink, while it does.
    uplink: Option<UplinkTask>,
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
    /// A failed session's WHIP resource, kept until the next session is up (make-before-break:
    /// see `Output::Detach`).
    replaced: Option<WhipSession>,
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
    /// Recording the lesson when the hub asks (`record`), on the session's pipeline.
    record: crate::record::RecordShell,
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
            replaced: None,
            generation: 0,
            feed: None,
            feed_generation: 0,
            stopping: false,
            reporter,
            hands: String::new(),
            lobby: String::new(),
            record: crate::record::RecordShell::new(crate::record::RecordSettings::default()),
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

    /// Where and how the lesson is recorded when the hub asks (`[recording]`).
    pub fn set_recording_settings(&mut self, settings: crate::record::RecordSettings) {
        self.record = crate::record::RecordShell::new(settings);
    }

    /// Closed recording files go to this uploader (call after [`Self::set_recording_settings`]).
    pub fn set_uploads(&mut self, link: crate::record::upload::UploadLink) {
        self.record.set_uploads(link);
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
                Output::Detach => self.detach(),
                Output::ReleaseReplaced => self.release_replaced(),
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
            if let Some(recording) = self.record.check(Instant::now()) {
                self.reporter.board().update(|s| s.recording = recording);
            }
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
