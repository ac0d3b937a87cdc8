//! Routes an admin session or a room's own token may call (`Access::SessionOrBearer`): with
//! `Authorization: Bearer`, the hub verifies the token ([`crate::Verify`]) and it must be for the
//! path's room (`{id}` or `{room}`) with one of the row's roles; without one, the admin session rules
//! apply ([`crate::session::guard`]).

use axum::extract::{RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::{AdminState, Role};

pub async fn guard(
    State((st, min, roles)): State<(AdminState, Role, &'static [lectern_proto::Role])>,
    params: RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let Some(auth) = req.headers().get(header::AUTHORIZATION) else {
        return crate::session::guard(State((st, min)), req, next).await;
    };
    let token = auth.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let Some(token) = token.map(str::trim) else {
        return Error::bearer("missing Authorization: Bearer token").into_response();
    };
    let Some(verify) = st.verify.as_ref() else {
        return Error::bearer("this hub does not take tokens here").into_response();
    };
    let claims = match verify(token, st.now()) {
        Ok(c) => c,
        Err(e) => return Error::bearer(e).into_response(),
    };
    let room = params.iter().find(|(k, _)| *k == "id" || *k == "room").map(|(_, v)| v);
    if room != Some(claims.room.as_str()) {
        return Error::forbidden(format!("token is for room '{}', not this one", claims.room)).into_response();
    }
    if !roles.contains(&claims.role) {
        return Error::forbidden(format!("role '{}' may not do this", claims.role)).into_response();
    }
    next.run(req).await
}
