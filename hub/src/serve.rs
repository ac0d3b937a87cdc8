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
use crate::http::{AdminAt, AppState, Edge, admin_app, app};
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
    let store = Store::connect(&settings.database_url()).await?;
    // Revoked classroom boxes stay revoked across restarts.
    for jti in lectern_admin::devices::revoked_jtis(store.pool()).await.context("reading revoked devices")? {
        key.revoke(&jti);
    }
    // In a cluster, only the lessons of rooms this node held last (another node's stay open).
    let lessons = store.close_dangling_lessons(lectern_common::time::unix_ms(), settings.public_url.as_deref()).await?;
    if lessons > 0 {
        tracing::info!(lessons, "closed lessons left open by the previous run");
    }
    let closed = store.close_dangling_sessions(unix_secs(), settings.public_url.as_deref()).await?;
    if closed > 0 {
        tracing::info!(closed, "closed sessions left open by the previous run");
    }
    let (devices_tx, devices_rx) = mpsc::channel(crate::media_io::shard::OUTLET_QUEUE);
    let (sessions_tx, sessions_rx) = mpsc::channel(crate::media_io::shard::OUTLET_QUEUE);
    let epochs = crate::cluster::fence::Epochs::default();
    let storage = recordings_storage(&settings).await?;
    // The hub recorder writes under the data dir, then into the same storage as the uploads.
    let recorder = crate::recording::recorder::writer::Sinks {
        dir: settings.data_dir.join("recorder"),
        storage: Some(storage.clone().map_or_else(
            || {
                Arc::new(crate::recording::storage::LocalDisk::new(settings.data_dir.join("recordings")))
                    as Arc<dyn crate::recording::storage::Storage>
            },
            |h| h.0,
        )),
        store: Some(store.clone()),
        runtime: Some(tokio::runtime::Handle::current()),
    };
    // Files a previous run was writing when it stopped: stored as they are, off the start-up path.
    let leftovers = recorder.clone();
    tokio::task::spawn_blocking(move || match crate::recording::recorder::writer::recover(&leftovers) {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "hub recorder: files of the previous run stored"),
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "hub recorder: files of the previous run not stored"),
    });
    let outlets = Outlets {
        store: Some(store.clone().spawn_writer(epochs.clone())),
        devices: Some(devices_tx),
        sessions: Some(sessions_tx),
        recorder: Some(recorder),
    };
    let sfu = Sfu::start(&settings.media, outlets)?;
    for url in crate::config::static_turn_passwords(&settings.media.ice_servers) {
        tracing::warn!(
            %url,
            "media.ice_servers: a fixed TURN password goes to every participant and never expires; \
             prefer [[media.turn]] with coturn's shared secret"
        );
    }
    let ice = crate::turn::IceServers { fixed: settings.media.ice_servers.clone(), turn: settings.media.turn.clone() };
    let edge = Edge {
        behind_tls: settings.behind_tls,
        join_limit: settings.join_limit,
        cors: settings.cors_origins.clone(),
        trusted_proxies: settings.trusted_proxies.clone(),
        public_url: settings.public_url.clone(),
        zone: settings.zone.clone(),
        token_grace: std::time::Duration::from_secs(settings.token_grace_minutes * 60),
        ota: lectern_admin::releases::OtaSettings {
            dir: Some(settings.data_dir.join("releases")),
            ..settings.ota.clone()
        },
        recording: settings.recording,
        recordings_dir: Some(settings.data_dir.join("recordings")),
        files: crate::files::FileSettings {
            scratch_dir: Some(settings.data_dir.join("scan")),
            ..settings.files.clone()
        },
        storage,
        cluster: cluster_node(&settings, &sfu, &store),
    };
    if let Some(cluster) = &edge.cluster {
        epochs.join(cluster.leases().clone());
    }
    let state = AppState::new(key, sfu, store, ice, edge);
    crate::cluster::spawn_upkeep(&state);
    if let Some(storage) = state.archive.shared_storage() {
        crate::recording::retention::spawn(state.store.clone(), storage, settings.recording.retention_days);
    }
    wire_room_outlets(&state, devices_rx, sessions_rx);
    keep_enrollments(&state).await?;
    // The admin's capacity and everyone-waits settings, enforced by the lessons from now on.
    let rooms = state.room_settings.load(&state.admin).await.context("reading the rooms' settings")?;
    tracing::debug!(rooms, "room settings loaded");
    // Slots saved with a fixed UTC offset (before zones) are given the hub's zone, or marked.
    lectern_admin::schedule::migrate_offsets(state.store.pool(), &settings.zone, lectern_common::time::unix_secs())
        .await
        .context("giving the timetable's old slots a time zone")?;
    // The timetable's slots start and end each lesson on the rooms' boxes (web admin, `admin_schedules`);
    // in a cluster, on the one node holding the scheduler's lease.
    crate::cluster::run_scheduler(&state);
    let listener = TcpListener::bind(settings.listen).await.with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if certs.is_some() { "https" } else { "http" };
    if let Some(redirect) = settings.tls.as_ref().and_then(|t| t.redirect_listen) {
        spawn_redirect(redirect, addr.port()).await?;
    }
    let admin_at = match settings.admin_listen {
        Some(admin) => spawn_admin(admin, &state, certs.clone(), settings.max_connections).await?,
        None => addr,
    };
    // Until an enabled admin exists, whoever has this link may create one (single use, 24 h).
    // Announced before the next line, which readers wait for (some then close the pipe).
    let setup = lectern_admin::setup::ensure_setup_code(state.store.pool()).await?;
    let link = setup.map(|code| format!("{scheme}://{admin_at}/admin/setup?code={code}"));
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
    let admin = if settings.admin_listen.is_some() { AdminAt::Elsewhere } else { AdminAt::Here };
    let drain = std::time::Duration::from_secs(settings.drain_timeout_minutes * 60);
    let stopping = stop_when_drained(state.clone(), drain);
    serve_app(listener, app(state, admin), certs, settings.max_connections, stopping).await
}

/// When to stop serving: at SIGTERM/Ctrl-C for a hub on its own. A cluster node drains first: it
/// takes no new rooms (the registry says it is not serving) and lets its lessons run until they
/// end or `timeout` passes, then ends them ("the hub stopped") and stops; a second signal stops it
/// at once. Its rooms go to other nodes as they start again.
async fn stop_when_drained(state: Arc<AppState>, timeout: std::time::Duration) {
    shutdown_signal().await;
    let Some(cluster) = state.cluster.clone() else { return };
    cluster.drain();
    tracing::info!(
        rooms = cluster.rooms_held(),
        ?timeout,
        "draining: no new rooms here; lessons run on (signal again to stop now)"
    );
    let deadline = tokio::time::Instant::now() + timeout;
    let second = shutdown_signal();
    tokio::pin!(second);
    loop {
        tokio::select! {
            () = &mut second => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        if cluster.rooms_held() == 0 {
            tracing::info!("drained: no lessons left");
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            for room in cluster.rooms() {
                tracing::info!(%room, "drain timeout: ending the lesson");
                let end = |reply| crate::sfu::Command::EndLesson {
                    room: room.clone(),
                    reason: crate::recording::EndReason::Restart,
                    reply,
                };
                let _ = state.sfu.call(&room, end).await;
            }
            return;
        }
    }
}

/// `[storage] kind = "s3"`: the bucket, checked before the hub takes any upload; `None`: the data dir.
async fn recordings_storage(settings: &Settings) -> anyhow::Result<Option<crate::recording::archive::StorageHandle>> {
    let crate::config::StorageSettings::S3(s3) = &settings.storage else { return Ok(None) };
    let staging = settings.data_dir.join("recordings-staging");
    let bucket = crate::recording::s3::S3::new(s3, staging, "recordings/")?;
    bucket.check().await?;
    tracing::info!(endpoint = %s3.endpoint, bucket = %s3.bucket, "recordings are kept in S3");
    Ok(Some(crate::recording::archive::StorageHandle(Arc::new(bucket))))
}

/// With `[coord] url`, this hub joins that cluster as `[node] public_url` (both checked by the
/// settings, as is the shared `secret`).
fn cluster_node(
    settings: &Settings,
    sfu: &crate::media_io::Sfu,
    store: &Store,
) -> Option<Arc<crate::cluster::Cluster>> {
    let url = settings.coord_url.clone()?;
    let public_url = settings.public_url.as_deref()?;
    let secret = settings.secret.as_deref()?;
    tracing::info!(coord = ?url, node = public_url, "joining the cluster");
    let fence = Arc::new(crate::cluster::fence::StoreFence::new(store.pool().clone()));
    Some(crate::cluster::Cluster::start(url, public_url, secret.as_bytes(), &sfu.media_addrs, fence))
}

/// `[admin] listen`: the web admin on an address of its own (an origin no lesson page shares, and
/// one a firewall can keep to the school's network), with the same TLS as the hub. Returns where.
async fn spawn_admin(
    at: SocketAddr,
    state: &Arc<AppState>,
    certs: Option<Arc<Certs>>,
    max_connections: usize,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(at).await.with_context(|| format!("admin.listen: binding {at}"))?;
    let bound = listener.local_addr()?;
    let scheme = if certs.is_some() { "https" } else { "http" };
    // Tests read this line to learn the port (admin listen = "127.0.0.1:0"); not "listening on",
    // which readers take for the hub's own address.
    println!("admin served on {scheme}://{bound}");
    tracing::info!(addr = %bound, "the web admin is served on its own address only");
    let app = admin_app(state.clone());
    tokio::spawn(async move {
        if let Err(error) = serve_app(listener, app, certs, max_connections, shutdown_signal()).await {
            tracing::error!(error = %format!("{error:#}"), "the web admin's listener stopped");
        }
    });
    Ok(bound)
}

/// Boxes waiting with a claim code keep it across a restart: read back now, saved whenever the
/// codes change (the latest state only: a burst of changes is one write).
async fn keep_enrollments(state: &Arc<AppState>) -> anyhow::Result<()> {
    let restored = state.store.load_pending().await?;
    tracing::debug!(boxes = restored.len(), "boxes waiting to be enrolled restored");
    let (save, mut changed) = tokio::sync::watch::channel(Vec::new());
    state.devices.keep_enrollments(restored, save);
    let store = state.store.clone();
    tokio::spawn(async move {
        while changed.changed().await.is_ok() {
            let pending = changed.borrow_and_update().clone();
            if let Err(e) = store.save_pending(&pending).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot save the boxes waiting to be enrolled");
            }
        }
    });
    Ok(())
}

/// Serves the app on `listener` until SIGTERM/Ctrl-C: plain HTTP, or HTTPS with HSTS when `[tls]`
/// is set. Handlers see the client's address (`ConnectInfo<SocketAddr>`) either way.
async fn serve_app(
    listener: TcpListener,
    app: axum::Router,
    certs: Option<Arc<Certs>>,
    max_connections: usize,
    stopping: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let Some(certs) = certs else {
        crate::http_serve::serve(listener, app, max_connections, stopping).await;
        return Ok(());
    };
    let config = certs.server_config()?;
    let listener = TlsListener::new(listener, config)?;
    let app = app.layer(axum::middleware::map_response(crate::tls::hsts));
    crate::http_serve::serve(listener, app, max_connections, stopping).await;
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
