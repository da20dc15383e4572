//! Built-in practice targets for `shakedown demo` and for tests: two HTTP APIs on loopback,
//! each over its own in-memory SQLite database, with the same routes:
//!
//! | route | what it does |
//! |---|---|
//! | `GET /health` | `{"status":"ok"}`, always open |
//! | `GET /users?name=X` | users named X (the weak twin's SQL is injectable; a `secrets` table waits for a UNION) |
//! | `GET /users/{id}` | one user or 404 |
//! | `POST /users` | `{"name", "email", "age"}` → 201 |
//! | `GET /search?q=X` | an HTML page "Results for X" |
//! | `GET /admin/stats` | counters, behind auth |
//!
//! [`Flavor::Guarded`] keeps every guardrail its system file claims; [`Flavor::Weak`] claims
//! the same and keeps none, so a campaign against both shows claims against reality.
//! [`demo_system_file`] writes the system file describing both.

#![forbid(unsafe_code)]

mod config;
mod db;
mod guard;
mod reply;
mod routes;
mod server;
mod state;
mod system_file;

pub use config::{ConfigError, Flavor, PracticeConfig};
pub use server::{PracticeServer, start};
pub use system_file::demo_system_file;
