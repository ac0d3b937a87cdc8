//! Admin accounts: usernames, Argon2id password hashes, roles. [`create`] is what the hub's
//! `lectern-hub admin create` and the first-run setup call; the handlers below are admin-only.

use std::sync::OnceLock;

use crate::db::Pool;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::Body;
use crate::session::{self, Caller};
use crate::{AdminState, Role};

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Argon2 takes any length, but hashing megabytes on request is a denial of service.
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const MAX_USERNAME_CHARS: usize = 64;

/// An account as the API shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(skip)]
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: u64,
    pub disabled: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    username: String,
    role: String,
    created_at: i64,
    #[sqlx(try_from = "crate::db::Flag")]
    disabled: bool,
}

impl Row {
    fn into_account(self) -> Result<Account> {
        let role = self.role.parse().map_err(Error::Internal)?;
        Ok(Account {
            id: self.id,
            username: self.username,
            role,
            created_at: self.created_at.max(0) as u64,
            disabled: self.disabled,
        })
    }
}

/// Usernames are lower-cased so `Ada` and `ada` are one account; the alphabet keeps them safe in
/// URLs, logs and CSV.
pub fn normalize_username(raw: &str) -> Result<String> {
    let u = raw.trim().to_lowercase();
    if u.is_empty() {
        return Err(Error::invalid("username: required"));
    }
    if u.chars().count() > MAX_USERNAME_CHARS {
        return Err(Error::invalid(format!("username: must be at most {MAX_USERNAME_CHARS} characters")));
    }
    if !u.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@')) {
        return Err(Error::invalid("username: may only contain letters, digits, '.', '_', '-' and '@'"));
    }
    Ok(u)
}

/// The password policy: at least 12 characters and not the username.
pub fn check_password(username: &str, password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(format!("password: must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(Error::invalid(format!("password: must be at most {MAX_PASSWORD_CHARS} characters")));
    }
    if password.trim().to_lowercase() == username.trim().to_lowercase() {
        return Err(Error::invalid("password: must not be the username"));
    }
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), off the async threads.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task: {e}")))?
}

/// Checks a password against a stored hash; with no hash (unknown user) it still does the same
/// work, so response time does not tell which usernames exist.
pub async fn verify_password(hash: Option<String>, password: &str, hasher: OwnedSemaphorePermit) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        // Held until the hash is done, even if the request that asked is gone.
        let _hasher = hasher;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    SaltString::encode_b64(&[7u8; 16])
                        .ok()
                        .and_then(|salt| {
                            Argon2::default().hash_password(b"not a real password", &salt).ok().map(|h| h.to_string())
                        })
                        .unwrap_or_default()
                })
                .clone()
        });
        let ok =
            PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        known && ok
    })
    .await
    .unwrap_or(false)
}

/// Creates an account after checking the username and the password policy. For callers outside a
/// session (the hub's `admin create` command): the audit trail records it as by `cli`.
pub async fn create(pool: &Pool, username: &str, password: &str, role: Role) -> Result<Account> {
    create_at(pool, username, password, role, lectern_common::time::unix_secs()).await
}

pub async fn create_at(pool: &Pool, username: &str, password: &str, role: Role, now: u64) -> Result<Account> {
    let mut tx = pool.begin().await?;
    let account = insert(&mut tx, username, password, role, now).await?;
    let entry = Entry {
        at: now,
        actor: "cli",
        action: "account.create",
        target: &account.username,
        ip: "local",
        details: json!({ "role": role }),
    };
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(account)
}

/// The insert on its own, for callers that write it together with other rows (setup, audit).
pub(crate) async fn insert(
    conn: &mut crate::db::Conn,
    username: &str,
    password: &str,
    role: Role,
    now: u64,
) -> Result<Account> {
    let username = normalize_username(username)?;
    check_password(&username, password)?;
    let hash = hash_password(password).await?;
    let r: Result<i64, _> = sqlx::query_scalar(
        "INSERT INTO admin_accounts (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&username)
    .bind(&hash)
    .bind(role.as_str())
    .bind(now as i64)
    .fetch_one(&mut *conn)
    .await;
    match r {
        Ok(id) => Ok(Account { id, username, role, created_at: now, disabled: false }),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(Error::Conflict(format!("username: an account named '{username}' already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

/// An enabled account and its hash, for logging in.
pub(crate) async fn find_for_login(pool: &Pool, username: &str) -> Result<Option<(Account, String)>> {
    let row: Option<(i64, String, String, i64, String)> = sqlx::query_as(
        "SELECT id, username, role, created_at, password_hash FROM admin_accounts WHERE username = $1 AND disabled = FALSE",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    row.map(|(id, username, role, created_at, hash)| {
        Row { id, username, role, created_at, disabled: false }.into_account().map(|a| (a, hash))
    })
    .transpose()
}

pub async fn list_all(pool: &Pool) -> Result<Vec<Account>> {
    let rows: Vec<Row> =
        sqlx::query_as("SELECT id, username, role, created_at, disabled FROM admin_accounts ORDER BY username")
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(Row::into_account).collect()
}

/// Whether an enabled admin exists (if not, the hub offers the first-run setup link).
pub async fn has_active_admin(conn: impl sqlx::AnyExecutor<'_>) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_accounts WHERE role = 'admin' AND disabled = FALSE")
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// `GET /admin/api/accounts`
pub async fn list(State(st): State<AdminState>) -> Result<Json<Vec<Account>>> {
    Ok(Json(list_all(&st.pool).await?))
}

/// `POST /admin/api/accounts` `{username, password, role}`
pub async fn create_handler(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<(StatusCode, Json<Account>)> {
    body.only(&["username", "password", "role"])?;
    let username = body.string("username")?;
    let password = body.string("password")?;
    let role = match body.opt_string("role")? {
        Some(r) => r.parse::<Role>().map_err(|e| Error::invalid(format!("role: {e}")))?,
        None => return Err(Error::invalid("role: required ('admin' or 'operator')")),
    };
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let account = insert(&mut tx, &username, &password, role, now).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "account.create", &account.username, json!({ "role": role })))
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// `POST /admin/api/accounts/{username}/disable`: the account can no longer log in and its
/// sessions end at once.
pub async fn disable_handler(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
) -> Result<Json<Account>> {
    let username = normalize_username(&username)?;
    if username == caller.username {
        return Err(Error::Conflict("username: you cannot disable your own account".into()));
    }
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let row: Option<Row> = sqlx::query_as(
        "UPDATE admin_accounts SET disabled = TRUE WHERE username = $1 RETURNING id, username, role, created_at, disabled",
    )
    .bind(&username)
    .fetch_optional(&mut *tx)
    .await?;
    let account = row.ok_or_else(|| Error::NotFound(format!("no account named '{username}'")))?.into_account()?;
    let ended = session::end_all(&mut *tx, account.id).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "account.disable", &username, json!({ "sessionsEnded": ended })))
        .await?;
    tx.commit().await?;
    Ok(Json(account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_needs_twelve_characters_and_not_the_username() {
        assert!(check_password("ada", "short").unwrap_err().to_string().starts_with("password:"));
        assert!(check_password("ada", "elevenchars").is_err());
        assert!(check_password("ada", "twelve chars").is_ok());
        assert!(check_password("lovelace1815", "Lovelace1815").is_err());
        assert!(check_password("ada", &"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(normalize_username(" Ada.L@school ").unwrap(), "ada.l@school");
        assert!(normalize_username("").is_err());
        assert!(normalize_username("a b").is_err());
        assert!(normalize_username("a/b").is_err());
        assert!(normalize_username(&"a".repeat(65)).unwrap_err().to_string().starts_with("username:"));
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_do() {
        let h = hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        let hasher = || std::sync::Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().unwrap();
        assert!(verify_password(Some(h.clone()), "correct horse battery", hasher()).await);
        assert!(!verify_password(Some(h), "wrong horse battery", hasher()).await);
        assert!(!verify_password(None, "not a real password", hasher()).await);
    }
}
