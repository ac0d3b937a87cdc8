//! Moving an enrolled box to another room without enrolling it again: the hub mints a credential
//! for the same device id in the new room, pushes it to the box (`HubMsg::Moved`), and retires the
//! old one once the box has shown it holds the new one. Until then the old credential is a
//! hand-over credential: on `/device/ws` it gets the `moved` message and nothing else, so a box
//! that was offline (or lost the push) is not locked out. Column and table:
//! `hub/migrations/0013_device_move.sql`; the design is explained in this crate's README.

use axum::Json;
use axum::extract::{Extension, Path, State};
use lectern_proto::device::{DeviceState, HubMsg};
use lectern_proto::{Claims, RoomId};
use serde_json::json;

use crate::audit::{self, Entry};
use crate::devices::{self, Device};
use crate::error::{Error, Result};
use crate::json::Body;
use crate::session::Caller;
use crate::{AdminState, random_hex};

/// What the box's control channel shows for a move: the device as it now is.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Moved {
    #[serde(flatten)]
    pub device: Device,
    pub from: String,
    /// False when the box is offline: it gets its new credential when it next connects.
    pub delivered: bool,
}

/// `POST /admin/api/devices/{room}/move` `{to, force?}` → `200 moved`.
pub async fn move_box(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(room): Path<String>,
    body: Body,
) -> Result<Json<Moved>> {
    body.only(&["to", "force"])?;
    let from = devices::parse_room(&room)?;
    let to = RoomId::parse(&body.string("to")?).map_err(|e| Error::invalid(format!("to: {e}")))?;
    let force = body.opt_bool("force")?.unwrap_or(false);
    let mut device = devices::require_in_service(&st.pool, &from).await?;
    if to == from {
        return Err(Error::invalid(format!("to: the box is in '{from}' already; pick another room")));
    }
    let configured: Option<String> = sqlx::query_scalar("SELECT id FROM admin_rooms WHERE id = $1")
        .bind(to.as_str())
        .fetch_optional(&st.pool)
        .await?;
    if configured.is_none() {
        return Err(Error::invalid(format!("to: no room '{to}'; add it on the Rooms page first")));
    }
    if let Some(other) = devices::in_service(&st.pool, to.as_str()).await? {
        return Err(Error::Conflict(format!(
            "to: '{to}' already has the box '{}' ({}); move or revoke that one first",
            other.name, other.id
        )));
    }
    let live = st
        .fleet
        .devices()
        .into_iter()
        .any(|d| d.room == from && d.telemetry.as_ref().is_some_and(|t| t.state == DeviceState::Live));
    if live && !force {
        return Err(Error::Conflict(format!(
            "room '{from}' is live: end the lesson first (or send \"force\": true to move the box anyway)"
        )));
    }
    let now = st.now();
    let old_jti = std::mem::replace(&mut device.credential_jti, random_hex());
    let mut tx = st.pool.begin().await?;
    let pending: Option<Option<String>> = sqlx::query_scalar("SELECT handover_jti FROM admin_devices WHERE id = $1")
        .bind(&device.id)
        .fetch_optional(&mut *tx)
        .await?;
    // Moved twice before it came back: the box still holds its first credential, which stays the
    // hand-over one; the one in between never reached it and is retired at once.
    let (handover, retire_now) = match pending.flatten() {
        Some(first) => (first, Some(old_jti.clone())),
        None => (old_jti.clone(), None),
    };
    sqlx::query("UPDATE admin_devices SET room_id = $1, credential_jti = $2, handover_jti = $3 WHERE id = $4")
        .bind(to.as_str())
        .bind(&device.credential_jti)
        .bind(&handover)
        .bind(&device.id)
        .execute(&mut *tx)
        .await?;
    if let Some(jti) = &retire_now {
        retire(&mut tx, jti, &device.id, now).await?;
    }
    let details = json!({ "deviceId": device.id, "name": device.name, "from": from, "to": to, "forced": live });
    audit::record(&mut *tx, &Entry::by(&caller, now, "device.move", from.as_str(), details)).await?;
    tx.commit().await?;
    device.room_id = to.to_string();
    if let Some(jti) = retire_now {
        st.fleet.revoke(&jti);
    }
    let msg = moved_msg(&st, &device, &from, now);
    // The old credential is retired when the box connects with the new one (`on_connect`), not
    // here: the push may not reach it.
    let delivered = st.fleet.send(&from, msg);
    Ok(Json(Moved { device, from: from.to_string(), delivered }))
}

async fn retire(tx: &mut crate::db::Conn, jti: &str, device_id: &str, now: u64) -> Result<()> {
    sqlx::query(
        "INSERT INTO admin_retired_credentials (jti, device_id, retired_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(jti)
    .bind(device_id)
    .bind(now as i64)
    .execute(tx)
    .await?;
    Ok(())
}

/// The box's credential for its room now, as `moved` carries it.
fn moved_msg(st: &AdminState, device: &Device, from: &RoomId, now: u64) -> HubMsg {
    // The row's room was parsed when it was stored; a damaged one falls back to the old room's id,
    // which the box would then be refused in rather than crash on.
    let room = RoomId::parse(&device.room_id).unwrap_or_else(|_| from.clone());
    let claims = Claims {
        sub: device.id.clone(),
        room: room.clone(),
        role: lectern_proto::Role::Device,
        name: Some(device.name.clone()),
        nbf: now.saturating_sub(60),
        exp: now + devices::CREDENTIAL_TTL_SECS,
        jti: device.credential_jti.clone(),
        guest: false,
    };
    HubMsg::Moved {
        token: (st.mint)(claims),
        from: from.clone(),
        room,
        device_id: device.id.clone(),
        name: device.name.clone(),
    }
}

/// A box opened its control channel with `claims`. With its hand-over credential it gets its new
/// one (`Some(moved)`: send it and close); with its new one, the old is retired now. Boxes on
/// hand-made tokens and unknown subjects pass unchanged.
pub async fn on_connect(st: &AdminState, claims: &Claims) -> Result<Option<HubMsg>> {
    let sql = format!("SELECT {} FROM admin_devices WHERE id = $1 AND revoked_at IS NULL", devices::DEVICE_COLUMNS);
    let Some(device) = sqlx::query_as::<_, Device>(&sql).bind(&claims.sub).fetch_optional(&st.pool).await? else {
        return Ok(None);
    };
    let handover: Option<String> = sqlx::query_scalar("SELECT handover_jti FROM admin_devices WHERE id = $1")
        .bind(&device.id)
        .fetch_one(&st.pool)
        .await?;
    let Some(handover) = handover else { return Ok(None) };
    let now = st.now();
    if claims.jti == handover {
        return Ok(Some(moved_msg(st, &device, &claims.room, now)));
    }
    if claims.jti != device.credential_jti {
        return Ok(None);
    }
    let mut tx = st.pool.begin().await?;
    sqlx::query("UPDATE admin_devices SET handover_jti = NULL WHERE id = $1 AND handover_jti = $2")
        .bind(&device.id)
        .bind(&handover)
        .execute(&mut *tx)
        .await?;
    retire(&mut tx, &handover, &device.id, now).await?;
    tx.commit().await?;
    st.fleet.revoke(&handover);
    Ok(None)
}
