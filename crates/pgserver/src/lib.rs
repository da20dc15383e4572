//! PostgreSQL servers for Shakedown, started from the machine's binaries (no Docker).
//!
//! - [`binaries`]: where `initdb`/`pg_ctl` are and how to run them — as the `postgres` OS
//!   user when we are root, since PostgreSQL refuses to run as root.
//! - [`managed`]: a cluster kept in Shakedown's data directory and left running between agent
//!   runs, so per-scenario template databases stay warm.
//! - [`sandbox`]: per-scenario template databases and per-run clones with their own login
//!   role, on the managed cluster or on any server given by URL (`--pg-url`).

pub mod binaries;
mod error;
pub mod managed;
pub mod sandbox;

pub use binaries::{RunAs, pg_bin_dir, run};
pub use error::PgError;
pub use managed::ManagedServer;
pub use sandbox::{RunDatabase, SandboxServer};
