//! Load attacks: bursts, slow clients, connection exhaustion.

pub mod burst_traffic;
pub mod engine;
pub mod slowloris;
pub mod connection_exhaustion;
pub mod fd_limit;
