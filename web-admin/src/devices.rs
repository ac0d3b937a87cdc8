//! Enrolled classroom boxes: claiming a box by the code on its screen (it receives its own device
//! credential), revoking it, and its remote configuration — validated here against what the box
//! reported it has, versioned in `admin_device_configs`, pushed over the box's control channel,
//! and marked applied or failed when the box answers. Table: `hub/migrations/0006_devices.sql`.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use lectern_proto::device::{DeviceConfig, HubMsg, Inventory};
use lectern_proto::{Claims, RoomId};
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::device_config;
use crate::error::{Error, Result};
use crate::fleet::{self, FleetEntry};
use crate::json::{Body, text};
use crate::session::Caller;
use crate::{AdminState, random_hex};

/// A device credential outlives any lesson; it ends when revoked.
pub(crate) const CREDENTIAL_TTL_SECS: u64 = 10 * 365 * 24 * 3600;
/// Failed claims from one address or account within the window before further tries get 429.
pub const MAX_CLAIM_FAILURES: i64 = 10;
pub const CLAIM_WINDOW_SECS: u64 = 15 * 60;
/// One answer for unknown, used and expired codes, so guessing learns nothing.
const BAD_CODE: &str = "code: no box is waiting with this code; check it on the box's screen (codes are single use and expire after 24 hours)";
/// Versions shown on the device page.
const HISTORY: i64 = 20;

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub id: String,
    pub name: String,
    pub room_id: String,
    pub hostname: String,
    pub enrolled_at: i64,
    pub enrolled_by: String,
    pub revoked_at: Option<i64>,
    /// The `jti` of the box's credential: what revoking refuses. Never sent to a browser.
    #[serde(skip)]
    pub credential_jti: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigVersion {
    pub version: i64,
    pub config: DeviceConfig,
    pub created_at: i64,
    pub created_by: String,
    /// `pending`, `applied` or `failed`.
    pub state: String,
    pub error: Option<String>,
    pub reported_at: Option<i64>,
}

pub(crate) const DEVICE_COLUMNS: &str =
    "id, name, room_id, hostname, enrolled_at, enrolled_by, revoked_at, credential_jti";

pub(crate) async fn in_service(pool: &crate::db::Pool, room: &str) -> Result<Option<Device>> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM admin_devices WHERE room_id = $1 AND revoked_at IS NULL");
    Ok(sqlx::query_as::<_, Device>(&sql).bind(room).fetch_optional(pool).await?)
}

pub(crate) async fn require_in_service(pool: &crate::db::Pool, room: &RoomId) -> Result<Device> {
    in_service(pool, room.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("room '{room}' has no enrolled box; enroll one with its claim code")))
}

pub(crate) fn parse_room(room: &str) -> Result<RoomId> {
    RoomId::parse(room).map_err(|e| Error::invalid(format!("room: {e}")))
}

async fn check_claim_throttle(pool: &crate::db::Pool, caller: &Caller, now: u64) -> Result<()> {
    let by = [audit::By::Ip(&caller.ip), audit::By::Actor(&caller.username)];
    audit::throttle(pool, "device.claim.failed", &by, MAX_CLAIM_FAILURES, CLAIM_WINDOW_SECS, now).await
}

/// `POST /admin/api/devices/enroll` `{code, room, name}` → `201 device`: the box waiting with
/// `code` gets its own credential for `room` over its control channel.
pub async fn enroll(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Device>)> {
    body.only(&["code", "room", "name"])?;
    let now = st.now();
    check_claim_throttle(&st.pool, &caller, now).await?;
    let code = body.string("code")?;
    let room = parse_room(&body.string("room")?)?;
    let name = text("name", &body.string("name")?, 1, 100)?;
    let configured: Option<String> = sqlx::query_scalar("SELECT id FROM admin_rooms WHERE id = $1")
        .bind(room.as_str())
        .fetch_optional(&st.pool)
        .await?;
    if configured.is_none() {
        return Err(Error::invalid(format!("room: no room '{room}'; add it on the Rooms page first")));
    }
    if let Some(other) = in_service(&st.pool, room.as_str()).await? {
        return Err(Error::Conflict(format!(
            "room: '{room}' already has the box '{}' ({}); revoke it first",
            other.name, other.id
        )));
    }
    let Some(claimed) = st.fleet.claim(&code) else {
        let entry = Entry::by(&caller, now, "device.claim.failed", room.as_str(), json!({}));
        audit::record(&st.pool, &entry).await?;
        return Err(Error::invalid(BAD_CODE));
    };
    let id = format!("box-{}", random_hex());
    let device = Device {
        id: id.clone(),
        name: name.clone(),
        room_id: room.to_string(),
        hostname: claimed.hostname.clone(),
        enrolled_at: now as i64,
        enrolled_by: caller.username.clone(),
        revoked_at: None,
        credential_jti: random_hex(),
    };
    let mut tx = st.pool.begin().await?;
    sqlx::query(
        "INSERT INTO admin_devices (id, name, room_id, credential_jti, hostname, enrolled_at, enrolled_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&device.id)
    .bind(&device.name)
    .bind(&device.room_id)
    .bind(&device.credential_jti)
    .bind(&device.hostname)
    .bind(device.enrolled_at)
    .bind(&device.enrolled_by)
    .execute(&mut *tx)
    .await?;
    let details = json!({ "deviceId": id, "name": name, "hostname": claimed.hostname,
        "version": claimed.version, "boxAddress": claimed.ip });
    audit::record(&mut *tx, &Entry::by(&caller, now, "device.enroll", room.as_str(), details)).await?;
    tx.commit().await?;
    let claims = Claims {
        sub: id.clone(),
        room: room.clone(),
        role: lectern_proto::Role::Device,
        name: Some(name.clone()),
        nbf: now.saturating_sub(60),
        exp: now + CREDENTIAL_TTL_SECS,
        jti: device.credential_jti.clone(),
        guest: false,
    };
    let token = (st.mint)(claims);
    st.fleet.deliver(&claimed.box_key, HubMsg::Enrolled { token, room, device_id: id, name });
    Ok((StatusCode::CREATED, Json(device)))
}

/// `POST /admin/api/devices/{room}/revoke` → `200 device`: its credential stops working at once,
/// its control channel and media sessions are closed.
pub async fn revoke(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(room): Path<String>,
) -> Result<Json<Device>> {
    let room = parse_room(&room)?;
    let mut device = require_in_service(&st.pool, &room).await?;
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    sqlx::query("UPDATE admin_devices SET revoked_at = $1, revoked_by = $2 WHERE id = $3")
        .bind(now as i64)
        .bind(&caller.username)
        .bind(&device.id)
        .execute(&mut *tx)
        .await?;
    let details = json!({ "deviceId": device.id, "name": device.name });
    audit::record(&mut *tx, &Entry::by(&caller, now, "device.revoke", room.as_str(), details)).await?;
    let handover: Option<String> = sqlx::query_scalar("SELECT handover_jti FROM admin_devices WHERE id = $1")
        .bind(&device.id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    st.fleet.revoke(&device.credential_jti);
    // Moved while away: the credential it still holds goes too.
    if let Some(jti) = handover {
        st.fleet.revoke(&jti);
    }
    device.revoked_at = Some(now as i64);
    Ok(Json(device))
}

/// One box in detail: the fleet row, the enrolled device, what it has and its configurations.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    #[serde(flatten)]
    pub entry: FleetEntry,
    pub device: Option<Device>,
    pub inventory: Option<Inventory>,
    /// Newest first.
    pub configs: Vec<ConfigVersion>,
}

/// `GET /admin/api/devices/{room}`.
pub async fn detail(State(st): State<AdminState>, Path(room): Path<String>) -> Result<Json<Detail>> {
    let room = parse_room(&room)?;
    let entry = fleet::entries(&st)
        .await?
        .into_iter()
        .find(|e| e.room == room.as_str())
        .ok_or_else(|| Error::NotFound(format!("no room or box '{room}'")))?;
    let device = in_service(&st.pool, room.as_str()).await?;
    let (inventory, configs) = match &device {
        Some(d) => (inventory_of(&st, &room, &d.id).await?, configs(&st.pool, &d.id, HISTORY).await?),
        None => (None, Vec::new()),
    };
    Ok(Json(Detail { entry, device, inventory, configs }))
}

/// What the box has: from its connection when it is online, else as it last reported.
async fn inventory_of(st: &AdminState, room: &RoomId, device_id: &str) -> Result<Option<Inventory>> {
    let live = st.fleet.devices().into_iter().find(|d| &d.room == room).and_then(|d| d.inventory);
    if live.is_some() {
        return Ok(live);
    }
    let stored: Option<Option<String>> = sqlx::query_scalar("SELECT inventory FROM admin_devices WHERE id = $1")
        .bind(device_id)
        .fetch_optional(&st.pool)
        .await?;
    Ok(stored.flatten().and_then(|s| serde_json::from_str(&s).ok()))
}

type ConfigRow = (i64, String, i64, String, String, Option<String>, Option<i64>);

async fn configs(pool: &crate::db::Pool, device_id: &str, limit: i64) -> Result<Vec<ConfigVersion>> {
    let rows: Vec<ConfigRow> = sqlx::query_as(
        "SELECT version, config, created_at, created_by, state, error, reported_at FROM admin_device_configs \
         WHERE device_id = $1 ORDER BY version DESC LIMIT $2",
    )
    .bind(device_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(version, config, created_at, created_by, state, error, reported_at)| ConfigVersion {
            version,
            config: serde_json::from_str(&config).unwrap_or_default(),
            created_at,
            created_by,
            state,
            error,
            reported_at,
        })
        .collect())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    pub room: String,
    pub version: i64,
    /// False when the box is offline: it gets the configuration when it connects.
    pub delivered: bool,
}

/// `PUT /admin/api/devices/{room}/config` `{camera?, bitrateKbps?, …}` → `200 sent`.
pub async fn put_config(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(room): Path<String>,
    body: Body,
) -> Result<Json<Sent>> {
    let room = parse_room(&room)?;
    let device = require_in_service(&st.pool, &room).await?;
    let config = device_config::parse(&body)?;
    device_config::validate(&config, inventory_of(&st, &room, &device.id).await?.as_ref())?;
    let sent = store_and_send(&st, &caller, &room, &device.id, &config).await?;
    Ok(Json(sent))
}

/// `POST /admin/api/devices/config` `{rooms: [...], set: {...}}` → `200 [sent, …]`: `set`'s
/// fields over each box's latest configuration. All or nothing: one refusal sends none.
pub async fn bulk_config(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Json<Vec<Sent>>> {
    body.only(&["rooms", "set"])?;
    let rooms = body.opt_array("rooms")?.ok_or_else(|| Error::invalid("rooms: required"))?;
    if rooms.is_empty() || rooms.len() > 500 {
        return Err(Error::invalid("rooms: name 1–500 rooms"));
    }
    let set = body.opt_object("set")?.ok_or_else(|| Error::invalid("set: required"))?;
    let set = device_config::parse(&set).map_err(|e| match e {
        Error::Invalid(m) => Error::invalid(format!("set.{m}")),
        e => e,
    })?;
    let mut planned = Vec::new();
    for (i, room) in rooms.iter().enumerate() {
        let room = room
            .as_str()
            .and_then(|r| RoomId::parse(r).ok())
            .ok_or_else(|| Error::invalid(format!("rooms[{i}]: not a room id")))?;
        let device = in_service(&st.pool, room.as_str())
            .await?
            .ok_or_else(|| Error::invalid(format!("rooms[{i}]: room '{room}' has no enrolled box")))?;
        let base = configs(&st.pool, &device.id, 1).await?.pop().map(|c| c.config).unwrap_or_default();
        let merged = device_config::merge(&base, &set);
        device_config::validate(&merged, inventory_of(&st, &room, &device.id).await?.as_ref()).map_err(
            |e| match e {
                Error::Invalid(m) => Error::invalid(format!("rooms[{i}] ({room}): {m}")),
                e => e,
            },
        )?;
        planned.push((room, device.id, merged));
    }
    let mut sent = Vec::new();
    for (room, device_id, config) in planned {
        sent.push(store_and_send(&st, &caller, &room, &device_id, &config).await?);
    }
    Ok(Json(sent))
}

async fn store_and_send(
    st: &AdminState,
    caller: &Caller,
    room: &RoomId,
    device_id: &str,
    config: &DeviceConfig,
) -> Result<Sent> {
    let now = st.now();
    let json = serde_json::to_string(config).map_err(|e| Error::Internal(e.to_string()))?;
    let mut tx = st.pool.begin().await?;
    let version: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM admin_device_configs WHERE device_id = $1")
            .bind(device_id)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO admin_device_configs (device_id, version, config, created_at, created_by, state) \
         VALUES ($1, $2, $3, $4, $5, 'pending')",
    )
    .bind(device_id)
    .bind(version)
    .bind(&json)
    .bind(now as i64)
    .bind(&caller.username)
    .execute(&mut *tx)
    .await?;
    let details = json!({ "deviceId": device_id, "version": version, "config": config });
    audit::record(&mut *tx, &Entry::by(caller, now, "device.config", room.as_str(), details)).await?;
    tx.commit().await?;
    let delivered =
        st.fleet.send(room, HubMsg::ApplyConfig { version: version as u64, config: device_config::to_toml(config) });
    Ok(Sent { room: room.to_string(), version, delivered })
}

// What the hub calls from the boxes' control channel.

/// Credential ids of revoked boxes (with the one a box moved while away still held) and of
/// credentials retired by a move, for the hub to refuse from start-up on.
pub async fn revoked_jtis(pool: &crate::db::Pool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT credential_jti FROM admin_devices WHERE revoked_at IS NOT NULL \
         UNION ALL SELECT handover_jti FROM admin_devices WHERE revoked_at IS NOT NULL AND handover_jti IS NOT NULL \
         UNION ALL SELECT jti FROM admin_retired_credentials",
    )
    .fetch_all(pool)
    .await?)
}

/// An enrolled box said hello: keep what it has, and return the configuration it still has to
/// apply (the newest version, if the box has not answered it yet).
pub async fn on_hello(
    pool: &crate::db::Pool,
    device_id: &str,
    inventory: Option<&Inventory>,
) -> Result<Option<(u64, String)>> {
    if let Some(inv) = inventory {
        let json = serde_json::to_string(inv).map_err(|e| Error::Internal(e.to_string()))?;
        sqlx::query("UPDATE admin_devices SET inventory = $1 WHERE id = $2")
            .bind(json)
            .bind(device_id)
            .execute(pool)
            .await?;
    }
    let newest = configs(pool, device_id, 1).await?.pop();
    Ok(newest.filter(|c| c.state == "pending").map(|c| (c.version as u64, device_config::to_toml(&c.config))))
}

/// The box answered an `applyConfig`. Answers for unknown versions are ignored.
pub async fn on_config_result(
    pool: &crate::db::Pool,
    device_id: &str,
    version: u64,
    ok: bool,
    error: Option<&str>,
    now: u64,
) -> Result<()> {
    let error: Option<String> = error.map(|e| e.chars().take(1000).collect());
    sqlx::query(
        "UPDATE admin_device_configs SET state = $1, error = $2, reported_at = $3 WHERE device_id = $4 AND version = $5",
    )
    .bind(if ok { "applied" } else { "failed" })
    .bind(error)
    .bind(now as i64)
    .bind(device_id)
    .bind(version.min(i64::MAX as u64) as i64)
    .execute(pool)
    .await?;
    Ok(())
}
