//! Getting a release to the boxes: the offer a box hears (with its site's maintenance window in
//! UTC), the windows themselves, and the bundle served with `Range` for resumable downloads.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::RoomId;
use lectern_proto::device::HubMsg;
use lectern_proto::update::{MaintenanceWindow, UpdateOffer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::{Body, text};
use crate::session::Caller;

use super::bundle_path;

/// The default window when a site has none: 02:00–05:00 in the hub's zone.
const DEFAULT_WINDOW: (u16, u16) = (120, 300);

/// The bundle of release `id` for a box (the hub checked its device token), honouring
/// `Range: bytes=N-` and `bytes=N-M` so a cut download resumes.
pub async fn serve_bundle(st: &AdminState, id: i64, headers: &HeaderMap) -> Result<Response> {
    let dir = st.ota.dir.clone().ok_or_else(|| Error::NotFound("this hub keeps no releases".into()))?;
    let path = bundle_path(&dir, id);
    let mut file = tokio::fs::File::open(&path).await.map_err(|_| Error::NotFound(format!("no release {id}")))?;
    let size = file.metadata().await.map_err(|e| Error::Internal(e.to_string()))?.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match range.map(|r| parse_range(r, size)) {
        None => (StatusCode::OK, 0, size),
        Some(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(None) => {
            let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            resp.headers_mut().insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
            return Ok(resp);
        }
    };
    file.seek(std::io::SeekFrom::Start(start)).await.map_err(|e| Error::Internal(e.to_string()))?;
    let reader = file.take(end - start);
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    let mut resp = (status, axum::body::Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, hv(&(end - start).to_string()));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, hv(&format!("bytes {start}-{}/{size}", end - 1)));
    }
    Ok(resp)
}

fn hv(s: &str) -> HeaderValue {
    // Digits, spaces, '-', '/' and '*' only.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `bytes=N-` or `bytes=N-M` → the half-open span `[N, M+1)`; `None` when unsatisfiable.
pub fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => size,
        b => b.parse::<u64>().ok()?.saturating_add(1).min(size),
    };
    (start < end).then_some((start, end))
}

/// The release `device` should be offered (its ring opened, not finished with it), with its
/// room: sent after the box's `hello` and when its ring opens.
pub async fn offer_for(st: &AdminState, device: &str) -> Result<Option<(RoomId, UpdateOffer)>> {
    let row: Option<(i64, String, i64, String, String, String)> = sqlx::query_as(
        "SELECT r.id, r.version, r.size, r.sha256, d.room_id, COALESCE(rm.building, '') \
         FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id \
         JOIN ota_releases r ON r.id = o.release_id JOIN admin_devices d ON d.id = b.device_id \
         LEFT JOIN admin_rooms rm ON rm.id = d.room_id \
         WHERE b.device_id = $1 AND d.revoked_at IS NULL AND b.phase IS NOT NULL \
           AND b.phase NOT IN ('good', 'failed', 'rolledBack') \
         ORDER BY o.id DESC LIMIT 1",
    )
    .bind(device)
    .fetch_optional(&st.pool)
    .await?;
    let Some((release, version, size, sha256, room, building)) = row else { return Ok(None) };
    let Ok(room) = RoomId::parse(&room) else { return Ok(None) };
    let room_path = room.as_str().to_owned();
    let window = window_for(st, &building).await?;
    // Two seconds per other box of its ring, at most half an hour: a ring of 500 starts its
    // downloads over about 17 minutes instead of all at once.
    let ring_size: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ota_rollout_boxes x JOIN \
           (SELECT rollout_id, ring FROM ota_rollout_boxes WHERE device_id = $1 ORDER BY rollout_id DESC LIMIT 1) m \
           ON x.rollout_id = m.rollout_id AND x.ring = m.ring",
    )
    .bind(device)
    .fetch_one(&st.pool)
    .await?;
    let spread_secs = (ring_size.saturating_sub(1) * 2).clamp(0, 1800) as u32;
    let offer = UpdateOffer {
        release,
        version,
        path: format!("/device/{room_path}/releases/{release}/bundle"),
        size: size as u64,
        sha256,
        window,
        spread_secs,
    };
    Ok(Some((room, offer)))
}

/// `GET /admin/api/release-windows`: each site's maintenance window (local `HH:MM` in the hub's
/// zone; building `""` is the default for the rest; without any row 02:00–05:00).
pub async fn windows(State(st): State<AdminState>) -> Result<Json<serde_json::Value>> {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT building, start_minute, end_minute FROM ota_windows ORDER BY building")
            .fetch_all(&st.pool)
            .await?;
    let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let list: Vec<_> =
        rows.into_iter().map(|(b, s, e)| json!({ "building": b, "start": hhmm(s), "end": hhmm(e) })).collect();
    Ok(Json(json!({ "zone": st.zone, "windows": list })))
}

/// `PUT /admin/api/release-windows` `{"building": "North", "start": "02:00", "end": "05:00"}` →
/// `200`: boxes of that building reboot into a new release only then (`start` = `end`: any time).
pub async fn set_window(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Json<serde_json::Value>> {
    body.only(&["building", "start", "end"])?;
    let building = text("building", &body.opt_string("building")?.unwrap_or_default(), 0, 100)?;
    let minute = |field: &str, v: String| {
        crate::timetable::parse_hhmm(&v, false).map_err(|e| Error::invalid(format!("{field}: {e}")))
    };
    let start = minute("start", body.string("start")?)?;
    let end = minute("end", body.string("end")?)?;
    let mut tx = st.pool.begin().await?;
    sqlx::query(
        "INSERT INTO ota_windows (building, start_minute, end_minute) VALUES ($1, $2, $3)          ON CONFLICT(building) DO UPDATE SET start_minute = excluded.start_minute, end_minute = excluded.end_minute",
    )
    .bind(&building)
    .bind(start)
    .bind(end)
    .execute(&mut *tx)
    .await?;
    let details = json!({ "start": start, "end": end });
    audit::record(&mut *tx, &Entry::by(&caller, st.now(), "release.window", &building, details)).await?;
    tx.commit().await?;
    // Boxes on their way to a release hear the new window now, not at their next connection.
    let on_the_way: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT b.device_id FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id \
         WHERE o.state != 'done' AND b.phase IS NOT NULL AND b.phase NOT IN ('good', 'failed', 'rolledBack')",
    )
    .fetch_all(&st.pool)
    .await?;
    for device in on_the_way {
        if let Some((room, offer)) = offer_for(&st, &device).await? {
            st.fleet.send(&room, HubMsg::Update(offer));
        }
    }
    windows(State(st)).await
}

/// The site's window in the hub's zone, as UTC minutes for today.
async fn window_for(st: &AdminState, building: &str) -> Result<MaintenanceWindow> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT start_minute, end_minute FROM ota_windows WHERE building IN ($1, '') ORDER BY building = '' LIMIT 1",
    )
    .bind(building)
    .fetch_optional(&st.pool)
    .await?;
    let (start, end) = row.map_or(DEFAULT_WINDOW, |(s, e)| (s.clamp(0, 1439) as u16, e.clamp(0, 1439) as u16));
    Ok(utc_window(&st.zone, start, end, st.now()))
}

/// A local window `start..end` (minutes after local midnight) in `zone` as UTC minutes, taken on
/// the day of `unix_secs` (the hub sends it again with each offer, so DST changes follow).
pub fn utc_window(zone: &str, start: u16, end: u16, unix_secs: u64) -> MaintenanceWindow {
    let length = (end + 1440 - start) % 1440;
    let length = if length == 0 { 1440 } else { length };
    let offset_min = crate::timetable::zone(zone)
        .ok()
        .and_then(|tz| {
            let ts = jiff::Timestamp::from_second(unix_secs as i64).ok()?;
            Some(tz.to_offset(ts).seconds() / 60)
        })
        .unwrap_or(0);
    let start_utc = (i32::from(start) - offset_min).rem_euclid(1440) as u16;
    MaintenanceWindow { start_utc_minute: start_utc, length_minutes: length }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resume_and_refuse_what_cannot_be_served() {
        assert_eq!(parse_range("bytes=0-", 10), Some((0, 10)));
        assert_eq!(parse_range("bytes=4-", 10), Some((4, 10)));
        assert_eq!(parse_range("bytes=2-5", 10), Some((2, 6)));
        assert_eq!(parse_range("bytes=2-50", 10), Some((2, 10)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=-5", 10), None, "suffix ranges are not needed by boxes");
        assert_eq!(parse_range("items=1-", 10), None);
    }

    #[test]
    fn a_local_window_becomes_utc_minutes_with_the_zone_of_the_day() {
        // 2027-01-15 and 2027-07-15, Europe/Berlin (UTC+1, then UTC+2): 02:00–05:00 local.
        let winter = utc_window("Europe/Berlin", 120, 300, 1_800_000_000);
        assert_eq!(winter, MaintenanceWindow { start_utc_minute: 60, length_minutes: 180 });
        let summer = utc_window("Europe/Berlin", 120, 300, 1_815_000_000);
        assert_eq!(summer.start_utc_minute, 0);
        let over_midnight = utc_window("UTC", 23 * 60, 60, 0);
        assert_eq!(over_midnight, MaintenanceWindow { start_utc_minute: 1380, length_minutes: 120 });
    }
}
