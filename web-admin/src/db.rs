//! The database the hub and the admin share, through sqlx's `Any` driver: an SQLite file by default,
//! PostgreSQL when `[store] url` says so (docs/cluster.md). Queries are written once, with `$1`
//! placeholders (SQLite reads them too) and `TRUE`/`FALSE` for flags; where the dialects differ
//! the code asks [`Dialect`].

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyTypeInfo, AnyTypeInfoKind};
use sqlx::{Any, Decode, Type, ValueRef};

/// The pool every query runs on (SQLite or PostgreSQL).
pub type Pool = sqlx::AnyPool;
/// One connection (or transaction, through `&mut *tx`) of the [`Pool`].
pub type Conn = sqlx::AnyConnection;

/// Which SQL a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of a `sqlite://…` or `postgres://…` (`postgresql://…`) URL.
    pub fn of_url(url: &str) -> Result<Self, String> {
        let scheme = url.split_once("://").map(|(s, _)| s).or_else(|| url.split_once(':').map(|(s, _)| s));
        match scheme {
            Some("sqlite") => Ok(Dialect::Sqlite),
            Some("postgres" | "postgresql") => Ok(Dialect::Postgres),
            _ => Err(format!(
                "'{}' is not a database URL (expected sqlite://<path> or postgres://user@host/db)",
                redact_url(url)
            )),
        }
    }

    /// The dialect of the connection a query runs on.
    pub fn of_conn(conn: &Conn) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") { Dialect::Postgres } else { Dialect::Sqlite }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// A database URL without its password, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_owned(),
    };
    match path {
        Some(p) => format!("{scheme}://{authority}/{p}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// The URL of the SQLite file `path` (created if missing), with the characters a URL would
/// misread (`%`, `?`, `#`, spaces) escaped. A relative path is made absolute first: in
/// `sqlite://data/lectern.db` a URL parser takes `data` for a host.
pub fn sqlite_url(path: &std::path::Path) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' | ' ' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("?mode=rwc");
    out
}

/// Opens a pool of `size` connections to `url`. SQLite connections get foreign keys on and
/// write-ahead logging (so readers do not wait on the writer); the pool is fixed-size, since every
/// SQLite connection is a thread and opening them under load looks like a leak in the hub's
/// footprint (`lectern-bench churn`).
pub async fn connect(url: &str, size: u32) -> Result<Pool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::of_url(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let opts = AnyPoolOptions::new().max_connections(size).acquire_timeout(Duration::from_secs(30));
    let opts = match dialect {
        Dialect::Sqlite => opts.min_connections(size).after_connect(|conn, _| {
            Box::pin(async move {
                for pragma in ["PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL"] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        }),
        Dialect::Postgres => opts,
    };
    opts.connect(url).await
}

/// A flag column: `BOOLEAN` in PostgreSQL, `INTEGER` 0/1 in SQLite (which has no booleans).
/// sqlx's `Any` decodes a Rust `bool` only from a real boolean, so flag columns decode through this:
/// `#[sqlx(try_from = "Flag")] field: bool`, or `Flag` in a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind() == AnyTypeInfoKind::Bool || ty.kind().is_integer()
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        if value.type_info().kind() == AnyTypeInfoKind::Bool {
            Ok(Flag(<bool as Decode<Any>>::decode(value)?))
        } else {
            Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_dialect_and_hide_their_password() {
        assert_eq!(Dialect::of_url("sqlite:///var/lib/lectern-hub/lectern.db"), Ok(Dialect::Sqlite));
        assert_eq!(Dialect::of_url("postgres://lectern:pw@db.school/lectern"), Ok(Dialect::Postgres));
        assert_eq!(Dialect::of_url("postgresql://db/lectern"), Ok(Dialect::Postgres));
        let err = Dialect::of_url("mysql://root:hunter2@db/x").unwrap_err();
        assert!(err.contains("root:***@db/x") && !err.contains("hunter2"), "{err}");
        assert_eq!(redact_url("postgres://u@h:5432/db?sslmode=require"), "postgres://u@h:5432/db?sslmode=require");
        assert_eq!(redact_url("postgres://u:p%40ss@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn sqlite_paths_are_escaped_into_urls() {
        let url = sqlite_url(std::path::Path::new("/data/50% off?#/lectern.db"));
        assert_eq!(url, "sqlite:///data/50%25%20off%3F%23/lectern.db?mode=rwc");
        let here = std::env::current_dir().unwrap();
        assert_eq!(sqlite_url(std::path::Path::new("data/lectern.db")), sqlite_url(&here.join("data/lectern.db")));
    }
}
