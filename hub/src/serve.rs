//! Start-up: settings → TLS certificates → store → media shards → HTTP(S) listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use lectern_common::sd_notify::Notifier;
use lectern_common::time::unix_secs;
use lectern_proto::device::HubMsg;
use lectern_proto::{ParticipantId, RoomId};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::Settings;
use crate::http::{AppState, Edge, app};
use crate::media_io::{Outlets, Sfu};
use crate::secret;
use crate::store::Store;
use crate::tls::{Certs, TlsListener};

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    // Before anything else: a bad certificate should fail start-up at once, naming tls.cert/tls.key.
    let certs = match &settings.tls {
        Some(tls) => Some(start_tls(tls)?),
        None => None,
    };
    // SIGHUP (`systemctl reload`) reloads the certificate; without [tls] it must not end the hub,
    // which is its default action. Handled from here on, before anyone learns our address.
    match &certs {
        Some(certs) => certs.spawn_reloader(),
        None => crate::tls::ignore_hangups(),
    }
    let key = secret::load_or_create(settings.secret.as_deref(), &settings.data_dir)?;
    let store = Store::open(&settings.data_dir).await?;
    // Revoked classroom boxes stay revoked across restarts.
    for jti in lectern_admin::devices::revoked_jtis(store.pool()).await.context("reading revoked devices")? {
        key.revoke(&jti);
    }
    let closed = store.close_dangling_sessions(unix_secs()).await?;
    if closed > 0 {
        tracing::info!(closed, "closed sessions left open by the previous run");
    }
    let (devices_tx, devices_rx) = mpsc::channel(crate::media_io::shard::OUTLET_QUEUE);
    let (sessions_tx, sessions_rx) = mpsc::channel(crate::media_io::shard::OUTLET_QUEUE);
    let outlets =
        Outlets { store: Some(store.clone().spawn_writer()), devices: Some(devices_tx), sessions: Some(sessions_tx) };
    let sfu = Sfu::start(&settings.media, outlets)?;
    for url in crate::config::static_turn_passwords(&settings.media.ice_servers) {
        tracing::warn!(
            %url,
            "media.ice_servers: a fixed TURN password goes to every participant and never expires; \
             prefer [[media.turn]] with coturn's shared secret"
        );
    }
    let ice = crate::turn::IceServers { fixed: settings.media.ice_servers.clone(), turn: settings.media.turn.clone() };
    let edge =
        Edge { behind_tls: settings.behind_tls, join_limit: settings.join_limit, cors: settings.cors_origins.clone() };
    let state = AppState::new(key, sfu, store, ice, edge);
    wire_room_outlets(&state, devices_rx, sessions_rx);
    // The timetable's slots start and end each lesson on the rooms' boxes (web admin, `admin_schedules`).
    lectern_admin::spawn_scheduler(state.admin.clone());
    let listener = TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if certs.is_some() { "https" } else { "http" };
    if let Some(redirect) = settings.tls.as_ref().and_then(|t| t.redirect_listen) {
        spawn_redirect(redirect, addr.port()).await?;
    }
    // Until an enabled admin exists, whoever has this link may create one (single use, 24 h).
    // Announced before the next line, which readers wait for (some then close the pipe).
    let setup = lectern_admin::setup::ensure_setup_code(state.store.pool()).await?;
    let link = setup.map(|code| format!("{scheme}://{addr}/admin/setup?code={code}"));
    announce_setup_link(&settings.data_dir, link.as_deref())?;
    // Scripts and tests read this line to learn the port (e.g. with --listen 127.0.0.1:0).
    println!("listening on {scheme}://{addr}");
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), "lectern hub ready");
    let systemd = Notifier::from_env();
    systemd.ready();
    if let Some(every) = systemd.watchdog_interval() {
        // The runtime answering timers is the liveness systemd cares about for the HTTP side.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                systemd.watchdog();
            }
        });
    }
    serve_app(listener, app(state), certs, settings.max_connections).await
}

/// Serves the app on `listener` until SIGTERM/Ctrl-C: plain HTTP, or HTTPS with HSTS when `[tls]`
/// is set. Handlers see the client's address (`ConnectInfo<SocketAddr>`) either way.
async fn serve_app(
    listener: TcpListener,
    app: axum::Router,
    certs: Option<Arc<Certs>>,
    max_connections: usize,
) -> anyhow::Result<()> {
    let Some(certs) = certs else {
        crate::http_serve::serve(listener, app, max_connections, shutdown_signal()).await;
        return Ok(());
    };
    let config = certs.server_config()?;
    let listener = TlsListener::new(listener, config)?;
    let app = app.layer(axum::middleware::map_response(crate::tls::hsts));
    crate::http_serve::serve(listener, app, max_connections, shutdown_signal()).await;
    Ok(())
}

/// Where the first-run admin setup link is kept: readable only by the hub's user.
pub const SETUP_LINK_FILE: &str = "admin-setup-link";

/// Writes the one-time admin setup link to [`SETUP_LINK_FILE`] (mode 0600) and says where it is.
/// The link itself is printed only to a terminal: under systemd, stdout is the journal, which more
/// people can read than should create the first admin. With an admin already there, the file goes.
fn announce_setup_link(data_dir: &std::path::Path, link: Option<&str>) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join(SETUP_LINK_FILE);
    let Some(link) = link else {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %path.display(), error = %e, "could not remove the used admin setup link")
            }
            _ => {}
        }
        return Ok(());
    };
    // Replaced, not rewritten: a file left readable by an older run does not keep its mode.
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing the admin setup link to {}", path.display()))?;
    writeln!(file, "{link}").with_context(|| format!("writing the admin setup link to {}", path.display()))?;
    if std::io::stdout().is_terminal() {
        println!("first-run admin setup: {link}");
    } else {
        println!("first-run admin setup: the link is in {} (single use, valid 24 h)", path.display());
    }
    Ok(())
}

/// `[tls] redirect_listen`: plain HTTP answered with 308 to the same URL on the HTTPS port.
async fn spawn_redirect(redirect: SocketAddr, https_port: u16) -> anyhow::Result<()> {
    let plain =
        TcpListener::bind(redirect).await.with_context(|| format!("tls.redirect_listen: binding {redirect}"))?;
    let bound = plain.local_addr()?;
    tracing::info!(addr = %bound, "redirecting plain HTTP to HTTPS");
    // Tests read this line to learn the port (redirect_listen = "127.0.0.1:0").
    println!("redirecting http://{bound} to https");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(plain, crate::redirect::app(https_port)).await {
            tracing::warn!(%error, "the HTTP-to-HTTPS redirect stopped");
        }
    });
    Ok(())
}

/// `[tls]` at start-up: the self-signed pair made if asked for, the files read (or start-up fails
/// naming `tls.cert`/`tls.key` and the reason), the fingerprint printed for pinning.
fn start_tls(tls: &crate::config::TlsSettings) -> anyhow::Result<Arc<Certs>> {
    if tls.self_signed && crate::tls::ensure_self_signed(tls)? {
        tracing::info!(cert = %tls.cert.display(), "generated a self-signed certificate");
    }
    let certs = Certs::load(tls)?;
    let sha256 = certs.leaf_fingerprint();
    if tls.self_signed {
        // A box pins it with hub.ca_file = this file; browsers show this fingerprint.
        println!("tls: self-signed certificate {} (SHA-256 fingerprint {sha256})", tls.cert.display());
    }
    tracing::info!(cert = %tls.cert.display(), %sha256, "serving HTTPS");
    Ok(certs)
}

/// What the media shards' rooms report beyond browsers reaches the rest of the hub: messages for
/// classroom boxes go to their control channels, and a participant the room let go of (ICE timed
/// out, removed, lesson ended) loses its WHIP/WHEP resource.
fn wire_room_outlets(
    state: &Arc<AppState>,
    mut devices: mpsc::Receiver<(RoomId, HubMsg)>,
    mut sessions: mpsc::Receiver<(RoomId, ParticipantId)>,
) {
    let registry = state.devices.clone();
    tokio::spawn(async move {
        while let Some((room, msg)) = devices.recv().await {
            registry.send(&room, msg);
        }
    });
    let app = Arc::downgrade(state);
    tokio::spawn(async move {
        while let Some((room, participant)) = sessions.recv().await {
            let Some(app) = app.upgrade() else { return };
            app.resources.forget_participant(&room, participant);
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
