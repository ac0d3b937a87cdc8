//! Rooms IT has configured: name, building, capacity, whether everyone waits in the lobby, whether
//! lessons are recorded, and the time zone of its timetable. The id is the room name used in URLs
//! and tokens ([`RoomId`] rules). A room refers to a [building](crate::buildings) (`buildingId`);
//! `building` is that building's name, so clients that send and read a name keep working (an
//! unknown name creates the building).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use lectern_proto::RoomId;
use lectern_proto::lesson::RecordingPolicy;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::buildings;
use crate::error::{Error, Result};
use crate::json::{Body, text};
use crate::session::Caller;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_BUILDING_CHARS: usize = 100;
pub const MAX_CAPACITY: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    pub id: String,
    pub name: String,
    /// The building's name (`""`: none), kept with `building_id` by this module and [`crate::buildings`].
    pub building: String,
    pub building_id: Option<i64>,
    /// The room's own IANA zone for its timetable; `None`: its building's, else the hub's.
    pub zone: Option<String>,
    pub capacity: i64,
    /// Students with a personal lesson token wait in the lobby too (guests always wait).
    #[sqlx(try_from = "crate::db::Flag")]
    pub everyone_waits: bool,
    /// `off`, `on_request` or `always` (issue 21; was a boolean: true is `always`).
    #[sqlx(rename = "recording_policy", try_from = "String")]
    pub recording: RecordingPolicy,
    /// Days after a lesson ends that its recordings are deleted (0: kept forever); `None`: the
    /// hub's `[recording] retention_days`.
    pub retention_days: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a lesson in the room enforces of its settings (the hub's rooms follow these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforced {
    pub capacity: u32,
    pub everyone_waits: bool,
    pub recording: RecordingPolicy,
}

impl Room {
    pub fn enforced(&self) -> Enforced {
        Enforced {
            capacity: u32::try_from(self.capacity).unwrap_or(u32::MAX),
            everyone_waits: self.everyone_waits,
            recording: self.recording,
        }
    }
}

/// Told each room whose enforced settings changed (`None`: the room was deleted).
pub type OnChange = Box<dyn Fn(&RoomId, Option<Enforced>) + Send + Sync>;

/// Where a change to a room's settings is reported, once the hub has said where.
#[derive(Clone, Default)]
pub struct Watch(std::sync::Arc<std::sync::OnceLock<OnChange>>);

impl Watch {
    /// Sets the listener; a second call is ignored.
    pub fn on_change(&self, hook: OnChange) {
        let _ = self.0.set(hook);
    }

    pub fn tell(&self, room: &RoomId, settings: Option<Enforced>) {
        if let Some(hook) = self.0.get() {
            hook(room, settings);
        }
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

/// Every configured room's enforced settings (the hub reads them at start-up).
pub async fn all_enforced(pool: &crate::db::Pool) -> Result<Vec<(RoomId, Enforced)>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_rooms");
    let rooms: Vec<Room> = sqlx::query_as(&sql).fetch_all(pool).await?;
    Ok(rooms.into_iter().filter_map(|r| RoomId::parse(&r.id).ok().map(|id| (id, r.enforced()))).collect())
}

/// The editable fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    name: String,
    building: Building,
    zone: Option<String>,
    capacity: u64,
    everyone_waits: bool,
    recording: RecordingPolicy,
    retention_days: Option<i64>,
}

/// Which building a request names: by id, by name, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Building {
    None,
    Id(i64),
    Name(String),
}

const EDITABLE: [&str; 8] =
    ["name", "building", "buildingId", "zone", "capacity", "everyoneWaits", "recording", "retentionDays"];

/// The longest retention a room may have (about 100 years; the hub's `MAX_RETENTION_DAYS`).
pub const MAX_RETENTION_DAYS: u64 = 36_500;

fn fields(body: &Body) -> Result<Fields> {
    let name = text("name", &body.string("name")?, 1, MAX_NAME_CHARS)?;
    let building_name = text("building", &body.opt_string("building")?.unwrap_or_default(), 0, MAX_BUILDING_CHARS)?;
    let building = match body.opt_i64("buildingId")? {
        Some(id) if id > 0 => Building::Id(id),
        Some(_) => return Err(Error::invalid("buildingId: must be a building id (a whole number)")),
        None if building_name.is_empty() => Building::None,
        None => Building::Name(building_name),
    };
    let zone = buildings::opt_zone(body, "zone")?;
    let capacity = body.opt_u64("capacity")?.ok_or_else(|| Error::invalid("capacity: required"))?;
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(Error::invalid(format!("capacity: must be between 1 and {MAX_CAPACITY}")));
    }
    Ok(Fields {
        name,
        building,
        zone,
        capacity,
        everyone_waits: body.opt_bool("everyoneWaits")?.unwrap_or(false),
        recording: recording_policy(body)?,
        retention_days: retention_days(body)?,
    })
}

/// `retentionDays`: whole days 0..=36500 (0 keeps recordings forever), or null/absent for the hub's default.
fn retention_days(body: &Body) -> Result<Option<i64>> {
    let days = body.opt_u64("retentionDays").map_err(|_| {
        Error::invalid(format!("retentionDays: must be a whole number of days 0-{MAX_RETENTION_DAYS}, or null"))
    })?;
    match days {
        Some(d) if d > MAX_RETENTION_DAYS => {
            Err(Error::invalid(format!("retentionDays: {d} is more than {MAX_RETENTION_DAYS} days")))
        }
        d => Ok(d.map(|d| d as i64)),
    }
}

/// `recording`: a policy name, or a boolean from an old client (true is `always`); default `off`.
fn recording_policy(body: &Body) -> Result<RecordingPolicy> {
    if let Ok(on) = body.opt_bool("recording") {
        return Ok(on.map_or(RecordingPolicy::Off, RecordingPolicy::from_bool));
    }
    let named = body.opt_string("recording").ok().flatten().and_then(|s| RecordingPolicy::parse(&s));
    named.ok_or_else(|| Error::invalid("recording: must be true or false, or one of off, on_request, always"))
}

fn room_id(field: &str, raw: &str) -> Result<RoomId> {
    RoomId::parse(raw).map_err(|e| Error::invalid(format!("{field}: {e}")))
}

const COLUMNS: &str = "id, name, building, building_id, zone, capacity, everyone_waits, recording_policy, \
                       retention_days, created_at, updated_at";

/// The building a request names, as (id, name): an id must exist; an unknown name is created
/// (audited as `building.create`), so clients that only know names keep working.
async fn resolve_building(
    conn: &mut crate::db::Conn,
    caller: &Caller,
    wanted: &Building,
    now: i64,
) -> Result<(Option<i64>, String)> {
    match wanted {
        Building::None => Ok((None, String::new())),
        Building::Id(id) => {
            let b = buildings::fetch(&mut *conn, *id)
                .await?
                .ok_or_else(|| Error::invalid(format!("buildingId: no building {id}")))?;
            Ok((Some(b.id), b.name))
        }
        Building::Name(name) => {
            if let Some(b) = buildings::fetch_by_name(&mut *conn, name).await? {
                return Ok((Some(b.id), b.name));
            }
            let b = buildings::insert(&mut *conn, name, None, now).await?;
            let details = json!({ "name": b.name, "zone": b.zone });
            audit::record(&mut *conn, &Entry::by(caller, now as u64, "building.create", &b.id.to_string(), details))
                .await?;
            Ok((Some(b.id), b.name))
        }
    }
}

async fn fetch(conn: impl sqlx::AnyExecutor<'_>, id: &RoomId) -> Result<Option<Room>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_rooms WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(conn).await?)
}

fn not_found(id: &RoomId) -> Error {
    Error::NotFound(format!("no room '{id}'"))
}

fn snapshot(r: &Room) -> Value {
    json!({
        "name": r.name, "building": r.building, "buildingId": r.building_id, "zone": r.zone, "capacity": r.capacity,
        "everyoneWaits": r.everyone_waits, "recording": r.recording, "retentionDays": r.retention_days,
    })
}

/// `GET /admin/api/rooms`
pub async fn list(State(st): State<AdminState>) -> Result<Json<Vec<Room>>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_rooms ORDER BY id");
    Ok(Json(sqlx::query_as(&sql).fetch_all(&st.pool).await?))
}

/// `GET /admin/api/rooms/{id}`
pub async fn get(State(st): State<AdminState>, Path(id): Path<String>) -> Result<Json<Room>> {
    let id = room_id("id", &id)?;
    fetch(&st.pool, &id).await?.map(Json).ok_or_else(|| not_found(&id))
}

/// `POST /admin/api/rooms` `{id, name, building? | buildingId?, zone?, capacity, everyoneWaits?, recording?}` → 201.
pub async fn create(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Room>)> {
    let mut allowed = vec!["id"];
    allowed.extend(EDITABLE);
    body.only(&allowed)?;
    let id = room_id("id", &body.string("id")?)?;
    let f = fields(&body)?;
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let (building_id, building) = resolve_building(&mut tx, &caller, &f.building, now).await?;
    let room = Room {
        id: id.to_string(),
        name: f.name,
        building,
        building_id,
        zone: f.zone,
        capacity: f.capacity as i64,
        everyone_waits: f.everyone_waits,
        recording: f.recording,
        retention_days: f.retention_days,
        created_at: now,
        updated_at: now,
    };
    // `recording` (0/1) is kept for old readers of the table.
    let sql = format!(
        "INSERT INTO admin_rooms ({COLUMNS}, recording) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    let r = sqlx::query(&sql)
        .bind(&room.id)
        .bind(&room.name)
        .bind(&room.building)
        .bind(room.building_id)
        .bind(&room.zone)
        .bind(room.capacity)
        .bind(room.everyone_waits)
        .bind(room.recording.as_str())
        .bind(room.retention_days)
        .bind(now)
        .bind(now)
        .bind(room.recording != RecordingPolicy::Off)
        .execute(&mut *tx)
        .await;
    match r {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(Error::Conflict(format!("id: a room '{id}' already exists")));
        }
        r => r?,
    };
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "room.create", &room.id, snapshot(&room))).await?;
    tx.commit().await?;
    st.room_watch.tell(&id, Some(room.enforced()));
    Ok((StatusCode::CREATED, Json(room)))
}

/// `PUT /admin/api/rooms/{id}`: replaces the editable fields (omitted optional ones reset to their default).
pub async fn update(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Room>> {
    let id = room_id("id", &id)?;
    let mut allowed = vec!["id"];
    allowed.extend(EDITABLE);
    body.only(&allowed)?;
    if let Some(other) = body.opt_string("id")?
        && other != id.as_str()
    {
        return Err(Error::invalid("id: cannot be changed (create a new room instead)"));
    }
    let f = fields(&body)?;
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let before = fetch(&mut *tx, &id).await?.ok_or_else(|| not_found(&id))?;
    let (building_id, building) = resolve_building(&mut tx, &caller, &f.building, now).await?;
    let sql = format!(
        "UPDATE admin_rooms SET name = $1, building = $2, building_id = $3, zone = $4, capacity = $5, everyone_waits = $6, \
         recording_policy = $7, \
         recording = $8, updated_at = $9, retention_days = $10 WHERE id = $11 RETURNING {COLUMNS}"
    );
    let after: Room = sqlx::query_as(&sql)
        .bind(&f.name)
        .bind(&building)
        .bind(building_id)
        .bind(&f.zone)
        .bind(f.capacity as i64)
        .bind(f.everyone_waits)
        .bind(f.recording.as_str())
        .bind(f.recording != RecordingPolicy::Off)
        .bind(now)
        .bind(f.retention_days)
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let details = json!({ "before": snapshot(&before), "after": snapshot(&after) });
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "room.update", id.as_str(), details)).await?;
    tx.commit().await?;
    st.room_watch.tell(&id, Some(after.enforced()));
    Ok(Json(after))
}

/// `DELETE /admin/api/rooms/{id}` → 204.
pub async fn delete(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = room_id("id", &id)?;
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let before = fetch(&mut *tx, &id).await?.ok_or_else(|| not_found(&id))?;
    sqlx::query("DELETE FROM admin_rooms WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "room.delete", id.as_str(), snapshot(&before))).await?;
    tx.commit().await?;
    st.room_watch.tell(&id, None);
    Ok(StatusCode::NO_CONTENT)
}
