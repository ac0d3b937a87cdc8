//! The term calendar's API and tables (`admin_calendar_periods`, `admin_lesson_exceptions`,
//! `hub/migrations/0009_*.sql`): terms and holidays for the whole hub or one building, one-off
//! lesson changes (cancel, move, extra), the week view's concrete lessons, and [`load_timetable`],
//! which reads it all into the pure [`Timetable`] the scheduler, the links and the `.ics` use.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use jiff::civil::Date;
use lectern_proto::RoomId;
use serde::Serialize;
use serde_json::{Value, json};

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::calendar::{Change, DateRange, LessonKind, RoomCalendar, Timetable, monday_of, parse_date};
use crate::error::{Error, Result};
use crate::json::{Body, text};
use crate::session::Caller;
use crate::timetable::{add_days, format_hhmm, local_date, parse_hhmm, zone};

pub const MAX_NAME_CHARS: usize = 100;
/// The week view shows at most this many days at once.
pub const MAX_DAYS: i64 = 42;

/// Terms and holidays share a table and an API shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Term,
    Holiday,
}

impl PeriodKind {
    fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Term => "term",
            PeriodKind::Holiday => "holiday",
        }
    }
}

/// A term or a holiday as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    pub id: i64,
    /// `None`: the whole hub.
    pub building_id: Option<i64>,
    pub name: String,
    /// First day, `YYYY-MM-DD`.
    #[sqlx(rename = "start_date")]
    pub start: String,
    /// Last day, included.
    #[sqlx(rename = "end_date")]
    pub end: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const PERIOD_COLUMNS: &str = "id, building_id, name, start_date, end_date, created_at, updated_at";

fn period_snapshot(p: &Period) -> Value {
    json!({ "buildingId": p.building_id, "name": p.name, "start": p.start, "end": p.end })
}

fn parse_id(raw: &str, what: &str) -> Result<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| Error::invalid(format!("id: must be {what} id (a whole number)")))
}

fn date_field(body: &Body, field: &str) -> Result<Date> {
    parse_date(&body.string(field)?).map_err(|e| Error::invalid(format!("{field}: {e}")))
}

struct PeriodFields {
    building_id: Option<i64>,
    name: String,
    start: Date,
    end: Date,
}

async fn period_fields(conn: &mut crate::db::Conn, body: &Body) -> Result<PeriodFields> {
    body.only(&["id", "buildingId", "name", "start", "end"])?;
    let name = text("name", &body.string("name")?, 1, MAX_NAME_CHARS)?;
    let (start, end) = (date_field(body, "start")?, date_field(body, "end")?);
    if end < start {
        return Err(Error::invalid("end: must be on or after start (the last day, included)"));
    }
    let building_id = body.opt_i64("buildingId")?;
    if let Some(b) = building_id
        && crate::buildings::fetch(&mut *conn, b).await?.is_none()
    {
        return Err(Error::invalid(format!("buildingId: no building {b}")));
    }
    Ok(PeriodFields { building_id, name, start, end })
}

async fn list_periods(st: &AdminState, kind: PeriodKind) -> Result<Json<Vec<Period>>> {
    let sql = format!("SELECT {PERIOD_COLUMNS} FROM admin_calendar_periods WHERE kind = $1 ORDER BY start_date, id");
    Ok(Json(sqlx::query_as(&sql).bind(kind.as_str()).fetch_all(&st.pool).await?))
}

async fn create_period(
    st: &AdminState,
    caller: &Caller,
    body: &Body,
    kind: PeriodKind,
) -> Result<(StatusCode, Json<Period>)> {
    if body.has("id") {
        return Err(Error::invalid("id: assigned by the hub"));
    }
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let f = period_fields(&mut tx, body).await?;
    let sql = format!(
        "INSERT INTO admin_calendar_periods (kind, building_id, name, start_date, end_date, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {PERIOD_COLUMNS}"
    );
    let p: Period = sqlx::query_as(&sql)
        .bind(kind.as_str())
        .bind(f.building_id)
        .bind(&f.name)
        .bind(f.start.to_string())
        .bind(f.end.to_string())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
    let action = format!("{}.create", kind.as_str());
    audit::record(&mut *tx, &Entry::by(caller, now as u64, &action, &p.id.to_string(), period_snapshot(&p))).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(p)))
}

async fn fetch_period(conn: impl sqlx::AnyExecutor<'_>, kind: PeriodKind, id: i64) -> Result<Period> {
    let sql = format!("SELECT {PERIOD_COLUMNS} FROM admin_calendar_periods WHERE kind = $1 AND id = $2");
    sqlx::query_as(&sql)
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no {} {id}", kind.as_str())))
}

async fn update_period(
    st: &AdminState,
    caller: &Caller,
    id: &str,
    body: &Body,
    kind: PeriodKind,
) -> Result<Json<Period>> {
    let id = parse_id(id, &format!("a {}", kind.as_str()))?;
    if body.opt_i64("id")?.is_some_and(|other| other != id) {
        return Err(Error::invalid("id: cannot be changed"));
    }
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let before = fetch_period(&mut *tx, kind, id).await?;
    let f = period_fields(&mut tx, body).await?;
    let sql = format!(
        "UPDATE admin_calendar_periods SET building_id = $1, name = $2, start_date = $3, end_date = $4, updated_at = $5 \
         WHERE id = $6 RETURNING {PERIOD_COLUMNS}"
    );
    let after: Period = sqlx::query_as(&sql)
        .bind(f.building_id)
        .bind(&f.name)
        .bind(f.start.to_string())
        .bind(f.end.to_string())
        .bind(now)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let action = format!("{}.update", kind.as_str());
    let details = json!({ "before": period_snapshot(&before), "after": period_snapshot(&after) });
    audit::record(&mut *tx, &Entry::by(caller, now as u64, &action, &id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(Json(after))
}

async fn delete_period(st: &AdminState, caller: &Caller, id: &str, kind: PeriodKind) -> Result<StatusCode> {
    let id = parse_id(id, &format!("a {}", kind.as_str()))?;
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let before = fetch_period(&mut *tx, kind, id).await?;
    sqlx::query("DELETE FROM admin_calendar_periods WHERE id = $1").bind(id).execute(&mut *tx).await?;
    let action = format!("{}.delete", kind.as_str());
    audit::record(&mut *tx, &Entry::by(caller, now, &action, &id.to_string(), period_snapshot(&before))).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/api/terms`
pub async fn list_terms(State(st): State<AdminState>) -> Result<Json<Vec<Period>>> {
    list_periods(&st, PeriodKind::Term).await
}

/// `POST /admin/api/terms` `{name, start, end, buildingId?}` → 201.
pub async fn create_term(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Period>)> {
    create_period(&st, &caller, &body, PeriodKind::Term).await
}

/// `PUT /admin/api/terms/{id}`
pub async fn update_term(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Period>> {
    update_period(&st, &caller, &id, &body, PeriodKind::Term).await
}

/// `DELETE /admin/api/terms/{id}` → 204.
pub async fn delete_term(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete_period(&st, &caller, &id, PeriodKind::Term).await
}

/// `GET /admin/api/holidays`
pub async fn list_holidays(State(st): State<AdminState>) -> Result<Json<Vec<Period>>> {
    list_periods(&st, PeriodKind::Holiday).await
}

/// `POST /admin/api/holidays` `{name, start, end, buildingId?}` → 201.
pub async fn create_holiday(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Period>)> {
    create_period(&st, &caller, &body, PeriodKind::Holiday).await
}

/// `PUT /admin/api/holidays/{id}`
pub async fn update_holiday(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Period>> {
    update_period(&st, &caller, &id, &body, PeriodKind::Holiday).await
}

/// `DELETE /admin/api/holidays/{id}` → 204.
pub async fn delete_holiday(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete_period(&st, &caller, &id, PeriodKind::Holiday).await
}

/// A one-off change as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exception {
    pub id: i64,
    /// `cancel`, `move` or `extra`.
    pub kind: String,
    pub slot_id: Option<i64>,
    pub room_id: String,
    /// The slot's occurrence it changes (cancel, move).
    pub date: Option<String>,
    /// Where it goes (move) or when it is (extra).
    pub to_date: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// An extra lesson's zone (a moved one is in its slot's).
    pub zone: Option<String>,
    pub teacher: Option<String>,
    pub title: Option<String>,
    pub created_at: i64,
}

type ExceptionRow = (
    i64,
    String,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);
const EXCEPTION_COLUMNS: &str =
    "id, kind, schedule_id, room_id, date, new_date, start_min, end_min, zone, teacher, title, created_at";

fn exception_of(r: ExceptionRow) -> Exception {
    let (id, kind, slot_id, room_id, date, to_date, start, end, zone, teacher, title, created_at) = r;
    Exception {
        id,
        kind,
        slot_id,
        room_id,
        date,
        to_date,
        start: start.map(format_hhmm),
        end: end.map(format_hhmm),
        zone,
        teacher,
        title,
        created_at,
    }
}

fn exception_snapshot(e: &Exception) -> Value {
    json!({
        "kind": e.kind, "slotId": e.slot_id, "roomId": e.room_id, "date": e.date, "toDate": e.to_date,
        "start": e.start, "end": e.end, "zone": e.zone, "teacher": e.teacher, "title": e.title,
    })
}

/// `GET /admin/api/exceptions`: by date.
pub async fn list_exceptions(State(st): State<AdminState>) -> Result<Json<Vec<Exception>>> {
    let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM admin_lesson_exceptions ORDER BY COALESCE(date, new_date), id");
    let rows: Vec<ExceptionRow> = sqlx::query_as(&sql).fetch_all(&st.pool).await?;
    Ok(Json(rows.into_iter().map(exception_of).collect()))
}

fn times(body: &Body) -> Result<(i64, i64)> {
    let start = parse_hhmm(&body.string("start")?, false).map_err(|e| Error::invalid(format!("start: {e}")))?;
    let end = parse_hhmm(&body.string("end")?, true).map_err(|e| Error::invalid(format!("end: {e}")))?;
    if end <= start {
        return Err(Error::invalid("end: must be after start on the same day (24:00 for midnight)"));
    }
    Ok((start, end))
}

/// The slot a cancel or a move names, and the check that `date` is one of its days.
async fn slot_occurrence(conn: &mut crate::db::Conn, body: &Body) -> Result<(i64, String, Date)> {
    let slot = body.opt_i64("slotId")?.ok_or_else(|| Error::invalid("slotId: required"))?;
    let row: Option<(String, i64)> = sqlx::query_as("SELECT room_id, weekday FROM admin_schedules WHERE id = $1")
        .bind(slot)
        .fetch_optional(&mut *conn)
        .await?;
    let (room, weekday) = row.ok_or_else(|| Error::invalid(format!("slotId: no timetable slot {slot}")))?;
    let date = date_field(body, "date")?;
    let on = i64::from(date.weekday().to_monday_zero_offset());
    if on != weekday {
        let name = |i| crate::timetable::Weekday::from_index(i).map_or("?", |d| d.as_str());
        return Err(Error::invalid(format!(
            "date: {date} is a {}, but timetable slot {slot} is on {}",
            name(on),
            name(weekday)
        )));
    }
    Ok((slot, room, date))
}

/// `POST /admin/api/exceptions`: `{kind: "cancel", slotId, date}`, `{kind: "move", slotId, date,
/// toDate, start, end}` or `{kind: "extra", roomId, toDate, start, end, zone?, teacher, title}` → 201.
pub async fn create_exception(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Exception>)> {
    let kind = body.string("kind")?;
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let insert = format!(
        "INSERT INTO admin_lesson_exceptions (kind, schedule_id, room_id, date, new_date, start_min, end_min, zone, \
         teacher, title, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {EXCEPTION_COLUMNS}"
    );
    let query = sqlx::query_as::<_, ExceptionRow>(&insert).bind(&kind);
    let query = match kind.as_str() {
        "cancel" => {
            body.only(&["kind", "slotId", "date"])?;
            let (slot, room, date) = slot_occurrence(&mut tx, &body).await?;
            query
                .bind(slot)
                .bind(room)
                .bind(date.to_string())
                .bind(None::<String>)
                .bind(None::<i64>)
                .bind(None::<i64>)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
        }
        "move" => {
            body.only(&["kind", "slotId", "date", "toDate", "start", "end"])?;
            let (slot, room, date) = slot_occurrence(&mut tx, &body).await?;
            let to = date_field(&body, "toDate")?;
            let (start, end) = times(&body)?;
            query
                .bind(slot)
                .bind(room)
                .bind(date.to_string())
                .bind(to.to_string())
                .bind(start)
                .bind(end)
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<String>)
        }
        "extra" => {
            body.only(&["kind", "roomId", "toDate", "start", "end", "zone", "teacher", "title"])?;
            let room = RoomId::parse(&body.string("roomId")?).map_err(|e| Error::invalid(format!("roomId: {e}")))?;
            let default = crate::buildings::zone_of_room(&mut *tx, room.as_str(), &st.zone)
                .await?
                .ok_or_else(|| Error::invalid(format!("roomId: no configured room '{room}'")))?;
            let to = date_field(&body, "toDate")?;
            let (start, end) = times(&body)?;
            let name = crate::buildings::opt_zone(&body, "zone")?.unwrap_or(default);
            let teacher = text("teacher", &body.string("teacher")?, 1, crate::schedule::MAX_TEACHER_CHARS)?;
            let title = text("title", &body.string("title")?, 1, crate::schedule::MAX_TITLE_CHARS)?;
            query
                .bind(None::<i64>)
                .bind(room.to_string())
                .bind(None::<String>)
                .bind(to.to_string())
                .bind(start)
                .bind(end)
                .bind(name)
                .bind(teacher)
                .bind(title)
        }
        _ => return Err(Error::invalid("kind: must be one of cancel, move, extra")),
    };
    let row = match query.bind(now).fetch_one(&mut *tx).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(Error::Conflict(
                "date: that lesson is already cancelled or moved (delete that change first)".into(),
            ));
        }
        r => r?,
    };
    let e = exception_of(row);
    let action = format!("lesson.{}", e.kind);
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, &action, &e.id.to_string(), exception_snapshot(&e)))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(e)))
}

/// `DELETE /admin/api/exceptions/{id}` → 204: the lesson is as the timetable has it again.
pub async fn delete_exception(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id, "a lesson change")?;
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM admin_lesson_exceptions WHERE id = $1");
    let row: ExceptionRow = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no lesson change {id}")))?;
    sqlx::query("DELETE FROM admin_lesson_exceptions WHERE id = $1").bind(id).execute(&mut *tx).await?;
    let before = exception_of(row);
    audit::record(
        &mut *tx,
        &Entry::by(&caller, now, "lesson.change.delete", &id.to_string(), exception_snapshot(&before)),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn range_of(start: &str, end: &str) -> Option<DateRange> {
    Some(DateRange { first: parse_date(start).ok()?, last: parse_date(end).ok()? })
}

/// The timetable with every room's terms and holidays and the one-off changes. Rows that do not
/// parse (written by hand) are skipped with a warning rather than stopping every lesson.
pub async fn load_timetable(pool: &crate::db::Pool) -> Result<Timetable> {
    let slots = crate::schedule::all_slots(pool).await?;
    let rooms: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT id, building_id FROM admin_rooms").fetch_all(pool).await?;
    let periods: Vec<(String, Option<i64>, String, String)> =
        sqlx::query_as("SELECT kind, building_id, start_date, end_date FROM admin_calendar_periods")
            .fetch_all(pool)
            .await?;
    // (terms, holidays) by building (None: the hub's).
    let mut by_scope: BTreeMap<Option<i64>, RoomCalendar> = BTreeMap::new();
    for (kind, building, start, end) in periods {
        let Some(range) = range_of(&start, &end) else {
            tracing::warn!(kind, start, end, "skipping a calendar period that does not parse");
            continue;
        };
        let c = by_scope.entry(building).or_default();
        if kind == "term" { c.terms.push(range) } else { c.holidays.push(range) }
    }
    let hub = by_scope.get(&None).cloned().unwrap_or_default();
    let mut calendars = BTreeMap::new();
    for (room, building) in rooms {
        let Ok(room) = RoomId::parse(&room) else { continue };
        let own = building.and_then(|b| by_scope.get(&Some(b))).cloned().unwrap_or_default();
        let terms = if own.terms.is_empty() { hub.terms.clone() } else { own.terms };
        let holidays: Vec<DateRange> = hub.holidays.iter().chain(&own.holidays).copied().collect();
        if !terms.is_empty() || !holidays.is_empty() {
            calendars.insert(room, RoomCalendar { terms, holidays });
        }
    }
    let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM admin_lesson_exceptions");
    let rows: Vec<ExceptionRow> = sqlx::query_as(&sql).fetch_all(pool).await?;
    let changes = rows.iter().filter_map(change_of).collect();
    Ok(Timetable { slots, calendars, changes })
}

fn change_of(r: &ExceptionRow) -> Option<Change> {
    let (id, kind, slot, room, date, to, start, end, zone_name, ..) = r;
    let d = |s: &Option<String>| s.as_deref().and_then(|s| parse_date(s).ok());
    let change = match kind.as_str() {
        "cancel" => Some(Change::Cancel { id: *id, slot: (*slot)?, date: d(date)? }),
        "move" => Some(Change::Move {
            id: *id,
            slot: (*slot)?,
            date: d(date)?,
            to: d(to)?,
            start_min: (*start)?,
            end_min: (*end)?,
        }),
        "extra" => {
            let name = zone_name.clone()?;
            Some(Change::Extra {
                id: *id,
                room: RoomId::parse(room).ok()?,
                date: d(to)?,
                start_min: (*start)?,
                end_min: (*end)?,
                tz: zone(&name).ok()?,
                zone: name,
            })
        }
        _ => None,
    };
    if change.is_none() {
        tracing::warn!(id, "skipping a lesson change that does not parse");
    }
    change
}

/// One lesson of the week view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonView {
    pub room_id: String,
    pub kind: LessonKind,
    pub slot_id: Option<i64>,
    pub change_id: Option<i64>,
    /// Local date and wall-clock times in `zone`.
    pub date: String,
    pub start: String,
    pub end: String,
    pub zone: String,
    pub starts_at: u64,
    pub ends_at: u64,
    pub teacher: String,
    pub title: String,
}

/// `GET /admin/api/lessons?from=YYYY-MM-DD&days=N`: the concrete lessons from `from` (default: this
/// week's Monday; days in the hub's zone) for `N` days (default 7, at most 42), terms, holidays and
/// changes applied.
pub async fn lessons(State(st): State<AdminState>, RawQuery(query): RawQuery) -> Result<Json<Value>> {
    let hub_tz = zone(&st.zone).map_err(Error::Internal)?;
    let mut from = monday_of(local_date(&hub_tz, st.now()));
    let mut days = 7;
    for (k, v) in query.as_deref().unwrap_or("").split('&').filter(|p| !p.is_empty()).filter_map(|p| p.split_once('='))
    {
        match k {
            "from" => from = parse_date(v).map_err(|e| Error::invalid(format!("from: {e}")))?,
            "days" => {
                days = v
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (1..=MAX_DAYS).contains(d))
                    .ok_or_else(|| Error::invalid(format!("days: must be a whole number from 1 to {MAX_DAYS}")))?
            }
            other => {
                return Err(Error::invalid(format!(
                    "{}: unknown parameter (expected from, days)",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    let start = crate::timetable::instant(&hub_tz, from.at(0, 0, 0, 0)).max(0) as u64;
    let end = crate::timetable::instant(&hub_tz, add_days(from, days).at(0, 0, 0, 0)).max(0) as u64;
    let timetable = load_timetable(&st.pool).await?;
    let labels: BTreeMap<i64, (String, String)> =
        sqlx::query_as::<_, (i64, String, String)>("SELECT id, teacher, title FROM admin_schedules")
            .fetch_all(&st.pool)
            .await?
            .into_iter()
            .map(|(id, teacher, title)| (id, (teacher, title)))
            .collect();
    let extras: BTreeMap<i64, (String, String)> = sqlx::query_as::<_, (i64, Option<String>, Option<String>)>(
        "SELECT id, teacher, title FROM admin_lesson_exceptions WHERE kind = 'extra'",
    )
    .fetch_all(&st.pool)
    .await?
    .into_iter()
    .map(|(id, teacher, title)| (id, (teacher.unwrap_or_default(), title.unwrap_or_default())))
    .collect();
    let list: Vec<LessonView> = timetable
        .lessons_between(start, end)
        .into_iter()
        .map(|l| {
            let label = match l.kind {
                LessonKind::Extra => l.change.and_then(|c| extras.get(&c)),
                _ => l.slot.and_then(|s| labels.get(&s)),
            };
            let (teacher, title) = label.cloned().unwrap_or_default();
            LessonView {
                room_id: l.room.to_string(),
                kind: l.kind,
                slot_id: l.slot,
                change_id: l.change,
                date: l.date.to_string(),
                start: format_hhmm(l.start_min),
                end: format_hhmm(l.end_min),
                zone: l.zone,
                starts_at: l.starts_at,
                ends_at: l.ends_at,
                teacher,
                title,
            }
        })
        .collect();
    Ok(Json(json!({ "from": from.to_string(), "days": days, "zone": st.zone, "lessons": list })))
}
