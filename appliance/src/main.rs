use std::net::SocketAddr;

use anyhow::{Context, anyhow};
use clap::Parser;
use tracing_subscriber::EnvFilter;

use lectern_appliance::cli::{Cli, Command, Distro, ProbeArgs, RunArgs};
use lectern_appliance::config::{self, ConfigSource, Loaded, Settings, TokenSource};
use lectern_appliance::control::{self, ControlSettings};
use lectern_appliance::media::{self, EncoderChoice, GstEncoderRegistry};
use lectern_appliance::panel::{self, FakePanel, Panel};
use lectern_appliance::report::Reporter;
use lectern_appliance::run::{HubClients, Runner};
use lectern_appliance::status::{self, ConfigStatus, StatusBoard};
use lectern_appliance::whip::{Token, WhipClient};
use lectern_appliance::{probe, signals};
use lectern_common::sd_notify::Notifier;
use lectern_proto::device::DeviceState;

/// Test hook (with `--virtual`): a file path; the test camera fails like an unplugged one while
/// the file is missing and comes back when it reappears.
const CAMERA_PLUG_ENV: &str = "LECTERN_TEST_CAMERA_PLUG";
/// Test hook (with `--virtual`): the same for the content source (the teacher's laptop).
const CONTENT_PLUG_ENV: &str = "LECTERN_TEST_CONTENT_PLUG";
/// Measurement hook (with `--virtual`): set to anything, the test camera flips white/black with
/// the wall clock's seconds, for glass-to-glass timing (`tests/browser/measure/appliance.mjs`).
const FLASH_ENV: &str = "LECTERN_TEST_FLASH";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so `probe` can print clean JSON on stdout.
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    media::init().context("initialising GStreamer")?;
    match cli.command {
        Some(Command::Probe(args)) if args.check => {
            let missing = media::catalog::missing(args.mode());
            if missing.is_empty() {
                println!("ok: every GStreamer element this box needs is installed");
                return Ok(());
            }
            for e in &missing {
                println!("missing: {} (install {})", e.factory, media::catalog::install_hint(e.factory));
            }
            Err(anyhow!("{} GStreamer element(s) missing: install the packages named above", missing.len()))
        }
        Some(Command::Probe(ProbeArgs { packages: Some(distro), .. })) => {
            let pick = match distro {
                Distro::Debian => |e: &media::catalog::Element| e.debian,
                Distro::Yocto => |e: &media::catalog::Element| e.yocto,
            };
            for package in media::catalog::packages(media::catalog::required_anywhere(), pick) {
                println!("{package}");
            }
            Ok(())
        }
        Some(Command::Probe(_)) => {
            let found = probe::probe();
            println!("{}", serde_json::to_string_pretty(&found).context("serialising the probe")?);
            Ok(())
        }
        None => run(&cli.run),
    }
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let board = StatusBoard::default();
    let mut status_served = false;
    let mut overrides = args.overrides();
    // No token given and none configured: this box uses its enrolled credential, enrolling first
    // if it has none.
    let enrolled_in = if overrides.token.is_none() && needs_credential(args, &overrides) {
        let credential = match control::enroll::load(&args.state_dir) {
            Ok(Some(credential)) => credential,
            Ok(None) => enroll_now(args, &board, &mut status_served)?,
            Err(err) => {
                tracing::error!(%err, "the stored device credential is damaged; enrolling again");
                control::enroll::forget(&args.state_dir).context("deleting the damaged credential")?;
                enroll_now(args, &board, &mut status_served)?
            }
        };
        tracing::info!(room = %credential.room, device = %credential.device_id, name = %credential.name, "using this box's enrolled credential");
        if let Some(from) = &credential.moved_from {
            tracing::warn!(%from, room = %credential.room, "this box was moved from room {from} to room {}", credential.room);
            board.update(|s| s.moved_from = Some(from.to_string()));
        }
        overrides.token = Some(credential.token);
        if overrides.room.is_none() {
            overrides.room = Some(credential.room);
        }
        Some(args.state_dir.clone())
    } else {
        None
    };
    let loaded = config::load(&args.config_paths(), &overrides).context("loading the configuration")?;
    let settings = &loaded.settings;
    let token = read_token(&settings.hub.token)?;
    let tls = hub_tls(&settings.hub)?;
    // One list for the WHIP clients and the control channel: they move from hub to hub together.
    let hubs = std::sync::Arc::new(config::HubList::new(settings.hub.urls.clone()));
    let hub = HubClients {
        publish: WhipClient::publish_over(hubs.clone(), &settings.hub.room, token.clone(), tls.as_ref())
            .context("configuring the hub connection")?,
        return_feed: WhipClient::return_feed_over(hubs.clone(), &settings.hub.room, token.clone(), tls.as_ref())
            .context("configuring the hub's return feed")?,
    };
    // A box given its room or token by hand (the demo, the tests) publishes at once; one that runs
    // from its configuration, as in the classroom, keeps the camera closed until a lesson starts.
    let live_at_start = args.room.is_some() || args.token.is_some();
    let encoder = choose_encoder(&settings.video.encoders)?;
    let camera = if args.use_virtual {
        settings.camera.clone()
    } else {
        probe::resolve_camera(&settings.camera).map_err(|e| anyhow!(e))?
    };
    let media = args.media_settings(settings, &camera, &encoder.encoder);
    let camera_mode = (!args.use_virtual).then(|| camera_mode(&camera, settings)).flatten();
    let playback = args.playback_settings(settings, &media);
    status_board(&board, &loaded, &encoder.encoder);
    if let Some(addr) = settings.status_listen.filter(|_| !status_served) {
        serve_status(addr, &board);
    }
    let panel = open_panel(args, settings, &board);
    let certificate = media::DtlsCertificate::generate().context("generating the DTLS certificate")?;
    let reporter = Reporter::new(Notifier::from_env(), board.clone(), None);
    let mut runner = Runner::new(hub, media, playback, certificate, reporter);
    runner.set_recording_settings(lectern_appliance::record::RecordSettings::of(&settings.recording));
    let uploads = lectern_appliance::record::upload::spawn(lectern_appliance::record::upload::UploadSettings {
        hubs: hubs.clone(),
        room: settings.hub.room.clone(),
        token: token.clone(),
        tls: tls.clone(),
        dir: settings.recording.dir.clone(),
        kbps: settings.recording.upload_kbps,
        board: board.clone(),
    })
    .context("starting the recordings' uploader")?;
    runner.set_uploads(uploads);
    if let Some(mode) = camera_mode {
        runner.set_camera_mode(mode);
    }
    if args.use_virtual
        && let Some(plug) = std::env::var_os(CAMERA_PLUG_ENV)
    {
        tracing::warn!(plug = ?plug, "test hook: the virtual camera is plugged in only while this file exists");
        runner.set_virtual_camera_plug(plug.into());
    }
    if args.use_virtual
        && let Some(plug) = std::env::var_os(CONTENT_PLUG_ENV)
    {
        tracing::warn!(plug = ?plug, "test hook: the virtual laptop is plugged in only while this file exists");
        runner.set_virtual_content_plug(plug.into());
    }
    if args.use_virtual && std::env::var_os(FLASH_ENV).is_some() {
        tracing::warn!("measurement hook: the virtual camera flips white/black every wall-clock second");
        runner.set_flash(true);
    }
    if let Some(panel) = panel {
        runner.attach_panel(panel::spawn(panel, runner.panel_sink()).context("starting the panel thread")?);
    }
    let updates = start_updates(settings, &token, tls.as_ref(), &args.state_dir, &board)?;
    let control = ControlSettings {
        hubs,
        token,
        board,
        config_paths: args.config_paths(),
        // With the enrolled credential's token and room: pushed configuration is checked with them.
        overrides,
        tls,
        inventory: Some(control::inventory(args.use_virtual, &camera)),
        enrolled_in,
        updates,
    };
    control::spawn(control, runner.control_sink()).context("starting the control channel")?;
    signals::forward_termination(runner.shutdown_handle()).context("installing signal handlers")?;
    tracing::info!(
        room = %settings.hub.room,
        virtual_sources = args.use_virtual,
        live_at_start,
        config = %loaded.source,
        "lectern-appliance {}",
        env!("CARGO_PKG_VERSION")
    );
    runner.run(live_at_start);
    Ok(())
}

/// The update agent (`[update] installer`), if this box runs one.
fn start_updates(
    settings: &config::Settings,
    token: &lectern_appliance::whip::Token,
    tls: Option<&lectern_appliance::tls::HubTls>,
    state_dir: &std::path::Path,
    board: &StatusBoard,
) -> anyhow::Result<Option<lectern_appliance::update::Link>> {
    use lectern_appliance::update::{self, FakeInstaller, Installer, RaucInstaller};
    let data_dir = state_dir.join("update");
    let installer: Box<dyn Installer> = match settings.update.installer {
        config::InstallerKind::None => return Ok(None),
        config::InstallerKind::Rauc => Box::new(RaucInstaller { rauc: settings.update.rauc.clone() }),
        config::InstallerKind::Fake => {
            tracing::warn!(
                "update.installer = fake: releases are recorded in {}, nothing is installed",
                data_dir.display()
            );
            Box::new(FakeInstaller::new(&data_dir, env!("CARGO_PKG_VERSION")))
        }
    };
    let link = update::spawn(update::UpdateSettings {
        hub_url: settings.hub.url.clone(),
        token: token.clone(),
        tls: tls.cloned(),
        data_dir,
        installer,
        keyring: settings.update.keyring.clone(),
        rauc: settings.update.rauc.clone(),
        board: board.clone(),
    })
    .context("starting the update agent")?;
    Ok(Some(link))
}

/// The trust store for an https:// hub (none needed for http://).
fn hub_tls(hub: &config::HubSettings) -> anyhow::Result<Option<lectern_appliance::tls::HubTls>> {
    if !hub.url.starts_with("https://") {
        if lectern_appliance::whip::plain_http_off_host(&hub.url) {
            tracing::warn!(
                url = %hub.url,
                "hub.url is plain http:// to another machine: the box's token and the lesson's signalling \
                 cross the network unencrypted; use https://"
            );
        }
        return Ok(None);
    }
    let tls = lectern_appliance::tls::HubTls::load(hub.ca_file.as_deref()).context("loading TLS trust anchors")?;
    Ok(Some(tls))
}

/// The camera mode for the configured size and rate, from what the camera offers; `None` (let
/// GStreamer negotiate raw video) when it is not there yet or offers nothing fixed.
fn camera_mode(camera: &str, settings: &Settings) -> Option<media::CameraMode> {
    let caps = probe::camera_caps(camera)?;
    let v = &settings.video;
    let mode = media::choose_mode(&media::camera_formats(&caps), v.width, v.height, v.framerate);
    match &mode {
        Some(m) if m.passes_through() => {
            tracing::info!(camera, ?m, "the camera encodes H.264 itself: passing it through, no encoder")
        }
        Some(m) => tracing::info!(camera, ?m, "camera mode chosen"),
        None => tracing::info!(camera, "no fixed camera mode offered; negotiating raw video"),
    }
    mode
}

fn read_token(source: &TokenSource) -> anyhow::Result<Token> {
    match source {
        TokenSource::Given(token) => Ok(token.clone()),
        TokenSource::File(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading hub.token_file {}", path.display()))?;
            Ok(Token::new(text.trim()))
        }
    }
}

/// Walks the encoder ladder and logs what it skipped and why.
fn choose_encoder(ladder: &[String]) -> anyhow::Result<EncoderChoice> {
    let choice = media::choose_encoder(&GstEncoderRegistry::default(), ladder).context("choosing the H.264 encoder")?;
    for skipped in &choice.skipped {
        tracing::info!(encoder = %skipped.encoder, reason = %skipped.reason, "encoder skipped");
    }
    tracing::info!(encoder = %choice.encoder, skipped = choice.skipped.len(), "encoder chosen");
    Ok(choice)
}

/// Whether the configuration lacks only a token (and maybe the room): then the box enrolls.
fn needs_credential(args: &RunArgs, overrides: &config::Overrides) -> bool {
    let mut probe = overrides.clone();
    probe.room.get_or_insert_with(placeholder_room);
    matches!(
        config::load(&args.config_paths(), &probe),
        Err(config::ConfigError::Invalid(errors)) if errors.iter().all(|e| e.key == "hub.token_file")
    )
}

fn placeholder_room() -> lectern_proto::RoomId {
    lectern_proto::RoomId::parse("enrolling").expect("a valid room id")
}

/// Shows a claim code (log, status page) until an admin enrolls this box; returns its credential.
fn enroll_now(
    args: &RunArgs,
    board: &StatusBoard,
    status_served: &mut bool,
) -> anyhow::Result<control::enroll::Credential> {
    let mut probe = args.overrides();
    probe.room.get_or_insert_with(placeholder_room);
    probe.token = Some(Token::new("enrolling"));
    let loaded = config::load(&args.config_paths(), &probe).context("loading the configuration")?;
    board.update(|s| {
        s.version = env!("CARGO_PKG_VERSION").to_owned();
        s.state = DeviceState::Idle;
        s.control = "enrolling".to_owned();
    });
    if let Some(addr) = loaded.settings.status_listen {
        serve_status(addr, board);
        *status_served = true;
    }
    tracing::info!(hub = %loaded.settings.hub.url, "this box has no credential: asking the hub for a claim code");
    // The room's screen shows the code too; a box without a working display still enrolls.
    let screen = control::ClaimScreen::start(args.use_virtual)
        .inspect_err(|err| tracing::warn!(%err, "cannot show the claim code on the display"))
        .ok();
    let show = |code: &str| {
        if let Some(screen) = &screen {
            screen.show_code(code);
        }
    };
    let tls = hub_tls(&loaded.settings.hub)?;
    control::enroll::enroll(&loaded.settings.hub.url, tls.as_ref(), &args.state_dir, board, &show)
        .context("enrolling with the hub")
}

fn status_board(board: &StatusBoard, loaded: &Loaded, encoder: &str) {
    let (files, error) = match &loaded.source {
        ConfigSource::Defaults => (Vec::new(), None),
        ConfigSource::Files(files) => (files.iter().map(|f| f.display().to_string()).collect(), None),
        ConfigSource::LastGood { path, error } => (vec![path.display().to_string()], Some(error.clone())),
    };
    board.update(|s| {
        s.version = env!("CARGO_PKG_VERSION").to_owned();
        s.state = DeviceState::Idle;
        s.control = "connecting".to_owned();
        s.encoder = Some(encoder.to_owned());
        s.config = ConfigStatus { source: loaded.source.to_string(), files, error };
        s.panel.kind = "none".to_owned();
    });
}

/// A status endpoint that cannot bind is reported, not fatal: the lesson matters more.
fn serve_status(addr: SocketAddr, board: &StatusBoard) {
    match status::serve(addr, board.clone()) {
        // Tests and admins started with port 0 find the real port here.
        Ok(bound) => tracing::info!(addr = %bound, "status endpoint listening"),
        Err(err) => tracing::error!(%err, %addr, "status endpoint unavailable (status.listen)"),
    }
}

/// The fake panel in `--virtual`, the GPIO panel when configured. A broken panel is reported
/// (log, status) and the appliance runs without it: buttons must not be able to stop a lesson.
fn open_panel(args: &RunArgs, settings: &Settings, board: &StatusBoard) -> Option<Box<dyn Panel>> {
    let panel: Result<Box<dyn Panel>, _> = match (&settings.panel, args.use_virtual) {
        (_, true) => Ok(fake_panel(args.panel_stdin)),
        (None, false) => return None,
        (Some(pins), false) => gpio_panel(pins),
    };
    match panel {
        Ok(panel) => {
            board.update(|s| s.panel.kind = panel.kind().to_owned());
            Some(panel)
        }
        Err(err) => {
            tracing::error!(%err, "panel unavailable; running without buttons and LEDs");
            board.update(|s| s.last_error = Some(err.to_string()));
            None
        }
    }
}

fn fake_panel(from_stdin: bool) -> Box<dyn Panel> {
    let (panel, handle) = FakePanel::new();
    if from_stdin {
        let spawned = std::thread::Builder::new()
            .name("panel-stdin".to_owned())
            .spawn(move || handle.press_lines(std::io::stdin().lock()));
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot read panel presses from standard input");
        }
    }
    Box::new(panel)
}

#[cfg(all(target_os = "linux", feature = "gpio"))]
fn gpio_panel(pins: &config::PanelPins) -> Result<Box<dyn Panel>, panel::PanelError> {
    panel::GpioPanel::open(pins).map(|p| Box::new(p) as Box<dyn Panel>)
}

#[cfg(not(all(target_os = "linux", feature = "gpio")))]
fn gpio_panel(_: &config::PanelPins) -> Result<Box<dyn Panel>, panel::PanelError> {
    Err(panel::PanelError::Unsupported)
}
