//! A throwaway PostgreSQL cluster for tests, started from the machine's binaries.
//!
//! [`PgCluster::start`] runs `initdb` into a fresh temporary directory, configures the cluster
//! for speed (no fsync, small buffers) and for authentication tests (SCRAM for host
//! connections, plus one `md5` and one `trust` role), starts it on a free port of 127.0.0.1 with
//! its unix socket inside the temporary directory, and creates a test role and database. The
//! server is stopped (`pg_ctl stop -m immediate`) and the directory removed on drop.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root every server-side binary
//! runs as the `postgres` OS user (`runuser -u postgres --`) and the directory is chowned to it.

mod cluster;

pub use cluster::{PgCluster, Role};
/// Errors of the harness: those of starting any PostgreSQL server.
pub use shakedown_pgserver::PgError as PgTestError;
pub use shakedown_pgserver::pg_bin_dir;
