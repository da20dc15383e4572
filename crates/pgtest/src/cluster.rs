//! [`PgCluster`]: one initdb'd, running PostgreSQL server in a temporary directory.

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use crate::PgTestError;
use shakedown_pgserver::managed::{append, free_port};
use shakedown_pgserver::{RunAs, pg_bin_dir, run};

/// The superuser created by initdb; reached only over the unix socket (trust).
const SUPERUSER: &str = "postgres";
/// How many free ports to try when another process grabs ours between probe and start.
const START_ATTEMPTS: usize = 3;

/// A login role of the test cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// Its password; `None` for the trust role.
    pub password: Option<String>,
}

/// A running throwaway PostgreSQL server; stopped and deleted on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: TempDir,
    bin: PathBuf,
    run_as: RunAs,
    port: u16,
    scram: Role,
    md5: Role,
    trust: Role,
    database: String,
}

impl PgCluster {
    /// Create, configure and start a cluster, then create the test roles and database.
    ///
    /// Host connections from 127.0.0.1 use `scram-sha-256`, except role
    /// [`md5_role`](Self::md5_role) (`md5`) and [`trust_role`](Self::trust_role) (`trust`).
    pub fn start() -> Result<Self, PgTestError> {
        let bin = pg_bin_dir()?;
        let run_as = RunAs::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("shakedown-pg-")
            .tempdir()
            .map_err(|source| PgTestError::File {
                path: std::env::temp_dir(),
                source,
            })?;
        run_as.own(dir.path())?;
        let mut cluster = Self {
            dir,
            bin,
            run_as,
            port: 0,
            scram: Role {
                name: "shakedown".into(),
                password: Some("shakedown-scram-pw".into()),
            },
            md5: Role {
                name: "shakedown_md5".into(),
                password: Some("shakedown-md5-pw".into()),
            },
            trust: Role {
                name: "shakedown_trust".into(),
                password: None,
            },
            database: "shakedown".into(),
        };
        cluster.initdb()?;
        cluster.write_hba()?;
        cluster.start_server()?;
        cluster.create_roles()?;
        Ok(cluster)
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The SCRAM-authenticated owner of [`database`](Self::database).
    pub fn user(&self) -> &Role {
        &self.scram
    }

    /// A role whose password is stored and checked as `md5`.
    pub fn md5_role(&self) -> &Role {
        &self.md5
    }

    /// A role that logs in from 127.0.0.1 without a password (`trust`).
    pub fn trust_role(&self) -> &Role {
        &self.trust
    }

    /// The test database, owned by [`user`](Self::user).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A `postgres://` URL for [`user`](Self::user) on the server itself.
    pub fn url(&self) -> String {
        self.url_via(self.port)
    }

    /// The same URL pointed at another port of 127.0.0.1 (a proxy in front of this server).
    pub fn url_via(&self, port: u16) -> String {
        let pw = self.scram.password.as_deref().unwrap_or_default();
        format!(
            "postgres://{}:{pw}@127.0.0.1:{port}/{}",
            self.scram.name, self.database
        )
    }

    /// `PG*` variables that point psql/pgbench at the server as [`user`](Self::user).
    pub fn psql_env(&self) -> Vec<(String, String)> {
        self.psql_env_via(self.port, &self.scram)
    }

    /// `PG*` variables for `role` on another port of 127.0.0.1 (a proxy).
    pub fn psql_env_via(&self, port: u16, role: &Role) -> Vec<(String, String)> {
        let mut env = vec![
            ("PGHOST".to_string(), "127.0.0.1".to_string()),
            ("PGPORT".to_string(), port.to_string()),
            ("PGUSER".to_string(), role.name.clone()),
            ("PGDATABASE".to_string(), self.database.clone()),
            ("PGSSLMODE".to_string(), "prefer".to_string()),
            ("PGCONNECT_TIMEOUT".to_string(), "5".to_string()),
        ];
        if let Some(pw) = &role.password {
            env.push(("PGPASSWORD".to_string(), pw.clone()));
        }
        env
    }

    /// A `psql -X` command connected through `port` as `role`, with no `~/.psqlrc` and
    /// stopping at the first error.
    pub fn psql_via(&self, port: u16, role: &Role) -> Command {
        let mut cmd = Command::new("psql");
        cmd.args(["-X", "-v", "ON_ERROR_STOP=1"])
            .env_remove("PGSERVICE")
            .envs(self.psql_env_via(port, role));
        cmd
    }

    /// Run `sql` as the superuser over the unix socket in `database`; returns psql's
    /// unaligned, tuples-only output.
    pub fn admin_sql(&self, database: &str, sql: &str) -> Result<String, PgTestError> {
        let mut cmd = Command::new("psql");
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
            ])
            .args(["-c", sql])
            .env_remove("PGPASSWORD");
        run("admin psql", &mut cmd)
    }

    /// The server log so far, for test failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn tool(&self, name: &str) -> Command {
        self.run_as.command(&self.bin.join(name))
    }

    fn initdb(&self) -> Result<(), PgTestError> {
        let mut cmd = self.tool("initdb");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"]);
        run("initdb", &mut cmd)?;
        // Speed over durability: the cluster lives for one test.
        let settings = "\n# shakedown-pgtest\n\
            listen_addresses = '127.0.0.1'\n\
            fsync = off\n\
            synchronous_commit = off\n\
            full_page_writes = off\n\
            shared_buffers = 16MB\n\
            max_connections = 40\n\
            password_encryption = 'scram-sha-256'\n\
            log_min_messages = warning\n\
            logging_collector = off\n";
        append(&self.data_dir().join("postgresql.conf"), settings)
    }

    fn write_hba(&self) -> Result<(), PgTestError> {
        let hba = format!(
            "local all all trust\n\
             host all {trust} 127.0.0.1/32 trust\n\
             host all {md5} 127.0.0.1/32 md5\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
            trust = self.trust.name,
            md5 = self.md5.name,
        );
        let path = self.data_dir().join("pg_hba.conf");
        std::fs::write(&path, hba).map_err(|source| PgTestError::File { path, source })
    }

    fn start_server(&mut self) -> Result<(), PgTestError> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            self.port = free_port(self.dir.path())?;
            let opts = format!("-p {} -k {}", self.port, self.dir.path().display());
            let mut cmd = self.tool("pg_ctl");
            cmd.arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_path())
                .args(["-w", "-t", "30", "-o", &opts, "start"]);
            match run("pg_ctl start", &mut cmd) {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(PgTestError::NoPostgresUser))
    }

    fn create_roles(&self) -> Result<(), PgTestError> {
        let pw = |r: &Role| r.password.clone().unwrap_or_default().replace('\'', "''");
        self.admin_sql(
            "postgres",
            &format!(
                "CREATE ROLE {} LOGIN PASSWORD '{}'",
                self.scram.name,
                pw(&self.scram)
            ),
        )?;
        self.admin_sql(
            "postgres",
            &format!(
                "CREATE DATABASE {} OWNER {}",
                self.database, self.scram.name
            ),
        )?;
        // The md5 role's verifier must be stored as md5 for md5 authentication to work.
        self.admin_sql(
            "postgres",
            &format!(
                "SET password_encryption = 'md5'; CREATE ROLE {} LOGIN PASSWORD '{}'",
                self.md5.name,
                pw(&self.md5)
            ),
        )?;
        self.admin_sql(
            "postgres",
            &format!("CREATE ROLE {} LOGIN", self.trust.name),
        )?;
        self.admin_sql(
            &self.database,
            &format!(
                "GRANT ALL ON SCHEMA public TO {}, {}",
                self.md5.name, self.trust.name
            ),
        )?;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "-t", "10", "stop"]);
        // Nothing useful to do if it fails; the tempdir is removed either way.
        let _ = run("pg_ctl stop", &mut cmd);
    }
}
