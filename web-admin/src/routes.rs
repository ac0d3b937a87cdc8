//! Route tables: each row is a method, a path, who may call it and the handler. The hub's and the
//! admin's routers are built from their tables, and tests read the same tables (without handlers)
//! to check the access rules and the READMEs, because an axum `Router` cannot list its routes.
//! The admin's table is [`admin_table`]; the hub's is `lectern_hub::http::routes`.

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::{
    AdminState, Role, accounts, audit, buildings, csv_import, device_move, devices, fleet, fleet_events, ics, login,
    recordings, releases, rooms, schedule, setup, terms,
};

/// Where the admin's API is mounted in the hub.
pub const ADMIN_API: &str = "/admin/api";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential.
    Anyone,
    /// An admin session of at least this role; a state change also needs its CSRF token.
    Session(Role),
    /// `Authorization: Bearer` with a token for the path's room and one of these roles.
    Bearer(&'static [lectern_proto::Role]),
    /// An admin session of at least this role, or a bearer token for the path's room with one of
    /// these roles (`crate::room_token`).
    SessionOrBearer(Role, &'static [lectern_proto::Role]),
    /// A device token as a bearer, or none: a box that has none asks to be enrolled.
    DeviceOrEnrollment,
    /// The token travels in the socket's first message (`join`).
    InBand,
}

/// One row of a route table, without its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    /// As axum spells it, relative to where the table is mounted.
    pub path: &'static str,
    pub access: Access,
}

/// A row with its handler.
pub struct Entry<S> {
    pub route: Route,
    pub handler: MethodRouter<S>,
}

/// A row: `method path` served by `handler` for `access`.
pub fn entry<H, T, S>(method: Method, path: &'static str, access: Access, handler: H) -> Entry<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    // Only the standard methods are used in tables; each has a filter.
    let filter = MethodFilter::try_from(method.clone()).expect("a standard HTTP method");
    Entry { route: Route { method, path, access }, handler: on(filter, handler) }
}

/// A row whose body may be larger (or must be smaller) than the router's default.
pub fn body_limit<S: Clone + Send + Sync + 'static>(mut e: Entry<S>, bytes: usize) -> Entry<S> {
    e.handler = e.handler.layer(axum::extract::DefaultBodyLimit::max(bytes));
    e
}

/// The rows of a table without their handlers.
pub fn routes_of<S>(entries: &[Entry<S>]) -> Vec<Route> {
    entries.iter().map(|e| e.route.clone()).collect()
}

/// The admin's API, relative to [`ADMIN_API`].
pub fn admin_entries() -> Vec<Entry<AdminState>> {
    use Access::{Anyone, Session};
    use Method as M;
    let (op, admin) = (Session(Role::Operator), Session(Role::Admin));
    // A room's calendar: for IT, and for the room's teachers from their lesson link's token.
    let op_or_teacher = Access::SessionOrBearer(Role::Operator, &[lectern_proto::Role::Teacher]);
    vec![
        entry(M::POST, "/setup", Anyone, setup::setup_handler),
        entry(M::POST, "/login", Anyone, login::login),
        entry(M::POST, "/logout", op, login::logout),
        entry(M::POST, "/logout-everywhere", op, login::logout_everywhere),
        entry(M::GET, "/me", op, login::me),
        entry(M::GET, "/rooms", op, rooms::list),
        entry(M::POST, "/rooms", op, rooms::create),
        entry(M::GET, "/rooms/{id}", op, rooms::get),
        entry(M::PUT, "/rooms/{id}", op, rooms::update),
        entry(M::DELETE, "/rooms/{id}", op, rooms::delete),
        entry(M::GET, "/buildings", op, buildings::list),
        entry(M::POST, "/buildings", op, buildings::create),
        entry(M::PUT, "/buildings/{id}", op, buildings::update),
        entry(M::DELETE, "/buildings/{id}", op, buildings::delete),
        entry(M::GET, "/devices", op, fleet::list),
        entry(M::GET, "/fleet/events", op, fleet_events::events),
        entry(M::POST, "/devices/{room}/live", op, fleet::go_live),
        entry(M::POST, "/devices/{room}/end", op, fleet::end),
        entry(M::GET, "/devices/{room}", op, devices::detail),
        entry(M::GET, "/devices/{room}/snapshot", op, fleet::snapshot),
        entry(M::POST, "/devices/{room}/snapshot", op, fleet::request_snapshot),
        entry(M::POST, "/devices/enroll", admin, devices::enroll),
        entry(M::POST, "/devices/config", admin, devices::bulk_config),
        entry(M::PUT, "/devices/{room}/config", admin, devices::put_config),
        entry(M::POST, "/devices/{room}/revoke", admin, devices::revoke),
        entry(M::POST, "/devices/{room}/move", admin, device_move::move_box),
        entry(M::GET, "/schedules", op, schedule::list),
        entry(M::POST, "/schedules", op, schedule::create),
        // A teacher's link lets its holder run the lesson: an admin's to hand out.
        entry(M::GET, "/schedules/{id}/links", admin, schedule::links),
        entry(M::PUT, "/schedules/{id}", op, schedule::update),
        entry(M::DELETE, "/schedules/{id}", op, schedule::delete),
        entry(M::GET, "/terms", op, terms::list_terms),
        entry(M::POST, "/terms", op, terms::create_term),
        entry(M::PUT, "/terms/{id}", op, terms::update_term),
        entry(M::DELETE, "/terms/{id}", op, terms::delete_term),
        entry(M::GET, "/holidays", op, terms::list_holidays),
        entry(M::POST, "/holidays", op, terms::create_holiday),
        entry(M::PUT, "/holidays/{id}", op, terms::update_holiday),
        entry(M::DELETE, "/holidays/{id}", op, terms::delete_holiday),
        entry(M::GET, "/exceptions", op, terms::list_exceptions),
        entry(M::POST, "/exceptions", op, terms::create_exception),
        entry(M::DELETE, "/exceptions/{id}", op, terms::delete_exception),
        entry(M::GET, "/lessons", op, terms::lessons),
        entry(M::GET, "/rooms/{id}/calendar.ics", op_or_teacher, ics::room_calendar),
        // A timetable file is bigger than the admin's JSON bodies.
        body_limit(entry(M::POST, "/schedules/import", op, csv_import::import), csv_import::MAX_BYTES),
        entry(M::GET, "/accounts", admin, accounts::list),
        entry(M::POST, "/accounts", admin, accounts::create_handler),
        entry(M::POST, "/accounts/{username}/disable", admin, accounts::disable_handler),
        entry(M::GET, "/releases", admin, releases::list),
        // A bundle is far bigger than the API's other bodies: its own limit (`ota.max_bundle_mb`),
        // enforced while it streams to disk.
        unlimited(entry(M::POST, "/releases", admin, releases::upload)),
        entry(M::POST, "/releases/{id}/rollouts", admin, releases::start_rollout),
        entry(M::GET, "/release-windows", admin, releases::windows),
        entry(M::PUT, "/release-windows", admin, releases::set_window),
        entry(M::GET, "/rollouts/{id}", admin, releases::get_rollout),
        entry(M::POST, "/rollouts/{id}/pause", admin, releases::pause),
        entry(M::POST, "/rollouts/{id}/resume", admin, releases::resume),
        entry(M::GET, "/recordings", op, recordings::overview),
        // A legal hold overrides retention: an admin's decision, audited.
        entry(M::PUT, "/recordings/lessons/{id}/hold", admin, recordings::set_hold),
        // The lesson page with a short-lived admin token of the room (private chat, attendance).
        entry(M::POST, "/recordings/lessons/{id}/open", admin, recordings::open),
        entry(M::GET, "/audit", admin, audit::list),
        entry(M::GET, "/audit.csv", admin, audit::csv),
    ]
}

/// A row whose body may exceed the API's limit: its handler enforces its own while streaming.
fn unlimited<S: Clone + Send + Sync + 'static>(mut e: Entry<S>) -> Entry<S> {
    e.handler = e.handler.layer(DefaultBodyLimit::disable());
    e
}

/// The admin's API routes, relative to [`ADMIN_API`].
pub fn admin_table() -> Vec<Route> {
    routes_of(&admin_entries())
}

/// A router of the rows of `entries` that `keep` selects.
pub fn router_of<S: Clone + Send + Sync + 'static>(
    entries: Vec<Entry<S>>,
    keep: impl Fn(&Access) -> bool,
) -> axum::Router<S> {
    entries
        .into_iter()
        .filter(|e| keep(&e.route.access))
        .fold(axum::Router::new(), |router, e| router.route(e.route.path, e.handler))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_row_is_listed_twice() {
        let table = admin_table();
        for (i, a) in table.iter().enumerate() {
            assert!(!table[i + 1..].iter().any(|b| (&a.method, a.path) == (&b.method, b.path)), "{a:?}");
        }
    }
}
