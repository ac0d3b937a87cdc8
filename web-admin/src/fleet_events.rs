//! `GET /admin/api/fleet/events`: the fleet view pushed as Server-Sent Events instead of polled.
//! The first event (`fleet`) is every row, as `GET /admin/api/devices` answers; after it, `rows`
//! events carry only the rows that changed (`{"rows": [...], "removed": ["room", ...]}`).
//!
//! The hub bumps a counter whenever a box connects, reports, answers or leaves
//! ([`Fleet::changes`](crate::fleet::Fleet::changes)). A change is sent after a short settling
//! delay, so a fleet of 500 boxes reporting every few seconds costs each open page a few small
//! events a second, not one per report; what did not change is not sent. Rows that change
//! without a box (a room configured on another page) are found by a full comparison every
//! [`RESYNC`]. A stream ends after [`MAX_STREAM`]: the browser reconnects by itself, and the
//! session is checked again then (a signed-out or expired session is not kept listening).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::AdminState;
use crate::fleet::{FleetEntry, entries};

/// How long a change settles before it is sent: a burst of reports becomes one event.
pub const SETTLE: Duration = Duration::from_millis(250);
/// A full comparison at least this often, for rows that change without a box.
pub const RESYNC: Duration = Duration::from_secs(15);
/// A stream is ended after this; `EventSource` reconnects (and the session is checked again).
pub const MAX_STREAM: Duration = Duration::from_secs(10 * 60);

/// The rows to send: those whose JSON differs from what the page has, and the rooms gone.
#[derive(Debug, Default, PartialEq)]
pub struct Delta {
    pub rows: Vec<serde_json::Value>,
    pub removed: Vec<String>,
}

/// What one page was last sent, by room (each row's JSON).
#[derive(Debug, Default)]
pub struct Sent(BTreeMap<String, serde_json::Value>);

impl Sent {
    /// Remembers `rows` as sent and returns what changed since the last call.
    pub fn update(&mut self, rows: &[FleetEntry]) -> Delta {
        let mut next = BTreeMap::new();
        let mut delta = Delta::default();
        for row in rows {
            let value = serde_json::to_value(row).unwrap_or(serde_json::Value::Null);
            if self.0.get(&row.room) != Some(&value) {
                delta.rows.push(value.clone());
            }
            next.insert(row.room.clone(), value);
        }
        delta.removed = self.0.keys().filter(|room| !next.contains_key(*room)).cloned().collect();
        self.0 = next;
        delta
    }
}

struct Feed {
    st: AdminState,
    changes: Option<watch::Receiver<u64>>,
    sent: Sent,
    started: Instant,
    first: bool,
}

/// `GET /admin/api/fleet/events` (admin session): `text/event-stream`.
pub async fn events(State(st): State<AdminState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = st.fleet.changes();
    let feed = Feed { st, changes, sent: Sent::default(), started: Instant::now(), first: true };
    Sse::new(stream::unfold(feed, next_event)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn next_event(mut feed: Feed) -> Option<(Result<Event, Infallible>, Feed)> {
    let end = feed.started + MAX_STREAM;
    loop {
        if !feed.first {
            let deadline = end.min(Instant::now() + RESYNC);
            match feed.changes.as_mut() {
                Some(rx) => match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => tokio::time::sleep(SETTLE).await,
                    Ok(Err(_)) => return None, // the hub is shutting down
                    Err(_) => {}               // a resync, or the end
                },
                None => tokio::time::sleep_until(deadline).await,
            }
            if Instant::now() >= end {
                return None;
            }
            if let Some(rx) = feed.changes.as_mut() {
                rx.borrow_and_update();
            }
        }
        let rows = match entries(&feed.st).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "fleet events: listing the fleet failed; trying again at the next change");
                feed.first = false;
                continue;
            }
        };
        let delta = feed.sent.update(&rows);
        if feed.first {
            feed.first = false;
            let all: Vec<_> = rows.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();
            return Some((Ok(Event::default().event("fleet").data(json!(all).to_string())), feed));
        }
        if delta.rows.is_empty() && delta.removed.is_empty() {
            continue;
        }
        let data = json!({ "rows": delta.rows, "removed": delta.removed }).to_string();
        return Some((Ok(Event::default().event("rows").data(data)), feed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::join;

    fn rows(rooms: &[(&str, &str)]) -> Vec<FleetEntry> {
        join(rooms.iter().map(|(id, name)| (id.to_string(), name.to_string(), String::new())).collect(), Vec::new())
    }

    #[test]
    fn only_changed_rows_and_removed_rooms_are_sent_after_the_first() {
        let mut sent = Sent::default();
        let first = sent.update(&rows(&[("r101", "Physics"), ("r102", "Maths")]));
        assert_eq!(first.rows.len(), 2);
        assert!(sent.update(&rows(&[("r101", "Physics"), ("r102", "Maths")])).rows.is_empty(), "nothing changed");
        let delta = sent.update(&rows(&[("r101", "Physics lab"), ("r103", "Art")]));
        let changed: Vec<_> = delta.rows.iter().map(|r| (r["room"].as_str(), r["roomName"].as_str())).collect();
        assert_eq!(changed, vec![(Some("r101"), Some("Physics lab")), (Some("r103"), Some("Art"))]);
        assert_eq!(delta.removed, vec!["r102".to_owned()]);
    }
}
