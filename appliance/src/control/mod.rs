//! The box's control channel: one WebSocket to `{hub}/device/ws` with the device token. The box
//! says hello, reports telemetry every `TELEMETRY_EVERY_SECS`, and turns the hub's commands into
//! `ControlEvent`s for the runner; pushed configuration is checked and kept here. Blocking
//! `tungstenite` on its own thread, reconnecting with backoff and jitter (capped at 7 s).
//! Start with `message` (the pure parts), then `run` below.

mod claim_screen;
pub mod enroll;
mod inventory;
mod message;
mod telemetry;

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lectern_proto::device::{DeviceMsg, Inventory, TELEMETRY_EVERY_SECS};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::{HeaderValue, StatusCode, header};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{HandshakeError, Message, WebSocket};

pub use claim_screen::ClaimScreen;
pub use inventory::inventory;
pub use message::{Command, Incoming, MAX_BACKOFF, control_url, hands_text, lobby_text, parse};
pub use telemetry::{CpuMeter, telemetry};

use crate::config::{self, ConfigPaths, Overrides, Settings};
use crate::status::StatusBoard;
use crate::tls::HubTls;
use crate::whip::Token;

/// The control socket, plain or TLS (an https:// hub).
type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one read waits: the loop looks at the clock (telemetry, silence) this often.
const POLL: Duration = Duration::from_millis(250);
/// Three missed reports and the hub presumes us gone; we hold the hub to the same (a ping rides
/// along with every report, so a live hub always answers within one period).
const SILENCE: Duration = Duration::from_secs(3 * TELEMETRY_EVERY_SECS);
/// A connection that held this long resets the backoff; shorter ones count as failures.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// What the control channel tells the runner.
#[derive(Debug)]
pub enum ControlEvent {
    /// Connected and greeted: the box is reachable for lessons.
    Up,
    /// The connection is gone; reconnecting on its own.
    Down {
        reason: String,
    },
    Command(Command),
    /// A pushed configuration was validated and kept; media settings apply from the next pipeline.
    Configured(Box<Settings>),
}

/// Everything the control thread needs.
pub struct ControlSettings {
    /// The hubs (`hub.url`, one or a list), shared with the WHIP clients: the channel connects to
    /// the current one and moves the list on when it cannot reach it.
    pub hubs: std::sync::Arc<crate::config::HubList>,
    pub token: Token,
    /// Status figures for telemetry.
    pub board: StatusBoard,
    /// Where pushed configuration is checked and kept, and the flags that still win over it.
    pub config_paths: ConfigPaths,
    pub overrides: Overrides,
    /// Trust store for an https:// hub.
    pub tls: Option<HubTls>,
    /// Sent with hello: what the admin may configure this box to use.
    pub inventory: Option<Inventory>,
    /// The state directory holding this box's enrolled credential, when the token came from
    /// enrollment: if the hub refuses it (revoked), it is deleted and the box enrolls again.
    pub enrolled_in: Option<PathBuf>,
    /// The update agent's side of the channel (`crate::update`): offers go to it, its reports
    /// come back to be sent.
    pub updates: Option<crate::update::Link>,
}

/// Starts the control thread. `deliver` returns false once the runner is gone, which ends it.
pub fn spawn(
    settings: ControlSettings,
    deliver: impl Fn(ControlEvent) -> bool + Send + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("control".to_owned()).spawn(move || run(&settings, &deliver))
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    /// Will not heal by retrying soon (unsupported URL, a refusal): wait the longest backoff.
    #[error("{0}")]
    Refused(String),
    /// The hub said 401/403 to our token.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Lost(String),
    /// The runner is gone: stop.
    #[error("appliance stopping")]
    Stopping,
}

fn run(settings: &ControlSettings, deliver: &dyn Fn(ControlEvent) -> bool) {
    let mut backoff = message::backoff(StdRng::from_os_rng());
    let started = Instant::now();
    let mut cpu = CpuMeter::default();
    loop {
        let attempt = Instant::now();
        let err = match session(settings, deliver, started, &mut cpu) {
            Err(SessionError::Stopping) => return,
            Err(err) => err,
            // A session only ends with an error; Ok is unreachable but harmless.
            Ok(()) => SessionError::Lost("closed".to_owned()),
        };
        if attempt.elapsed() >= STABLE_AFTER {
            backoff.reset();
        }
        if let (SessionError::Unauthorized(why), Some(state_dir)) = (&err, &settings.enrolled_in) {
            // Our enrolled credential was revoked (or the hub forgot us): back to the claim code.
            tracing::error!(%why, "the hub refused this box's credential; enrolling again");
            if let Err(err) = enroll::forget(state_dir) {
                tracing::error!(%err, "could not delete the refused credential");
            }
            start_over();
        }
        let delay = match err {
            SessionError::Refused(_) | SessionError::Unauthorized(_) => backoff.longest(),
            _ => backoff.next_delay(),
        };
        let reason = format!("retrying in {:.1}s: {err}", delay.as_secs_f64());
        match err {
            SessionError::Refused(_) | SessionError::Unauthorized(_) => {
                tracing::error!(%reason, "control channel refused")
            }
            _ => tracing::warn!(%reason, "control channel down"),
        }
        if !deliver(ControlEvent::Down { reason }) {
            return;
        }
        std::thread::sleep(delay);
    }
}

/// One connection, from handshake to loss.
fn session(
    settings: &ControlSettings,
    deliver: &dyn Fn(ControlEvent) -> bool,
    started: Instant,
    cpu: &mut CpuMeter,
) -> Result<(), SessionError> {
    let index = settings.hubs.index();
    let hub_url = settings.hubs.urls()[index].clone();
    let mut ws = match connect(&hub_url, Some(&settings.token), settings.tls.as_ref()) {
        Ok(ws) => ws,
        Err(e) => {
            if matches!(e, SessionError::Lost(_)) {
                // Unreachable: the next attempt goes to the next hub of the list.
                settings.hubs.failed(index);
            }
            return Err(e);
        }
    };
    let hello =
        DeviceMsg::Hello { version: env!("CARGO_PKG_VERSION").to_owned(), inventory: settings.inventory.clone() };
    send(&mut ws, &hello)?;
    tracing::info!(hub = %hub_url, "control channel up");
    if !deliver(ControlEvent::Up) {
        return Err(SessionError::Stopping);
    }
    match &settings.updates {
        Some(updates) => {
            // Reports queued while the channel was down are stale (and a burst of them would meet
            // the hub's write limit): the agent says where it is now.
            drop(updates.outgoing());
            updates.hub_connected();
        }
        // A Debian-installed box: apt updates it; the fleet view still shows its packages.
        None => send(&mut ws, &DeviceMsg::Software(crate::update::installer::without_agent()))?,
    }
    let period = Duration::from_secs(TELEMETRY_EVERY_SECS);
    let mut next_report = Instant::now();
    let mut last_heard = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_report {
            let report =
                telemetry(&settings.board.snapshot(), cpu.sample(), telemetry::temperature(), started.elapsed());
            send(&mut ws, &DeviceMsg::Telemetry(report))?;
            ws.send(Message::Ping(Vec::new().into())).map_err(lost)?;
            next_report = now + period;
        }
        if let Some(updates) = &settings.updates {
            for msg in updates.outgoing() {
                send(&mut ws, &msg)?;
            }
        }
        if now.saturating_duration_since(last_heard) >= SILENCE {
            return Err(SessionError::Lost(format!("nothing heard from the hub for {}s", SILENCE.as_secs())));
        }
        let text = match ws.read() {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(frame)) => {
                let why = frame.map(|f| f.reason.to_string()).filter(|r| !r.is_empty());
                return Err(SessionError::Lost(
                    why.map_or("hub closed the connection".to_owned(), |r| format!("hub closed the connection: {r}")),
                ));
            }
            Ok(_) => {
                last_heard = Instant::now();
                continue;
            }
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                continue;
            }
            Err(err) => return Err(lost(err)),
        };
        last_heard = Instant::now();
        handle(settings, deliver, &mut ws, &text)?;
    }
}

fn handle(
    settings: &ControlSettings,
    deliver: &dyn Fn(ControlEvent) -> bool,
    ws: &mut Socket,
    text: &str,
) -> Result<(), SessionError> {
    let event = match parse(text) {
        Incoming::Command(command) => {
            tracing::info!(?command, "hub command");
            ControlEvent::Command(command)
        }
        Incoming::ApplyConfig { version, config } => {
            let outcome = config::apply_pushed(&settings.config_paths, &settings.overrides, &config);
            let (ok, error) = match &outcome {
                Ok(_) => (true, None),
                Err(err) => (false, Some(err.to_string())),
            };
            match &error {
                None => tracing::info!(version, "hub configuration applied"),
                Some(error) => tracing::warn!(version, %error, "hub configuration rejected; keeping the last good one"),
            }
            send(ws, &DeviceMsg::ConfigResult { version, ok, error })?;
            match outcome {
                Ok(settings) => ControlEvent::Configured(Box::new(settings)),
                Err(_) => return Ok(()),
            }
        }
        Incoming::Snapshot => {
            let (jpeg_base64, error) = match settings.board.snapshots().jpeg() {
                Ok(jpeg) => {
                    use base64::Engine;
                    (Some(base64::engine::general_purpose::STANDARD.encode(jpeg)), None)
                }
                Err(reason) => (None, Some(reason)),
            };
            send(ws, &DeviceMsg::Snapshot { jpeg_base64, error })?;
            return Ok(());
        }
        Incoming::Update(offer) => {
            match &settings.updates {
                Some(updates) => updates.offer(offer),
                None => tracing::info!(release = offer.release, "update offered; this box runs no update agent"),
            }
            return Ok(());
        }
        Incoming::Moved { token, from, room, device_id, name } => {
            let Some(state_dir) = &settings.enrolled_in else {
                tracing::warn!(%from, %room, "the hub moved this box, but it runs on a token from its configuration: set hub.room and the token by hand");
                return Ok(());
            };
            let saved = enroll::keep_moved(state_dir, token, &from, &room, device_id, name);
            if let Err(err) = saved {
                // The hub keeps handing the new credential to the old one until it is used.
                tracing::error!(%err, "could not keep the credential for room {room}; asking again");
                return Err(SessionError::Lost(format!("keeping the credential for room {room}: {err}")));
            }
            tracing::warn!(%from, %room, "an admin moved this box from room {from} to room {room}: reconnecting with its new credential");
            settings.board.update(|s| s.control = format!("moved from room {from} to room {room}: reconnecting"));
            // Room and token are in every part of the box (media, return feed, updates): start
            // afresh with the new credential, as after enrollment.
            start_over();
        }
        Incoming::HubError(message) => {
            tracing::warn!(%message, "the hub refused a message");
            return Ok(());
        }
        Incoming::Ignored { detail } => {
            tracing::debug!(%detail, "hub message ignored");
            return Ok(());
        }
    };
    if deliver(event) { Ok(()) } else { Err(SessionError::Stopping) }
}

/// Opens the control socket; without a token, as a box asking to be enrolled.
fn connect(hub_url: &str, token: Option<&Token>, tls: Option<&HubTls>) -> Result<Socket, SessionError> {
    let url = control_url(hub_url).map_err(SessionError::Refused)?;
    let tls = match (url.starts_with("wss://"), tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls.rustls().map_err(|e| SessionError::Refused(e.to_string()))?),
        (true, None) => {
            return Err(SessionError::Refused(
                "an https:// hub needs the TLS trust store, which was not loaded".to_owned(),
            ));
        }
    };
    let mut request = url.as_str().into_client_request().map_err(|e| SessionError::Refused(format!("{url}: {e}")))?;
    if let Some(token) = token {
        if !token.is_valid() {
            return Err(SessionError::Refused("the device token is empty or not a valid header value".to_owned()));
        }
        let bearer = HeaderValue::from_str(&token.bearer())
            .map_err(|_| SessionError::Refused("the device token is not a valid header value".to_owned()))?;
        request.headers_mut().insert(header::AUTHORIZATION, bearer);
    }
    let uri = request.uri();
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(if tls.is_some() { 443 } else { 80 });
    let stream = open_tcp(&host, port).map_err(|e| SessionError::Lost(format!("cannot reach {host}:{port}: {e}")))?;
    // The handshake may block on a hub that accepts and says nothing: bound it.
    let io = |e: io::Error| SessionError::Lost(e.to_string());
    stream.set_read_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
    // The TCP socket's timeouts hold under TLS too; keep a handle to shorten them afterwards.
    let tcp = stream.try_clone().map_err(io)?;
    let connector = tls.map(tungstenite::Connector::Rustls).unwrap_or(tungstenite::Connector::Plain);
    let (ws, _) =
        tungstenite::client_tls_with_config(request, stream, None, Some(connector)).map_err(|err| match err {
            HandshakeError::Failure(tungstenite::Error::Http(response)) => refused_by(response.status()),
            HandshakeError::Failure(tungstenite::Error::Tls(err)) => SessionError::Refused(format!("TLS: {err}")),
            HandshakeError::Failure(err) => lost(err),
            HandshakeError::Interrupted(_) => SessionError::Lost("handshake timed out".to_owned()),
        })?;
    tcp.set_read_timeout(Some(POLL)).map_err(io)?;
    Ok(ws)
}

fn open_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = err,
        }
    }
    Err(last)
}

fn refused_by(status: StatusCode) -> SessionError {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            SessionError::Unauthorized(format!("the hub rejected this device's token ({status}): check hub.token_file"))
        }
        // An older hub without the control channel, or a proxy in the way: it may change.
        status => SessionError::Lost(format!("the hub answered {status}")),
    }
}

fn send(ws: &mut Socket, msg: &DeviceMsg) -> Result<(), SessionError> {
    // DeviceMsg is plain data; serializing it cannot fail.
    let text = serde_json::to_string(msg).map_err(|e| SessionError::Lost(e.to_string()))?;
    ws.send(Message::Text(text.into())).map_err(lost)
}

/// Runs this program again with the same arguments, in place (same pid, so systemd and test
/// harnesses keep tracking it): the cleanest way back to enrollment from deep inside a lesson.
fn start_over() -> ! {
    use std::os::unix::process::CommandExt;
    let err = match std::env::current_exe() {
        Ok(exe) => std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec(),
        Err(err) => err,
    };
    tracing::error!(%err, "could not restart for enrollment; exiting so the service manager restarts us");
    std::process::exit(75)
}

fn lost(err: tungstenite::Error) -> SessionError {
    match err {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            SessionError::Lost("connection closed".to_owned())
        }
        err => SessionError::Lost(err.to_string()),
    }
}
