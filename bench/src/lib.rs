//! `lectern-bench`: a load generator for the hub. It starts the real `lectern-hub` binary, drives many
//! str0m clients over WHIP/WHEP on loopback and reports the hub's cost per forwarded packet, loss, delay
//! and memory. Start with [`fanout::run`]; [`peer`] drives one client, [`hub`] owns the hub process.

pub mod churn;
pub mod compare;
pub mod fanout;
pub mod frame;
pub mod hub;
pub mod janus;
pub mod join;
pub mod meeting;
pub mod peer;
pub mod ramp;
pub mod rtc;
pub mod sfu;
