//! The timetable of configured rooms (table `admin_schedules`, one row a timetable slot: the weekly
//! rule): list, add, edit, delete, and join links to a slot's lesson for the teacher and the
//! students. Time arithmetic is in [`crate::timetable`],
//! the commands it drives in [`crate::scheduler`].

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use lectern_proto::{Claims, RoomId};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::{Body, text};
use crate::session::Caller;
use crate::timetable::{Slot, Weekday, format_hhmm, parse_hhmm, zone};
use crate::{AdminState, random_hex};

pub const MAX_TEACHER_CHARS: usize = 100;
pub const MAX_TITLE_CHARS: usize = 100;
/// A lesson's links open this long before its start, so people can test their camera.
pub const LINK_EARLY_SECS: u64 = 15 * 60;

/// A timetable slot as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: i64,
    pub room_id: String,
    pub weekday: String,
    pub start: String,
    pub end: String,
    /// The IANA zone `start` and `end` are in; `None` for a slot saved before zones whose offset
    /// did not match the hub's zone: it does not run until an admin gives it one (`zoneNeeded`).
    pub zone: Option<String>,
    pub zone_needed: bool,
    pub teacher: String,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
}

type Row = (i64, String, i64, i64, i64, Option<String>, String, String, i64, i64);
const COLUMNS: &str = "id, room_id, weekday, start_min, end_min, zone, teacher, title, created_at, updated_at";

/// Rows are written validated (and the table has CHECKs); `None` for one that still does not parse
/// or has no zone yet, which callers skip rather than take the whole schedule down.
fn slot_of(r: &Row) -> Option<Slot> {
    let name = r.5.clone()?;
    Some(Slot {
        id: r.0,
        room: RoomId::parse(&r.1).ok()?,
        weekday: Weekday::from_index(r.2)?,
        start_min: r.3,
        end_min: r.4,
        tz: zone(&name).ok()?,
        zone: name,
    })
}

fn schedule_of(r: Row) -> Schedule {
    let (id, room_id, weekday, start, end, zone, teacher, title, created_at, updated_at) = r;
    Schedule {
        id,
        room_id,
        weekday: Weekday::from_index(weekday).map_or_else(|| weekday.to_string(), |d| d.to_string()),
        start: format_hhmm(start),
        end: format_hhmm(end),
        zone_needed: zone.is_none(),
        zone,
        teacher,
        title,
        created_at,
        updated_at,
    }
}

pub(crate) fn snapshot(s: &Schedule) -> Value {
    json!({
        "roomId": s.room_id, "weekday": s.weekday, "start": s.start, "end": s.end,
        "zone": s.zone, "teacher": s.teacher, "title": s.title,
    })
}

/// Slots saved with a fixed UTC offset (before zones): those whose offset is `zone`'s at `now` take
/// `zone`; the others are marked as needing one (the scheduler skips them; the admin shows a banner).
/// Decided once per slot. Returns (given the zone, marked).
pub async fn migrate_offsets(pool: &crate::db::Pool, zone_name: &str, now: u64) -> Result<(u64, u64)> {
    let tz = zone(zone_name).map_err(Error::Internal)?;
    let ts = jiff::Timestamp::from_second(now as i64).map_err(|e| Error::Internal(e.to_string()))?;
    let offset_min = i64::from(tz.to_offset(ts).seconds()) / 60;
    let mut tx = pool.begin().await?;
    let given = sqlx::query(
        "UPDATE admin_schedules SET zone = $1, zone_decided = TRUE WHERE zone IS NULL AND zone_decided = FALSE AND utc_offset_min = $2",
    )
    .bind(zone_name)
    .bind(offset_min)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let marked =
        sqlx::query("UPDATE admin_schedules SET zone_decided = TRUE WHERE zone IS NULL AND zone_decided = FALSE")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    tx.commit().await?;
    if marked > 0 {
        tracing::warn!(
            slots = marked,
            hub_zone = zone_name,
            "timetable slots saved with another UTC offset need a time zone: they do not run until an admin gives them one"
        );
    }
    Ok((given, marked))
}

/// Every timetable slot, for the scheduler.
pub async fn all_slots(pool: &crate::db::Pool) -> Result<Vec<Slot>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM admin_schedules")).fetch_all(pool).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let l = slot_of(r);
            if l.is_none() {
                tracing::warn!(id = r.0, "skipping a schedule row that does not parse");
            }
            l
        })
        .collect())
}

async fn fetch(conn: impl sqlx::AnyExecutor<'_>, id: i64) -> Result<Option<Row>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM admin_schedules WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

fn not_found(id: i64) -> Error {
    Error::NotFound(format!("no timetable slot {id}"))
}

fn parse_id(raw: &str) -> Result<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| Error::invalid("id: must be a timetable slot id (a whole number)"))
}

/// The validated fields of a request.
struct Fields {
    slot: Slot,
    teacher: String,
    title: String,
}

const FIELDS: [&str; 8] = ["id", "roomId", "weekday", "start", "end", "zone", "teacher", "title"];

fn fields(body: &Body, id: i64, default_zone: &str) -> Result<Fields> {
    if body.has("utcOffsetMinutes") {
        return Err(Error::invalid(
            "utcOffsetMinutes: slots are in a time zone now: give zone (an IANA name such as Europe/Berlin)",
        ));
    }
    body.only(&FIELDS)?;
    let room = RoomId::parse(&body.string("roomId")?).map_err(|e| Error::invalid(format!("roomId: {e}")))?;
    let weekday: Weekday = body.string("weekday")?.parse().map_err(|e| Error::invalid(format!("weekday: {e}")))?;
    let start_min = parse_hhmm(&body.string("start")?, false).map_err(|e| Error::invalid(format!("start: {e}")))?;
    let end_min = parse_hhmm(&body.string("end")?, true).map_err(|e| Error::invalid(format!("end: {e}")))?;
    if end_min <= start_min {
        return Err(Error::invalid("end: must be after start on the same day (24:00 for midnight)"));
    }
    // Not given: the room's, else its building's, else the hub's (`zone` in hub.toml).
    let name = body.opt_string("zone")?.filter(|z| !z.is_empty()).unwrap_or_else(|| default_zone.to_owned());
    let tz = zone(&name).map_err(|e| Error::invalid(format!("zone: {e}")))?;
    let teacher = text("teacher", &body.string("teacher")?, 1, MAX_TEACHER_CHARS)?;
    let title = text("title", &body.string("title")?, 1, MAX_TITLE_CHARS)?;
    Ok(Fields { slot: Slot { id, room, weekday, start_min, end_min, zone: name, tz }, teacher, title })
}

/// The zone of a slot that names none: its room's, else its building's, else the hub's.
async fn default_zone(st: &AdminState, body: &Body) -> Result<String> {
    let room = body.opt_string("roomId").ok().flatten().unwrap_or_default();
    Ok(crate::buildings::zone_of_room(&st.pool, &room, &st.zone).await?.unwrap_or_else(|| st.zone.clone()))
}

/// The room must be configured, and no other slot in it may share a minute with this one.
async fn check(conn: &mut crate::db::Conn, f: &Fields, now: u64) -> Result<()> {
    let room = f.slot.room.as_str();
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM admin_rooms WHERE id = $1").bind(room).fetch_optional(&mut *conn).await?;
    if exists.is_none() {
        return Err(Error::invalid(format!("roomId: no configured room '{room}'")));
    }
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM admin_schedules WHERE room_id = $1 AND id != $2"))
            .bind(room)
            .bind(f.slot.id)
            .fetch_all(&mut *conn)
            .await?;
    for r in rows {
        if slot_of(&r).is_some_and(|other| other.overlaps(&f.slot, now)) {
            let s = schedule_of(r);
            return Err(Error::Conflict(format!(
                "start: overlaps timetable slot {} '{}' in room {} ({} {}–{})",
                s.id, s.title, s.room_id, s.weekday, s.start, s.end
            )));
        }
    }
    Ok(())
}

/// `GET /admin/api/schedules`: sorted by room, weekday, start.
pub async fn list(State(st): State<AdminState>) -> Result<Json<Vec<Schedule>>> {
    let sql = format!("SELECT {COLUMNS} FROM admin_schedules ORDER BY room_id, weekday, start_min, id");
    let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(&st.pool).await?;
    Ok(Json(rows.into_iter().map(schedule_of).collect()))
}

/// Inserts a validated slot (the caller checks the room and overlaps, and audits).
pub(crate) async fn insert(
    conn: &mut crate::db::Conn,
    l: &Slot,
    teacher: &str,
    title: &str,
    now: i64,
) -> Result<Schedule> {
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO admin_schedules (room_id, weekday, start_min, end_min, utc_offset_min, zone, zone_decided, \
         teacher, title, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, TRUE, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(l.room.as_str())
    .bind(l.weekday.index())
    .bind(l.start_min)
    .bind(l.end_min)
    .bind(&l.zone)
    .bind(teacher)
    .bind(title)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(schedule_of(row))
}

/// The room's slots (that have a zone), for overlap checks.
pub(crate) async fn slots_of_room(conn: &mut crate::db::Conn, room: &str) -> Result<Vec<(Slot, Schedule)>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM admin_schedules WHERE room_id = $1"))
        .bind(room)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().filter_map(|r| slot_of(&r).map(|s| (s, schedule_of(r)))).collect())
}

/// `POST /admin/api/schedules` → 201.
pub async fn create(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Schedule>)> {
    if body.has("id") {
        return Err(Error::invalid("id: assigned by the hub"));
    }
    let default = default_zone(&st, &body).await?;
    let f = fields(&body, 0, &default)?;
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    check(&mut tx, &f, now as u64).await?;
    let s = insert(&mut tx, &f.slot, &f.teacher, &f.title, now).await?;
    let target = s.id.to_string();
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "schedule.create", &target, snapshot(&s))).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// `PUT /admin/api/schedules/{id}`: replaces every field.
pub async fn update(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Schedule>> {
    let id = parse_id(&id)?;
    if let Some(other) = body.opt_i64("id")?
        && other != id
    {
        return Err(Error::invalid("id: cannot be changed"));
    }
    let default = default_zone(&st, &body).await?;
    let f = fields(&body, id, &default)?;
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let before = schedule_of(fetch(&mut *tx, id).await?.ok_or_else(|| not_found(id))?);
    check(&mut tx, &f, now as u64).await?;
    let l = &f.slot;
    let row: Row = sqlx::query_as(&format!(
        "UPDATE admin_schedules SET room_id = $1, weekday = $2, start_min = $3, end_min = $4, zone = $5, zone_decided = TRUE, \
         teacher = $6, title = $7, updated_at = $8 WHERE id = $9 RETURNING {COLUMNS}"
    ))
    .bind(l.room.as_str())
    .bind(l.weekday.index())
    .bind(l.start_min)
    .bind(l.end_min)
    .bind(&l.zone)
    .bind(&f.teacher)
    .bind(&f.title)
    .bind(now)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let after = schedule_of(row);
    let details = json!({ "before": snapshot(&before), "after": snapshot(&after) });
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "schedule.update", &id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// `DELETE /admin/api/schedules/{id}` → 204. A lesson of the slot that is on ends at the scheduler's next tick.
pub async fn delete(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id)?;
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let before = schedule_of(fetch(&mut *tx, id).await?.ok_or_else(|| not_found(id))?);
    sqlx::query("DELETE FROM admin_schedules WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "schedule.delete", &id.to_string(), snapshot(&before))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Join links for one lesson (one occurrence) of a timetable slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    pub slot_id: i64,
    /// The same as `slot_id`: the name this field had before "lesson" came to mean one occurrence.
    pub lesson_id: i64,
    pub room: String,
    pub starts_at: u64,
    pub ends_at: u64,
    /// Tokens are valid from here (15 minutes before the start) …
    pub valid_from: u64,
    /// … until the lesson's end.
    pub valid_until: u64,
    /// Personal link for the teacher, named after the slot's teacher.
    pub teacher: String,
    /// Shared guest link for the students: they wait in the lobby and choose their own names.
    pub student: String,
    /// Where the links are served (`[node] public_url`) when the admin has an origin of its own;
    /// `null`: this origin.
    pub base_url: Option<String>,
}

/// `GET /admin/api/schedules/{id}/links`: links for the lesson on now, else the next one (a cancelled
/// occurrence is skipped, a moved one is where it was moved to).
pub async fn links(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Links>> {
    let id = parse_id(&id)?;
    let now = st.now();
    let row = fetch(&st.pool, id).await?.ok_or_else(|| not_found(id))?;
    let slot = slot_of(&row).ok_or_else(|| match row.5 {
        None => Error::Conflict(format!("timetable slot {id} needs a time zone before it has lessons: edit it")),
        Some(_) => Error::Internal(format!("schedule row {id} does not parse")),
    })?;
    let teacher_name = row.6.clone();
    // The lesson that is on or next, terms, holidays and changes applied.
    let timetable = crate::terms::load_timetable(&st.pool).await?;
    let lesson = timetable.next_of_slot(id, now).ok_or_else(|| {
        Error::Conflict(format!("timetable slot {id} has no lesson in the coming year (outside every term?)"))
    })?;
    let (starts_at, ends_at) = (lesson.starts_at, lesson.ends_at);
    let valid_from = starts_at.saturating_sub(LINK_EARLY_SECS);
    let claims = |role, name, guest| Claims {
        sub: random_hex(),
        room: slot.room.clone(),
        role,
        name,
        nbf: valid_from,
        exp: ends_at,
        jti: random_hex(),
        guest,
    };
    let teacher = claims(lectern_proto::Role::Teacher, Some(teacher_name), false);
    let student = claims(lectern_proto::Role::Student, None, true);
    let details = json!({ "startsAt": starts_at, "teacherJti": teacher.jti, "studentJti": student.jti });
    audit::record(&st.pool, &Entry::by(&caller, now, "schedule.links", &id.to_string(), details)).await?;
    let link = |c: Claims| format!("/join/{}?token={}", slot.room, (st.mint)(c));
    Ok(Json(Links {
        slot_id: id,
        lesson_id: id,
        room: slot.room.to_string(),
        starts_at,
        ends_at,
        valid_from,
        valid_until: ends_at,
        teacher: link(teacher),
        student: link(student),
        base_url: st.public_url.clone(),
    }))
}
