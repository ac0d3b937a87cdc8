//! The hub's route table: method, path, who may call it, handler. [`super::app`] builds the router
//! from it (the web admin's own table is nested at `/admin`); `hub/tests/router.rs` checks the
//! access rules and the README's protocol list against [`table`].

use std::sync::Arc;

use axum::http::Method;
use lectern_admin::routes::{Access, Entry, Route, body_limit, entry, routes_of};

use super::auth::TEACHERS;
use super::{AppState, cors, device, files, lesson_api, lesson_page, lessons, pages, recordings, rtc, stats, whip};
use crate::whip::Flow;

/// Every route the hub serves itself.
pub fn entries() -> Vec<Entry<Arc<AppState>>> {
    use Access::{Anyone, Bearer, DeviceOrEnrollment, InBand};
    use Method as M;
    vec![
        entry(M::GET, "/", Anyone, pages::index),
        entry(M::GET, "/join/{room}", Anyone, pages::join),
        entry(M::GET, "/assets/{name}", Anyone, pages::asset),
        entry(M::GET, "/healthz", Anyone, pages::healthz),
        entry(M::GET, "/rtc", InBand, rtc::upgrade),
        // `{file}`: a lesson export (`attendance.csv` …) to GET, `live` or `end` to POST.
        entry(M::GET, "/api/rooms/{room}/{file}", Bearer(TEACHERS), lesson_api::report),
        entry(M::POST, "/api/rooms/{room}/{file}", Bearer(TEACHERS), device::command),
        entry(M::OPTIONS, "/api/rooms/{room}/{file}", Anyone, cors::options_lesson_api),
        entry(M::GET, "/api/rooms/{room}/lessons", Bearer(TEACHERS), lessons::list),
        entry(M::OPTIONS, "/api/rooms/{room}/lessons", Anyone, cors::options_read_only),
        entry(M::GET, "/api/rooms/{room}/recording", Bearer(lessons::ANY_ROLE), lessons::recording),
        // The lesson page and the room's list (pages: their data needs a token or a shared link).
        entry(M::GET, "/lessons/{id}", Anyone, lesson_page::page),
        entry(M::GET, "/rooms/{room}/lessons", Anyone, lesson_page::list_page),
        entry(M::GET, "/api/rooms/{room}/lessons/{id}", Bearer(TEACHERS), lesson_page::detail),
        entry(M::POST, "/api/rooms/{room}/lessons/{id}/share", Bearer(TEACHERS), lesson_page::share),
        // The shared link is the credential (`?exp=…&sig=…`): the student's view of the page.
        entry(M::GET, "/api/lessons/{id}/shared", Anyone, lesson_page::shared),
        entry(M::POST, "/api/rooms/{room}/uploads", Bearer(recordings::DEVICE), recordings::create),
        entry(M::GET, "/api/rooms/{room}/uploads/{id}", Bearer(recordings::DEVICE), recordings::status),
        // A chunk (up to 8 MiB) is far bigger than the router's default body: the handler reads it
        // with its own limit (413 past one chunk or the announced size).
        body_limit(
            entry(M::PATCH, "/api/rooms/{room}/uploads/{id}", Bearer(recordings::DEVICE), recordings::append),
            usize::try_from(2 * lectern_proto::upload::MAX_CHUNK_BYTES).unwrap_or(usize::MAX),
        ),
        // The signed link is the credential (`?exp=…&sig=…`), so a <video> can play it.
        entry(M::GET, "/recordings/{id}/{name}", Anyone, recordings::download),
        // A shared file: the handler reads the body with `[files] max_mb` (413 past it).
        body_limit(
            entry(M::POST, "/api/rooms/{room}/files", Bearer(files::SHARERS), files::upload),
            usize::try_from(crate::files::settings::MAX_MB_CAP * 1024 * 1024).unwrap_or(usize::MAX),
        ),
        // The signed link is the credential (`?exp=…&sig=…`); always a download.
        entry(M::GET, "/files/{id}/{name}", Anyone, files::download),
        entry(M::GET, "/api/rooms/{room}/device", Bearer(TEACHERS), device::view),
        entry(M::OPTIONS, "/api/rooms/{room}/device", Anyone, cors::options_read_only),
        entry(M::GET, "/api/rooms/{room}/stats", Bearer(TEACHERS), stats::room_stats),
        entry(M::OPTIONS, "/api/rooms/{room}/stats", Anyone, cors::options_read_only),
        entry(M::GET, "/device/ws", DeviceOrEnrollment, device::upgrade),
        entry(M::GET, "/device/{room}/releases/{id}/bundle", Bearer(&[lectern_proto::Role::Device]), device::bundle),
        entry(M::POST, "/whip/{room}", Bearer(Flow::Whip.roles()), whip::whip_post),
        entry(M::OPTIONS, "/whip/{room}", Anyone, whip::options),
        entry(M::PATCH, "/whip/{room}/{id}", Bearer(Flow::Whip.roles()), whip::whip_patch),
        entry(M::DELETE, "/whip/{room}/{id}", Bearer(Flow::Whip.roles()), whip::whip_delete),
        entry(M::OPTIONS, "/whip/{room}/{id}", Anyone, cors::options_resource),
        entry(M::POST, "/whep/{room}", Bearer(Flow::Whep.roles()), whip::whep_post),
        entry(M::OPTIONS, "/whep/{room}", Anyone, whip::options),
        entry(M::POST, "/whep/{room}/return", Bearer(Flow::Return.roles()), whip::return_post),
        entry(M::OPTIONS, "/whep/{room}/return", Anyone, whip::options),
        entry(M::PATCH, "/whep/{room}/{id}", Bearer(Flow::Whep.roles()), whip::whep_patch),
        entry(M::DELETE, "/whep/{room}/{id}", Bearer(Flow::Whep.roles()), whip::whep_delete),
        entry(M::OPTIONS, "/whep/{room}/{id}", Anyone, cors::options_resource),
    ]
}

/// The hub's own routes without their handlers (the admin's are [`lectern_admin::routes::admin_table`]).
pub fn table() -> Vec<Route> {
    routes_of(&entries())
}
