//! Logging in and out. Failed logins are audit rows (`login.failed`); the throttle
//! ([`crate::login_gate`]) reserves each attempt's place before the password is checked: 5 failures
//! from one address or for one username within 15 minutes and further attempts get 429 until the
//! oldest failure ages out — even with the right password.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::accounts::{self, MAX_USERNAME_CHARS};
use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::Body;
use crate::session::{self, Caller, ClientIp};
use crate::{AdminState, Role, login_gate};

/// The one answer for an unknown user, a wrong password and a disabled account.
const BAD_LOGIN: &str = "wrong username or password";

/// What login and `me` return: who you are and the token to send as `X-CSRF-Token`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
}

/// `POST /admin/api/login` `{username, password}` → `Me` and the session cookie.
pub async fn login(State(st): State<AdminState>, ClientIp(ip): ClientIp, body: Body) -> Result<Response> {
    body.only(&["username", "password"])?;
    let raw_username = body.string("username")?;
    let password = body.string("password")?;
    // Not validated: an odd username is just one that does not exist. Clipped so throttle keys stay small.
    let username: String = raw_username.trim().to_lowercase().chars().take(MAX_USERNAME_CHARS + 1).collect();
    let now = st.now();
    let gate = &st.login_gate;
    gate.seed_once(&st.pool, now).await?;
    let refused = |r: login_gate::Refused| Error::RateLimited { retry_after: r.retry_after };
    let ticket = gate.reserve(login_gate::keys(&ip, &username), now).map_err(refused)?;
    let found = match accounts::find_for_login(&st.pool, &username).await {
        Ok(found) => found,
        Err(e) => {
            ticket.settle(false, now);
            return Err(e);
        }
    };
    let (account, hash) = match found {
        Some((a, h)) => (Some(a), Some(h)),
        None => (None, None),
    };
    let known = account.is_some();
    let hasher = match gate.hasher().await {
        Ok(h) => h,
        Err(r) => {
            // Too busy to check: not a wrong password.
            ticket.settle(false, now);
            return Err(refused(r));
        }
    };
    let ok = accounts::verify_password(hash, &password, hasher).await;
    ticket.settle(!ok, now);
    let Some(account) = account.filter(|_| ok) else {
        // Only admins reading the audit trail learn which it was; the client never does.
        let reason = if known { "wrong password" } else { "unknown or disabled account" };
        let entry = Entry {
            at: now,
            actor: "anonymous",
            action: "login.failed",
            target: &username,
            ip: &ip,
            details: json!({ "reason": reason }),
        };
        audit::record(&st.pool, &entry).await?;
        return Err(Error::Unauthorized(BAD_LOGIN));
    };
    let (token, csrf_token) = session::start(&st.pool, account.id, now).await?;
    let entry = Entry {
        at: now,
        actor: &account.username,
        action: "login",
        target: &account.username,
        ip: &ip,
        details: json!({}),
    };
    audit::record(&st.pool, &entry).await?;
    let me = Me { username: account.username, role: account.role, csrf_token };
    let mut resp = Json(me).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session::set_cookie(&token, st.secure_cookies));
    Ok(resp)
}

/// `GET /admin/api/me`
pub async fn me(Extension(caller): Extension<Caller>) -> Json<Me> {
    Json(Me { username: caller.username, role: caller.role, csrf_token: caller.csrf_token })
}

/// `POST /admin/api/logout`: ends this session.
pub async fn logout(State(st): State<AdminState>, Extension(caller): Extension<Caller>) -> Result<Response> {
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    session::end(&mut *tx, &caller).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "logout", &caller.username, json!({}))).await?;
    tx.commit().await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, session::clear_cookie(st.secure_cookies))]).into_response())
}

/// `POST /admin/api/logout-everywhere`: ends every session of the caller's account, this one too.
pub async fn logout_everywhere(State(st): State<AdminState>, Extension(caller): Extension<Caller>) -> Result<Response> {
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let ended = session::end_all(&mut *tx, caller.account_id).await?;
    let details = json!({ "sessionsEnded": ended });
    audit::record(&mut *tx, &Entry::by(&caller, now, "logout.everywhere", &caller.username, details)).await?;
    tx.commit().await?;
    let cookie = [(header::SET_COOKIE, session::clear_cookie(st.secure_cookies))];
    Ok((cookie, Json(json!({ "sessionsEnded": ended }))).into_response())
}
