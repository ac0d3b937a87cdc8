//! Bearer-token checks shared by the HTTP endpoints. Deny by default: each caller names the
//! roles it accepts and the room it serves.

use axum::http::{HeaderMap, header};
use lectern_common::time::unix_secs;
use lectern_proto::{Claims, Role, RoomId};

use super::error::HttpError;
use crate::token::TokenKey;

/// Who may read a room's lesson exports and start or stop its box.
pub const TEACHERS: &[Role] = &[Role::Teacher, Role::Admin];

/// Extracts `Authorization: Bearer <token>` and verifies it for `room` and one of `roles`.
pub fn authorize(headers: &HeaderMap, key: &TokenKey, room: &RoomId, roles: &[Role]) -> Result<Claims, HttpError> {
    let claims = verify_bearer(headers, key)?;
    check_grant(&claims, room, roles)?;
    Ok(claims)
}

/// Extracts and verifies `Authorization: Bearer <token>`, whatever it grants.
pub fn verify_bearer(headers: &HeaderMap, key: &TokenKey) -> Result<Claims, HttpError> {
    let value =
        headers.get(header::AUTHORIZATION).ok_or_else(|| HttpError::bearer("missing Authorization: Bearer token"))?;
    let value = value.to_str().map_err(|_| HttpError::bearer("Authorization header is not ASCII"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| HttpError::bearer("missing Authorization: Bearer token"))?;
    Ok(key.verify(token.trim(), unix_secs())?)
}

/// The token's room and role must allow what is asked.
pub fn check_grant(claims: &Claims, room: &RoomId, roles: &[Role]) -> Result<(), HttpError> {
    if &claims.room != room {
        return Err(HttpError::forbidden(format!("token is for room '{}', not '{room}'", claims.room)));
    }
    if !roles.contains(&claims.role) {
        return Err(HttpError::forbidden(format!("role '{}' may not do this", claims.role)));
    }
    Ok(())
}

pub fn parse_room(room: &str) -> Result<RoomId, HttpError> {
    RoomId::parse(room).map_err(|e| HttpError::invalid(format!("invalid room name: {e}")))
}

/// The name shown for a participant: the token's, or one derived from the role.
pub fn display_name(claims: &Claims) -> String {
    let name = claims.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let name = name.unwrap_or(match claims.role {
        Role::Device => "Classroom",
        Role::Teacher => "Teacher",
        Role::Viewer => "Viewer",
        Role::Admin => "Admin",
        Role::Student => "Student",
    });
    crate::classroom::text::clean_name(name)
}
