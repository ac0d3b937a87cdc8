//! Who is calling: the `lectern_admin` session cookie (a random 256-bit id, stored hashed, 12 h
//! idle), the CSRF token every state change must echo in `X-CSRF-Token`, and the role check. The
//! [`guard`] layer does all three before any handler behind it runs.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{Error, Result};
use crate::{AdminState, Role, constant_time_eq, random_token, sha256_hex};

pub const COOKIE: &str = "lectern_admin";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused this long is over.
pub const IDLE_SECS: u64 = 12 * 3600;
/// However busy, a session is over after this long: a stolen cookie does not live forever.
pub const MAX_AGE_SECS: u64 = 7 * 24 * 3600;
/// `last_seen_at` is written at most this often, so reads do not each cost a write.
const TOUCH_EVERY_SECS: u64 = 60;

/// The authenticated account behind a request, put in the request's extensions by [`guard`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: i64,
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub ip: String,
    pub(crate) session_hash: String,
}

/// The client's address as the socket saw it, or "unknown" when the server was not started with
/// connect info (in-process tests, some embedders).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl ClientIp {
    fn from_extensions(ext: &Extensions) -> Self {
        ClientIp(ext.get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::from_extensions(&parts.extensions))
    }
}

/// Layer for a group of routes: authenticate, check CSRF on state changes, then the role.
pub async fn guard(State((st, min)): State<(AdminState, Role)>, mut req: Request, next: Next) -> Response {
    let ip = ClientIp::from_extensions(req.extensions()).0;
    let caller = match authenticate(&st, req.headers(), ip).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if !req.method().is_safe() {
        let sent = req.headers().get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        if !constant_time_eq(sent, caller.csrf_token.as_bytes()) {
            return Error::Csrf.into_response();
        }
    }
    if caller.role < min {
        return Error::Forbidden(format!("this needs the {min} role; you are {}", caller.role)).into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

type SessionRow = (i64, String, i64, i64, String, String);

async fn authenticate(st: &AdminState, headers: &HeaderMap, ip: String) -> Result<Caller> {
    let token = cookie_value(headers).ok_or(Error::Unauthorized("not logged in"))?;
    let hash = sha256_hex(token);
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.account_id, s.csrf_token, s.created_at, s.last_seen_at, a.username, a.role \
         FROM admin_sessions s JOIN admin_accounts a ON a.id = s.account_id \
         WHERE s.id_hash = $1 AND a.disabled = FALSE",
    )
    .bind(&hash)
    .fetch_optional(&st.pool)
    .await?;
    let Some((account_id, csrf_token, created_at, last_seen, username, role)) = row else {
        return Err(Error::Unauthorized("session expired or ended; log in again"));
    };
    let now = st.now() as i64;
    if now - last_seen > IDLE_SECS as i64 || now - created_at > MAX_AGE_SECS as i64 {
        sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1").bind(&hash).execute(&st.pool).await?;
        return Err(Error::Unauthorized("session expired or ended; log in again"));
    }
    if now - last_seen >= TOUCH_EVERY_SECS as i64 {
        sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(&hash)
            .execute(&st.pool)
            .await?;
    }
    let role = role.parse().map_err(Error::Internal)?;
    Ok(Caller { account_id, username, role, csrf_token, ip, session_hash: hash })
}

/// A new session for an account: (cookie value, CSRF token). Only the cookie's hash is stored.
pub(crate) async fn start(pool: &crate::db::Pool, account_id: i64, now: u64) -> Result<(String, String)> {
    let (token, csrf) = (random_token(), random_token());
    // Housekeeping on the rare path: forget sessions nobody can use any more.
    sqlx::query("DELETE FROM admin_sessions WHERE last_seen_at < $1 OR created_at < $2")
        .bind(now as i64 - IDLE_SECS as i64)
        .bind(now as i64 - MAX_AGE_SECS as i64)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO admin_sessions (id_hash, account_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(sha256_hex(&token))
    .bind(account_id)
    .bind(&csrf)
    .bind(now as i64)
    .bind(now as i64)
    .execute(pool)
    .await?;
    Ok((token, csrf))
}

pub(crate) async fn end(conn: impl sqlx::AnyExecutor<'_>, caller: &Caller) -> Result<()> {
    sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1").bind(&caller.session_hash).execute(conn).await?;
    Ok(())
}

/// Ends every session of an account; returns how many there were.
pub(crate) async fn end_all(conn: impl sqlx::AnyExecutor<'_>, account_id: i64) -> Result<u64> {
    let r = sqlx::query("DELETE FROM admin_sessions WHERE account_id = $1").bind(account_id).execute(conn).await?;
    Ok(r.rows_affected())
}

/// `Set-Cookie` for a new session. No `Max-Age`: the browser forgets it when closed, the hub after 12 h idle.
pub(crate) fn set_cookie(token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    // The token is URL-safe base64, always a valid header value.
    HeaderValue::from_str(&format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/admin{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(crate) fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("lectern_admin=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("lectern_admin=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; lectern_admin=tok; b=2"));
        assert_eq!(cookie_value(&h), Some("tok"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("lectern_admin=x"));
        assert_eq!(cookie_value(&h), Some("x"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("lectern_admin_old=x; lectern_admin="));
        assert_eq!(cookie_value(&h), None);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_asked() {
        let c = set_cookie("abc", true);
        assert_eq!(c.to_str().unwrap(), "lectern_admin=abc; HttpOnly; SameSite=Strict; Path=/admin; Secure");
        assert!(!set_cookie("abc", false).to_str().unwrap().contains("Secure"));
        assert!(clear_cookie(false).to_str().unwrap().contains("Max-Age=0"));
    }
}
