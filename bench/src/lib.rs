//! `lectern-bench`: a load generator for the hub. It starts the real `lectern-hub` binary and then Janus
//! VideoRoom, drives many str0m clients against each on loopback and prints their figures side by side.
//! Start with [`fanout::run`] and [`sfu::Sfu`]; [`peer`] drives one client, [`compare`] draws the table.

pub mod churn;
pub mod cluster;
pub mod compare;
pub mod fanout;
pub mod frame;
pub mod hub;
pub mod janus;
pub mod join;
pub mod meeting;
pub mod peer;
pub mod ramp;
pub mod rooms;
pub mod rtc;
pub mod sfu;
pub mod soak;
