//! The update agent's IO shell: one thread that reads the clock, executes the agent's outputs
//! (download, checksum and signature, installer, record file, reboot) and feeds back what
//! happened. Offers arrive from the control channel through [`Link`]; reports go back the same
//! way. Whether a lesson is live and whether the hub is reachable are read from the status board.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lectern_proto::device::{DeviceMsg, DeviceState};
use lectern_proto::update::{Software, UpdateOffer};

use super::agent::{Agent, AgentConfig, Input, Now, Output, Record};
use super::fetch::{self, Fetched, Source};
use super::installer::{self, Installer};
use crate::status::StatusBoard;
use crate::tls::HubTls;
use crate::whip::Token;

const RECORD_FILE: &str = "update.json";
/// `rauc install` wants a `.raucb` name; the file is partial until verified.
const PARTIAL_FILE: &str = "bundle.raucb";
/// How often the status board is looked at (lesson live, hub reachable).
const LOOK_EVERY: Duration = Duration::from_secs(1);

enum Msg {
    Input(Input),
    HubConnected,
}

/// The control channel's handle on the agent.
#[derive(Clone)]
pub struct Link {
    to_agent: Sender<Msg>,
    from_agent: Arc<Mutex<Receiver<DeviceMsg>>>,
}

impl Link {
    pub fn offer(&self, offer: UpdateOffer) {
        let _ = self.to_agent.send(Msg::Input(Input::Offer(offer)));
    }

    /// The channel is up (again): the agent says what it runs and where it is.
    pub fn hub_connected(&self) {
        let _ = self.to_agent.send(Msg::HubConnected);
    }

    /// Reports waiting to be sent.
    pub fn outgoing(&self) -> Vec<DeviceMsg> {
        let rx = self.from_agent.lock().unwrap_or_else(|e| e.into_inner());
        rx.try_iter().collect()
    }
}

pub struct UpdateSettings {
    pub hub_url: String,
    pub token: Token,
    pub tls: Option<HubTls>,
    /// Where the partial bundle and the record live (persistent across reboots).
    pub data_dir: PathBuf,
    pub installer: Box<dyn Installer>,
    /// Checked with `rauc info --keyring` before installing, when set.
    pub keyring: Option<PathBuf>,
    pub rauc: String,
    pub board: StatusBoard,
}

/// Starts the agent's thread.
pub fn spawn(settings: UpdateSettings) -> std::io::Result<Link> {
    std::fs::create_dir_all(&settings.data_dir)?;
    let (to_agent, inbox) = mpsc::channel();
    let (outbox, from_agent) = mpsc::channel();
    let link = Link { to_agent: to_agent.clone(), from_agent: Arc::new(Mutex::new(from_agent)) };
    std::thread::Builder::new().name("update".to_owned()).spawn(move || {
        let mut shell = Shell::new(settings, to_agent, outbox);
        shell.run(&inbox);
    })?;
    Ok(link)
}

struct Shell {
    s: UpdateSettings,
    agent: Agent,
    me: Sender<Msg>,
    outbox: Sender<DeviceMsg>,
    http: ureq::Agent,
    lesson: bool,
    live: bool,
    healthy: bool,
}

fn now_unix() -> u64 {
    lectern_common::time::unix_secs()
}

impl Shell {
    fn new(s: UpdateSettings, me: Sender<Msg>, outbox: Sender<DeviceMsg>) -> Self {
        let mut config = ureq::Agent::config_builder();
        if let Some(tls) = &s.tls {
            config = config.tls_config(tls.ureq());
        }
        let http = config.max_redirects(0).timeout_connect(Some(Duration::from_secs(5))).build().into();
        Self {
            s,
            agent: Agent::new(AgentConfig { seed: rand::random(), ..AgentConfig::default() }),
            me,
            outbox,
            http,
            lesson: false,
            live: false,
            healthy: false,
        }
    }

    fn now(&self) -> Now {
        Now { mono: Instant::now(), unix_secs: now_unix() }
    }

    fn record_path(&self) -> PathBuf {
        self.s.data_dir.join(RECORD_FILE)
    }

    fn partial(&self) -> PathBuf {
        self.s.data_dir.join(PARTIAL_FILE)
    }

    fn run(&mut self, inbox: &Receiver<Msg>) {
        if let Err(err) = self.s.installer.boot() {
            tracing::error!(%err, "update agent: the installer's start-up failed");
        }
        let record = load_record(&self.record_path());
        let running = match self.s.installer.running() {
            Ok(r) => r.version,
            Err(err) => {
                tracing::error!(%err, "update agent: cannot tell which release runs; not updating");
                return;
            }
        };
        tracing::info!(%running, installer = self.s.installer.name(), "update agent started");
        self.feed(Input::Started { running, record });
        let mut wait_until: Option<Instant> = None;
        loop {
            let timeout =
                wait_until.map_or(LOOK_EVERY, |at| at.saturating_duration_since(Instant::now()).min(LOOK_EVERY));
            match inbox.recv_timeout(timeout) {
                Ok(Msg::Input(input)) => wait_until = self.feed(input).or(wait_until),
                Ok(Msg::HubConnected) => {
                    self.send_software();
                    wait_until = self.feed(Input::HubConnected).or(wait_until);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.look_at_board();
            if wait_until.is_some_and(|at| Instant::now() >= at) {
                wait_until = self.feed(Input::Tick);
            }
        }
    }

    fn look_at_board(&mut self) {
        let snap = self.s.board.snapshot();
        // A lesson is on from the hub's goLive (or the panel) to its end, connected or not.
        let lesson = snap.panel.state.lesson || snap.state == DeviceState::Live;
        if lesson != self.lesson {
            self.lesson = lesson;
            self.feed(Input::Lesson { on: lesson });
        }
        let live = snap.state == DeviceState::Live;
        if live && !self.live {
            self.feed(Input::WentLive);
        }
        self.live = live;
        // The health check: the hub accepted this box's credential on the control channel.
        let healthy = snap.control == "connected";
        if healthy && !self.healthy {
            self.feed(Input::Healthy);
        }
        self.healthy = healthy;
    }

    fn send_software(&mut self) {
        let running = self.s.installer.running().ok();
        let software = Software {
            installer: self.s.installer.name().to_owned(),
            release: running.as_ref().map(|r| r.version.clone()),
            slot: running.and_then(|r| r.slot),
            packages: installer::debian_packages(),
        };
        let _ = self.outbox.send(DeviceMsg::Software(software));
    }

    /// Feeds one input and executes what comes out; returns the next `WaitUntil`.
    fn feed(&mut self, input: Input) -> Option<Instant> {
        self.agent.handle(input, self.now());
        let mut wait = None;
        while let Some(output) = self.agent.poll_output() {
            match output {
                Output::WaitUntil(at) => wait = Some(at),
                other => {
                    if let Some(next) = self.execute(other) {
                        // Answers go through the inbox, in order, after this batch.
                        let _ = self.me.send(Msg::Input(next));
                    }
                }
            }
        }
        wait
    }

    fn execute(&mut self, output: Output) -> Option<Input> {
        match output {
            Output::Report(status) => {
                tracing::info!(release = status.release, phase = status.phase.name(), detail = ?status.detail, "update");
                let _ = self.outbox.send(DeviceMsg::UpdateStatus(status));
                None
            }
            Output::Fetch { path, from, size } => Some(self.fetch(&path, from, size)),
            Output::Discard => {
                let _ = std::fs::remove_file(self.partial());
                None
            }
            Output::Verify { sha256 } => Some(Input::Verified(self.verify(&sha256))),
            Output::Install { version } => {
                let result = self.s.installer.install(&self.partial(), &version).map_err(|e| e.to_string());
                Some(Input::Installed(result))
            }
            Output::Save(record) => {
                if let Err(err) = save_record(&self.record_path(), &record) {
                    tracing::error!(%err, "update agent: cannot write its record");
                }
                None
            }
            Output::Reboot => {
                if let Err(err) = self.s.installer.reboot() {
                    tracing::error!(%err, "update agent: reboot failed");
                }
                None
            }
            Output::MarkGood => {
                if let Err(err) = self.s.installer.mark_good() {
                    tracing::error!(%err, "update agent: marking the release good failed");
                }
                None
            }
            Output::RollBack => {
                if let Err(err) = self.s.installer.mark_bad().and_then(|()| self.s.installer.reboot()) {
                    tracing::error!(%err, "update agent: rolling back failed");
                }
                None
            }
            Output::WaitUntil(_) => None,
        }
    }

    fn fetch(&mut self, path: &str, from: u64, size: u64) -> Input {
        let url = format!("{}{}", self.s.hub_url.trim_end_matches('/'), path);
        let bearer = self.s.token.bearer();
        let src = Source { agent: &self.http, url: &url, authorization: &bearer };
        let me = self.me.clone();
        let mut progress = |have| {
            let _ = me.send(Msg::Input(Input::Fetched { have, complete: false }));
        };
        match fetch::fetch(&src, &self.partial(), from, size, &mut progress) {
            Fetched::Complete { have } => Input::Fetched { have, complete: true },
            Fetched::Failed { have, reason } => Input::FetchFailed { have, reason },
        }
    }

    fn verify(&self, sha256: &str) -> Result<(), String> {
        let got = fetch::sha256_file(&self.partial()).map_err(|e| format!("reading the bundle: {e}"))?;
        if got != sha256 {
            return Err(format!("SHA-256 {got} is not the hub's {sha256}"));
        }
        match &self.s.keyring {
            Some(keyring) => installer::verify_signature(&self.s.rauc, keyring, &self.partial())
                .map_err(|e| format!("signature: {e}")),
            None if self.s.installer.name() == "rauc" => Ok(()), // `rauc install` checks it against the image's keyring.
            None => {
                tracing::warn!(
                    "update agent: no keyring configured ([update] keyring): the bundle's signature is not checked on this virtual box"
                );
                Ok(())
            }
        }
    }
}

fn load_record(path: &Path) -> Option<Record> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(r) => Some(r),
        Err(err) => {
            tracing::warn!(%err, path = %path.display(), "update record unreadable; ignoring it");
            None
        }
    }
}

fn save_record(path: &Path, record: &Record) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    crate::config::write_atomic(path, &bytes)
}
