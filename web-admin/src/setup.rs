//! First-run setup: while no enabled admin exists, the hub prints a one-time link
//! `/admin/setup?code=…` at start-up. The code is random, stored hashed, valid 24 h and consumed by
//! the `POST /admin/api/setup` that creates the first admin. Each start replaces the previous code.

use crate::db::Pool;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::accounts::{self, Account};
use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::Body;
use crate::session::ClientIp;
use crate::{AdminState, Role, random_token, sha256_hex};

pub const CODE_TTL_SECS: u64 = 24 * 3600;

/// Called by the hub at start: a fresh setup code if no enabled admin exists, else `None`.
pub async fn ensure_setup_code(pool: &Pool) -> Result<Option<String>> {
    ensure_setup_code_at(pool, lectern_common::time::unix_secs()).await
}

pub async fn ensure_setup_code_at(pool: &Pool, now: u64) -> Result<Option<String>> {
    let mut tx = pool.begin().await?;
    // Earlier codes were only ever printed; the newest printed one is the one that should work.
    sqlx::query("DELETE FROM admin_setup_codes WHERE used_at IS NULL").execute(&mut *tx).await?;
    if accounts::has_active_admin(&mut *tx).await? {
        tx.commit().await?;
        return Ok(None);
    }
    let code = random_token();
    sqlx::query("INSERT INTO admin_setup_codes (code_hash, created_at, expires_at) VALUES ($1, $2, $3)")
        .bind(sha256_hex(&code))
        .bind(now as i64)
        .bind((now + CODE_TTL_SECS) as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(code))
}

/// Consumes `code` and creates the first admin, in one transaction: a policy error leaves the code usable.
pub async fn redeem(pool: &Pool, code: &str, username: &str, password: &str, ip: &str, now: u64) -> Result<Account> {
    // Check the input before touching the code, so a typo in the password does not burn it.
    accounts::check_password(&accounts::normalize_username(username)?, password)?;
    let mut tx = pool.begin().await?;
    let used = sqlx::query(
        "UPDATE admin_setup_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(now as i64)
    .bind(sha256_hex(code))
    .bind(now as i64)
    .execute(&mut *tx)
    .await?;
    if used.rows_affected() != 1 {
        return Err(Error::Forbidden("code: the setup code is wrong, already used or expired".into()));
    }
    if accounts::has_active_admin(&mut *tx).await? {
        return Err(Error::Conflict("an admin account already exists; log in instead".into()));
    }
    let account = accounts::insert(&mut tx, username, password, Role::Admin, now).await?;
    let entry = Entry {
        at: now,
        actor: "setup",
        action: "account.create",
        target: &account.username,
        ip,
        details: json!({ "role": Role::Admin, "via": "first-run setup" }),
    };
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(account)
}

/// `POST /admin/api/setup` `{code, username, password}` → 201 with the new admin account.
pub async fn setup_handler(
    State(st): State<AdminState>,
    ClientIp(ip): ClientIp,
    body: Body,
) -> Result<(StatusCode, Json<Account>)> {
    body.only(&["code", "username", "password"])?;
    let code = body.string("code")?;
    let username = body.string("username")?;
    let password = body.string("password")?;
    let account = redeem(&st.pool, &code, &username, &password, &ip, st.now()).await?;
    tracing::info!(username = %account.username, "first admin account created through the setup link");
    Ok((StatusCode::CREATED, Json(account)))
}
