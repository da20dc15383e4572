//! Load attacks: bursts, slow clients, connection exhaustion.

pub mod burst_traffic;
pub mod connection_exhaustion;
pub mod engine;
pub mod fd_limit;
pub mod slowloris;
mod sockets;
