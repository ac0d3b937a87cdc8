//! Rollouts through the API and the boxes' reports: rows in `ota_rollouts` / `ota_rollout_boxes`
//! loaded into the pure [`crate::rollout::Rollout`], changed, written back, and its effects
//! (offers, pauses) carried out.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path as UrlPath, State};
use axum::http::StatusCode;
use lectern_proto::device::HubMsg;
use lectern_proto::update::{UpdatePhase, UpdateStatus};
use serde_json::json;

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::Body;
use crate::rollout::{Effect, Member, Rollout, RolloutState};
use crate::session::Caller;

use super::{BoxUpdate, offer_for};

/// `POST /admin/api/releases/{id}/rollouts`
/// `{"rings": [{"devices": [...]}, {"building": "North"}, {"everyone": true}], "maxFailurePercent": 20}`
/// → `201 rollout`: the first ring is offered the release at once.
pub async fn start_rollout(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    body.only(&["rings", "maxFailurePercent"])?;
    let release: Option<String> =
        sqlx::query_scalar("SELECT version FROM ota_releases WHERE id = $1").bind(id).fetch_optional(&st.pool).await?;
    let version = release.ok_or_else(|| Error::NotFound(format!("no release {id}")))?;
    let max = body.opt_u64("maxFailurePercent")?.unwrap_or(10);
    if max > 100 {
        return Err(Error::invalid("maxFailurePercent: 0..=100"));
    }
    let specs = body.opt_array("rings")?.ok_or_else(|| Error::invalid("rings: required"))?;
    if specs.is_empty() || specs.len() > 10 {
        return Err(Error::invalid("rings: 1 to 10 rings"));
    }
    let devices: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.id, COALESCE(r.building, '') FROM admin_devices d LEFT JOIN admin_rooms r ON r.id = d.room_id \
         WHERE d.revoked_at IS NULL ORDER BY d.id",
    )
    .fetch_all(&st.pool)
    .await?;
    let mut rings = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let ring = Body::element(&format!("rings[{i}]"), spec)?;
        ring.only(&["devices", "building", "everyone"])?;
        let members: Vec<String> = if let Some(list) = ring.opt_array("devices")? {
            let wanted: Vec<String> = list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
            if let Some(unknown) = wanted.iter().find(|w| !devices.iter().any(|(d, _)| d == *w)) {
                return Err(Error::invalid(format!("rings[{i}].devices: no enrolled box '{unknown}'")));
            }
            wanted
        } else if let Some(building) = ring.opt_string("building")? {
            devices.iter().filter(|(_, b)| *b == building).map(|(d, _)| d.clone()).collect()
        } else if ring.opt_bool("everyone")? == Some(true) {
            devices.iter().map(|(d, _)| d.clone()).collect()
        } else {
            return Err(Error::invalid(format!("rings[{i}]: give devices, building or everyone")));
        };
        rings.push(members);
    }
    let active: Option<i64> = sqlx::query_scalar("SELECT id FROM ota_rollouts WHERE state != 'done' LIMIT 1")
        .fetch_optional(&st.pool)
        .await?;
    if let Some(other) = active {
        return Err(Error::Conflict(format!("rollout {other} is not done; finish or pause it first")));
    }
    let mut rollout = Rollout::new(rings, max as u8);
    let effects = rollout.start();
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let rid: i64 = sqlx::query_scalar(
        "INSERT INTO ota_rollouts (release_id, rings, ring, state, max_failure_percent, created_at, created_by) \
         VALUES ($1, $2, 0, 'running', $3, $4, $5) RETURNING id",
    )
    .bind(id)
    .bind(rollout.rings as i64)
    .bind(max as i64)
    .bind(now)
    .bind(&caller.username)
    .fetch_one(&mut *tx)
    .await?;
    for (device, m) in &rollout.members {
        sqlx::query(
            "INSERT INTO ota_rollout_boxes (rollout_id, device_id, ring, phase, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(rid)
        .bind(device)
        .bind(m.ring as i64)
        .bind(m.phase.map(UpdatePhase::name))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let details =
        json!({ "rollout": rid, "rings": rollout.rings, "boxes": rollout.members.len(), "maxFailurePercent": max });
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "rollout.start", &version, details)).await?;
    save(&mut tx, rid, &rollout, now).await?;
    tx.commit().await?;
    apply_effects(&st, rid, &effects).await?;
    Ok((StatusCode::CREATED, Json(rollout_view(&st, rid).await?)))
}

/// `GET /admin/api/rollouts/{id}`: the rollout and each box's progress.
pub async fn get_rollout(State(st): State<AdminState>, UrlPath(id): UrlPath<i64>) -> Result<Json<serde_json::Value>> {
    Ok(Json(rollout_view(&st, id).await?))
}

/// `POST /admin/api/rollouts/{id}/resume`: go on after an automatic (or manual) pause.
pub async fn resume(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<serde_json::Value>> {
    let (mut rollout, _) = load(&st.pool, id).await?.ok_or_else(|| Error::NotFound(format!("no rollout {id}")))?;
    if !matches!(rollout.state, RolloutState::Paused { .. }) {
        return Err(Error::Conflict(format!("rollout {id} is not paused")));
    }
    let effects = rollout.resume();
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    save(&mut tx, id, &rollout, now as i64).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "rollout.resume", &id.to_string(), json!({}))).await?;
    tx.commit().await?;
    apply_effects(&st, id, &effects).await?;
    Ok(Json(rollout_view(&st, id).await?))
}

/// `POST /admin/api/rollouts/{id}/pause`: no new ring opens until resumed.
pub async fn pause(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<serde_json::Value>> {
    let (mut rollout, _) = load(&st.pool, id).await?.ok_or_else(|| Error::NotFound(format!("no rollout {id}")))?;
    if rollout.state != RolloutState::Running {
        return Err(Error::Conflict(format!("rollout {id} is not running")));
    }
    rollout.state = RolloutState::Paused { reason: format!("paused by {}", caller.username) };
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    save(&mut tx, id, &rollout, now as i64).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "rollout.pause", &id.to_string(), json!({}))).await?;
    tx.commit().await?;
    Ok(Json(rollout_view(&st, id).await?))
}

type RolloutRow = (i64, i64, i64, String, Option<String>, i64);
/// device, rollout, release, version, phase, detail, bytes, size.
type ProgressRow = (String, i64, i64, String, Option<String>, Option<String>, Option<i64>, i64);
/// device, ring, phase, detail, bytes, boots, updated_at, room.
type BoxRow = (String, i64, Option<String>, Option<String>, Option<i64>, Option<i64>, Option<i64>, Option<String>);

/// A rollout from its rows, and its release id.
async fn load(pool: &crate::db::Pool, id: i64) -> Result<Option<(Rollout, i64)>> {
    let row: Option<RolloutRow> = sqlx::query_as(
        "SELECT release_id, rings, ring, state, paused_reason, max_failure_percent FROM ota_rollouts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((release, rings, ring, state, reason, max)) = row else { return Ok(None) };
    let boxes: Vec<(String, i64, Option<String>)> =
        sqlx::query_as("SELECT device_id, ring, phase FROM ota_rollout_boxes WHERE rollout_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?;
    let members = boxes
        .into_iter()
        .map(|(d, ring, phase)| {
            (d, Member { ring: ring as usize, phase: phase.as_deref().and_then(UpdatePhase::parse) })
        })
        .collect();
    let state = match state.as_str() {
        "paused" => RolloutState::Paused { reason: reason.unwrap_or_default() },
        "done" => RolloutState::Done,
        _ => RolloutState::Running,
    };
    let rollout =
        Rollout { rings: rings as usize, current: ring as usize, state, max_failure_percent: max as u8, members };
    Ok(Some((rollout, release)))
}

/// Writes the rollout's state and every box's phase (`detail` and `bytes` are the reports').
async fn save(tx: &mut crate::db::Conn, id: i64, r: &Rollout, now: i64) -> Result<()> {
    let (state, reason) = match &r.state {
        RolloutState::Running => ("running", None),
        RolloutState::Paused { reason } => ("paused", Some(reason.as_str())),
        RolloutState::Done => ("done", None),
    };
    sqlx::query("UPDATE ota_rollouts SET ring = $1, state = $2, paused_reason = $3 WHERE id = $4")
        .bind(r.current as i64)
        .bind(state)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for (device, m) in &r.members {
        sqlx::query(
            "UPDATE ota_rollout_boxes SET phase = $1, updated_at = COALESCE(updated_at, $2) \
             WHERE rollout_id = $3 AND device_id = $4 AND phase IS DISTINCT FROM $5",
        )
        .bind(m.phase.map(UpdatePhase::name))
        .bind(now)
        .bind(id)
        .bind(device)
        .bind(m.phase.map(UpdatePhase::name))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Offers to the boxes of a ring that opened; pauses and completions go to the audit trail.
async fn apply_effects(st: &AdminState, rollout: i64, effects: &[Effect]) -> Result<()> {
    for effect in effects {
        match effect {
            Effect::Offer(devices) => {
                for device in devices {
                    if let Some((room, offer)) = offer_for(st, device).await? {
                        st.fleet.send(&room, HubMsg::Update(offer));
                    }
                }
            }
            Effect::Paused(reason) => {
                let entry = Entry {
                    at: st.now(),
                    actor: "hub",
                    action: "rollout.paused",
                    target: &rollout.to_string(),
                    ip: "",
                    details: json!({ "reason": reason }),
                };
                audit::record(&st.pool, &entry).await?;
                tracing::warn!(rollout, %reason, "rollout paused");
            }
            Effect::Done => {
                let entry = Entry {
                    at: st.now(),
                    actor: "hub",
                    action: "rollout.done",
                    target: &rollout.to_string(),
                    ip: "",
                    details: json!({}),
                };
                audit::record(&st.pool, &entry).await?;
            }
        }
    }
    Ok(())
}

/// A box reported a step: its row, then the rollout (which may open a ring or pause).
pub async fn on_update_status(st: &AdminState, device: &str, status: &UpdateStatus) -> Result<()> {
    let rollout: Option<i64> = sqlx::query_scalar(
        "SELECT b.rollout_id FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id \
         WHERE b.device_id = $1 AND o.release_id = $2 AND b.phase IS NOT NULL ORDER BY o.id DESC LIMIT 1",
    )
    .bind(device)
    .bind(status.release)
    .fetch_optional(&st.pool)
    .await?;
    let Some(id) = rollout else { return Ok(()) };
    let now = st.now() as i64;
    sqlx::query(
        "UPDATE ota_rollout_boxes SET detail = $1, bytes = COALESCE($2, bytes), boots = COALESCE($3, boots), updated_at = $4 \
         WHERE rollout_id = $5 AND device_id = $6",
    )
    .bind(&status.detail)
    .bind(status.bytes.map(|b| b as i64))
    .bind(status.boots.map(i64::from))
    .bind(now)
    .bind(id)
    .bind(device)
    .execute(&st.pool)
    .await?;
    let Some((mut rollout, _)) = load(&st.pool, id).await? else { return Ok(()) };
    let effects = rollout.report(device, status.phase);
    let mut tx = st.pool.begin().await?;
    save(&mut tx, id, &rollout, now).await?;
    tx.commit().await?;
    apply_effects(st, id, &effects).await
}

/// Each box's part in the newest rollout that includes it, by device id (the fleet view).
pub async fn progress_by_device(pool: &crate::db::Pool) -> Result<HashMap<String, BoxUpdate>> {
    let rows: Vec<ProgressRow> = sqlx::query_as(
        "SELECT b.device_id, o.id, r.id, r.version, b.phase, b.detail, b.bytes, r.size \
         FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id JOIN ota_releases r ON r.id = o.release_id \
         ORDER BY o.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(device, rollout, release, version, phase, detail, bytes, size)| {
            let phase = phase.unwrap_or_else(|| "waiting".to_owned());
            (device, BoxUpdate { rollout, release, version, phase, detail, bytes, size })
        })
        .collect())
}

pub(super) async fn rollout_view(st: &AdminState, id: i64) -> Result<serde_json::Value> {
    let (rollout, release) = load(&st.pool, id).await?.ok_or_else(|| Error::NotFound(format!("no rollout {id}")))?;
    let version: String =
        sqlx::query_scalar("SELECT version FROM ota_releases WHERE id = $1").bind(release).fetch_one(&st.pool).await?;
    let boxes: Vec<BoxRow> = sqlx::query_as(
        "SELECT b.device_id, b.ring, b.phase, b.detail, b.bytes, b.boots, b.updated_at, d.room_id \
             FROM ota_rollout_boxes b LEFT JOIN admin_devices d ON d.id = b.device_id \
             WHERE b.rollout_id = $1 ORDER BY b.ring, b.device_id",
    )
    .bind(id)
    .fetch_all(&st.pool)
    .await?;
    let rings: Vec<_> = (0..rollout.rings)
        .map(|r| {
            let (done, failed, size) = rollout.ring_counts(r);
            json!({ "ring": r, "size": size, "done": done, "failed": failed })
        })
        .collect();
    let boxes: Vec<_> = boxes
        .into_iter()
        .map(|(device, ring, phase, detail, bytes, boots, updated_at, room)| {
            json!({ "device": device, "room": room, "ring": ring, "phase": phase.unwrap_or_else(|| "waiting".into()),
                    "detail": detail, "bytes": bytes, "boots": boots, "updatedAt": updated_at })
        })
        .collect();
    Ok(json!({
        "id": id, "release": release, "version": version, "state": rollout.state, "ring": rollout.current,
        "maxFailurePercent": rollout.max_failure_percent, "rings": rings, "boxes": boxes,
    }))
}
