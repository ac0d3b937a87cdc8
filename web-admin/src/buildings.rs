//! Buildings (table `admin_buildings`): a name and an optional IANA time zone, the default of its
//! rooms' timetables. A room refers to one ([`crate::rooms`]); a slot's zone defaults to the room's
//! own, else its building's, else the hub's ([`zone_of_room`]).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::{Body, text};
use crate::session::Caller;
use crate::timetable::zone;

pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Building {
    pub id: i64,
    pub name: String,
    /// The IANA zone of its rooms' timetables; `None`: the hub's.
    pub zone: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, zone, created_at, updated_at";

/// An optional zone field: absent, `null` or `""` is none; otherwise an IANA name the tz database knows.
pub fn opt_zone(body: &Body, field: &str) -> Result<Option<String>> {
    match body.opt_string(field)?.map(|z| z.trim().to_owned()).filter(|z| !z.is_empty()) {
        None => Ok(None),
        Some(z) => {
            zone(&z).map_err(|e| Error::invalid(format!("{field}: {e}")))?;
            Ok(Some(z))
        }
    }
}

fn snapshot(b: &Building) -> Value {
    json!({ "name": b.name, "zone": b.zone })
}

fn parse_id(raw: &str) -> Result<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| Error::invalid("id: must be a building id (a whole number)"))
}

fn not_found(id: i64) -> Error {
    Error::NotFound(format!("no building {id}"))
}

pub async fn fetch(conn: impl sqlx::AnyExecutor<'_>, id: i64) -> Result<Option<Building>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_buildings WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

pub async fn fetch_by_name(conn: impl sqlx::AnyExecutor<'_>, name: &str) -> Result<Option<Building>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_buildings WHERE name = $1");
    Ok(sqlx::query_as(&sql).bind(name).fetch_optional(conn).await?)
}

/// Inserts a building (the caller audits); `409` when the name is taken.
pub(crate) async fn insert(conn: &mut crate::db::Conn, name: &str, zone: Option<&str>, now: i64) -> Result<Building> {
    let sql = format!(
        "INSERT INTO admin_buildings (name, zone, created_at, updated_at) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    );
    match sqlx::query_as(&sql).bind(name).bind(zone).bind(now).bind(now).fetch_one(&mut *conn).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(Error::Conflict(format!("name: a building '{name}' already exists")))
        }
        r => Ok(r?),
    }
}

/// The zone a timetable slot of `room` takes when it names none: the room's own, else its
/// building's, else `hub_zone`. `None`: no such configured room.
pub async fn zone_of_room(conn: impl sqlx::AnyExecutor<'_>, room: &str, hub_zone: &str) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT COALESCE(r.zone, b.zone) FROM admin_rooms r LEFT JOIN admin_buildings b ON b.id = r.building_id \
         WHERE r.id = $1",
    )
    .bind(room)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(z,)| z.unwrap_or_else(|| hub_zone.to_owned())))
}

struct Fields {
    name: String,
    zone: Option<String>,
}

fn fields(body: &Body) -> Result<Fields> {
    body.only(&["id", "name", "zone"])?;
    Ok(Fields { name: text("name", &body.string("name")?, 1, MAX_NAME_CHARS)?, zone: opt_zone(body, "zone")? })
}

/// `GET /admin/api/buildings`: sorted by name.
pub async fn list(State(st): State<AdminState>) -> Result<Json<Vec<Building>>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_buildings ORDER BY name, id");
    Ok(Json(sqlx::query_as(&sql).fetch_all(&st.pool).await?))
}

/// `POST /admin/api/buildings` `{name, zone?}` → 201.
pub async fn create(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Building>)> {
    if body.has("id") {
        return Err(Error::invalid("id: assigned by the hub"));
    }
    let f = fields(&body)?;
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let b = insert(&mut tx, &f.name, f.zone.as_deref(), now).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "building.create", &b.id.to_string(), snapshot(&b)))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(b)))
}

/// `PUT /admin/api/buildings/{id}` `{name, zone?}`: a rename is seen by its rooms' `building`.
pub async fn update(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Building>> {
    let id = parse_id(&id)?;
    if let Some(other) = body.opt_i64("id")?
        && other != id
    {
        return Err(Error::invalid("id: cannot be changed"));
    }
    let f = fields(&body)?;
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let before = fetch(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
    let sql =
        format!("UPDATE admin_buildings SET name = $1, zone = $2, updated_at = $3 WHERE id = $4 RETURNING {COLUMNS}");
    let after: Building =
        match sqlx::query_as(&sql).bind(&f.name).bind(&f.zone).bind(now).bind(id).fetch_one(&mut *tx).await {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::Conflict(format!("name: a building '{}' already exists", f.name)));
            }
            r => r?,
        };
    sqlx::query("UPDATE admin_rooms SET building = $1 WHERE building_id = $2")
        .bind(&after.name)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let details = json!({ "before": snapshot(&before), "after": snapshot(&after) });
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "building.update", &id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// `DELETE /admin/api/buildings/{id}` → 204; `409` while rooms are in it.
pub async fn delete(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id)?;
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let before = fetch(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
    let rooms: Vec<(String,)> = sqlx::query_as("SELECT id FROM admin_rooms WHERE building_id = $1 ORDER BY id LIMIT 5")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    if !rooms.is_empty() {
        let names: Vec<_> = rooms.into_iter().map(|(r,)| r).collect();
        return Err(Error::Conflict(format!(
            "id: building '{}' still has rooms ({}): move or delete them first",
            before.name,
            names.join(", ")
        )));
    }
    sqlx::query("DELETE FROM admin_buildings WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "building.delete", &id.to_string(), snapshot(&before))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
