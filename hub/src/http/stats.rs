//! `GET /api/rooms/{room}/stats` (teacher token of the room, or an admin's): per participant the
//! hub's estimate of its link, the layer of each video track it receives, pauses and loss
//! ([`lectern_proto::stats::RoomStats`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::{TEACHERS, authorize, parse_room};
use super::error::HttpError;
use crate::sfu::{Command, SfuError};

pub async fn room_stats(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, TEACHERS)?;
    let stats =
        st.sfu.call(&room, |reply| Command::Stats { room: room.clone(), reply }).await.map_err(|e| match e {
            SfuError::UnknownParticipant => HttpError::not_found(format!("room '{room}' is not live on this hub")),
            e => e.into(),
        })?;
    let mut resp = Json(stats).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
