//! The audit trail: one row per change (who, what, target, when, from which IP, details), written in
//! the same transaction as the change it describes. Admin-only to read, as JSON or CSV.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::AdminState;
use crate::error::{Error, Result};
use crate::session::Caller;

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 10_000;

/// One change, about to be recorded.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub at: u64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub ip: &'a str,
    pub details: Value,
}

impl<'a> Entry<'a> {
    /// A change made by a logged-in account.
    pub fn by(caller: &'a Caller, at: u64, action: &'a str, target: &'a str, details: Value) -> Self {
        Self { at, actor: &caller.username, action, target, ip: &caller.ip, details }
    }
}

pub async fn record(conn: impl sqlx::AnyExecutor<'_>, e: &Entry<'_>) -> Result<()> {
    sqlx::query("INSERT INTO admin_audit (at, actor, action, target, ip, details) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(e.at as i64)
        .bind(e.actor)
        .bind(e.action)
        .bind(e.target)
        .bind(e.ip)
        .bind(e.details.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Which audit column a throttle counts failures by.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Ip(&'a str),
    Actor(&'a str),
    Target(&'a str),
}

/// Failed attempts are audit rows (`action`); the same rows throttle: once any of `by` has
/// `max` failures within `window_secs`, further attempts get 429 until the oldest ages out.
pub async fn throttle(
    pool: &crate::db::Pool,
    action: &str,
    by: &[By<'_>],
    max: i64,
    window_secs: u64,
    now: u64,
) -> Result<()> {
    let since = now.saturating_sub(window_secs) as i64;
    for b in by {
        let (column, value) = match *b {
            By::Ip(v) => ("ip", v),
            By::Actor(v) => ("actor", v),
            By::Target(v) => ("target", v),
        };
        // `column` is one of the literals above, never input.
        let sql = format!("SELECT COUNT(*), MIN(at) FROM admin_audit WHERE action = $1 AND at > $2 AND {column} = $3");
        let (n, oldest): (i64, Option<i64>) =
            sqlx::query_as(&sql).bind(action).bind(since).bind(value).fetch_one(pool).await?;
        if n >= max {
            let retry_after = (oldest.unwrap_or(since) + window_secs as i64 - now as i64).max(1) as u64;
            return Err(crate::error::Error::RateLimited { retry_after });
        }
    }
    Ok(())
}

/// A recorded change as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub details: Value,
}

type Row = (i64, i64, String, String, String, String, String);

/// Newest first; `since` (Unix seconds, inclusive) drops older rows.
pub async fn query(pool: &crate::db::Pool, since: Option<u64>, limit: u64) -> Result<Vec<Record>> {
    let rows = sqlx::query_as::<_, Row>(
        "SELECT id, at, actor, action, target, ip, details FROM admin_audit WHERE at >= $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(since.unwrap_or(0).min(i64::MAX as u64) as i64)
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at, actor, action, target, ip, details)| Record {
            id,
            at,
            actor,
            action,
            target,
            ip,
            // Written by `record` from a Value, so it parses; keep the text if someone edited the file.
            details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
        })
        .collect())
}

struct Filter {
    since: Option<u64>,
    limit: u64,
}

/// `?since=<unix seconds>&limit=<n>`, parsed here so a bad value is a 400 naming the parameter.
fn parse_filter(raw: Option<&str>) -> Result<Filter> {
    let mut f = Filter { since: None, limit: DEFAULT_LIMIT };
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let number =
            |name: &str| v.parse::<u64>().map_err(|_| Error::invalid(format!("{name}: must be a whole number ≥ 0")));
        match k {
            "since" => f.since = Some(number("since")?),
            "limit" => {
                f.limit = number("limit")?;
                if f.limit == 0 || f.limit > MAX_LIMIT {
                    return Err(Error::invalid(format!("limit: must be between 1 and {MAX_LIMIT}")));
                }
            }
            _ => {
                let k: String = k.chars().take(40).collect();
                return Err(Error::invalid(format!("{k}: unknown parameter (expected since, limit)")));
            }
        }
    }
    Ok(f)
}

/// `GET /admin/api/audit?since=&limit=`
pub async fn list(State(st): State<AdminState>, RawQuery(q): RawQuery) -> Result<Json<Vec<Record>>> {
    let f = parse_filter(q.as_deref())?;
    Ok(Json(query(&st.pool, f.since, f.limit).await?))
}

/// `GET /admin/api/audit.csv?since=&limit=`: the same rows for a spreadsheet.
pub async fn csv(State(st): State<AdminState>, RawQuery(q): RawQuery) -> Result<Response> {
    let f = parse_filter(q.as_deref())?;
    let rows = query(&st.pool, f.since, f.limit).await?;
    let mut out = String::from("id,at,actor,action,target,ip,details\r\n");
    for r in &rows {
        let cells = [
            r.id.to_string(),
            r.at.to_string(),
            r.actor.clone(),
            r.action.clone(),
            r.target.clone(),
            r.ip.clone(),
            r.details.to_string(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
        ],
        out,
    )
        .into_response())
}

/// RFC 4180 quoting, and a leading `'` on cells a spreadsheet would run as a formula: targets and
/// usernames come from people, and this file gets opened by people.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("{\"a\":1}"), "\"{\"\"a\"\":1}\"");
    }

    #[test]
    fn filters_name_the_bad_parameter() {
        assert_eq!(parse_filter(Some("since=5&limit=2")).map(|f| (f.since, f.limit)).ok(), Some((Some(5), 2)));
        assert!(parse_filter(Some("since=yesterday")).err().unwrap().to_string().starts_with("since:"));
        assert!(parse_filter(Some("limit=0")).err().unwrap().to_string().starts_with("limit:"));
        assert!(parse_filter(Some("until=3")).err().unwrap().to_string().starts_with("until:"));
        assert_eq!(parse_filter(None).map(|f| f.limit).ok(), Some(DEFAULT_LIMIT));
    }
}
