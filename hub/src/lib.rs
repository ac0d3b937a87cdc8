//! lectern-hub: the server a classroom box publishes to and students join. HTTP/WebSocket edge in
//! [`http`] (start at [`http::app`]); the str0m SFU in [`sfu`] (start at [`sfu::core::ShardCore`],
//! then [`sfu::room::Room`]), its threads and sockets in [`media_io`]; WHIP/WHEP as protocol in [`whip`]; the boxes' control channels in
//! [`device_registry`]; tokens in [`token`], coturn credentials in [`turn`], HTTPS in [`tls`], persistence in [`store`],
//! time as input in [`time`].

pub mod assets;
pub mod classroom;
pub mod cluster;
pub mod config;
pub mod db_copy;
pub mod device_registry;
pub mod enroll;
pub mod files;
pub mod http;
pub mod http_serve;
pub mod media_io;
pub mod recording;
pub mod redirect;
pub mod room_settings;
pub mod secret;
pub mod serve;
pub mod sfu;
pub mod store;
pub mod time;
pub mod tls;
pub mod token;
pub mod turn;
pub mod whip;
