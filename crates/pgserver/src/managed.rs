//! The managed cluster: one PostgreSQL cluster in Shakedown's data directory, created on first
//! use and left running between agent runs so per-scenario templates stay warm (a run then
//! only clones a database). Its superuser is reached only over a unix socket in a private
//! directory; agents log in over TCP on 127.0.0.1 with per-run SCRAM roles.
//!
//! Layout under the root: `data/` (the cluster), `sock/` (the unix socket), `server.log`,
//! `admin.pw` (mode 0600: the password of `shakedown_admin`, the superuser Shakedown itself
//! uses over TCP for sandbox databases and chaos actions), `.lock` (held while a process
//! checks or starts the cluster, so two `shakedown run`s at once never race to initdb or start
//! it twice).

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::PgError;
use crate::binaries::{RunAs, pg_bin_dir, run};

const SUPERUSER: &str = "postgres";
/// The superuser Shakedown logs in as over TCP (SCRAM).
pub const ADMIN_ROLE: &str = "shakedown_admin";
const START_ATTEMPTS: usize = 3;

/// Settings for a sandbox cluster: durability traded for speed (a sandbox database lives
/// for one run), scram passwords, loopback only.
const SETTINGS: &str = "\n# shakedown managed sandbox cluster\n\
    listen_addresses = '127.0.0.1'\n\
    fsync = off\n\
    synchronous_commit = off\n\
    full_page_writes = off\n\
    shared_buffers = 32MB\n\
    max_connections = 100\n\
    password_encryption = 'scram-sha-256'\n\
    log_min_messages = warning\n\
    logging_collector = off\n";

const HBA: &str = "local all all trust\n\
    host all all 127.0.0.1/32 scram-sha-256\n";

/// A running managed cluster.
#[derive(Debug, Clone)]
pub struct ManagedServer {
    root: PathBuf,
    bin: PathBuf,
    run_as: RunAs,
    port: u16,
    admin_password: String,
}

impl ManagedServer {
    /// Opens the cluster under `root`: runs initdb when there is none and starts the server
    /// when it is not running. Safe to call from several processes at once.
    pub fn ensure(root: &Path) -> Result<ManagedServer, PgError> {
        let file_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PgError::File { path, source }
        };
        let run_as = RunAs::detect()?;
        let home = cluster_home(root, run_as)?;
        let root = home.as_path();
        std::fs::create_dir_all(root).map_err(file_err(root))?;
        let lock = lock(root)?;
        let bin = pg_bin_dir()?;
        let mut server = ManagedServer {
            root: root.to_path_buf(),
            bin,
            run_as,
            port: 0,
            admin_password: String::new(),
        };
        if !server.data_dir().join("PG_VERSION").exists() {
            server.initdb()?;
        }
        match server.running_port() {
            Some(port) => server.port = port,
            None => server.start()?,
        }
        server.admin_password = server.ensure_admin()?;
        drop(lock);
        Ok(server)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the superuser's unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server log, for error messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// A superuser connection config (`shakedown_admin` over TCP), to database `postgres`.
    pub fn admin_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user(ADMIN_ROLE)
            .password(self.admin_password.as_str())
            .dbname("postgres")
            .application_name("shakedown-admin");
        c
    }

    /// The superuser's URL for database `db`.
    pub fn admin_url(&self, db: &str) -> String {
        format!(
            "postgres://{ADMIN_ROLE}:{}@127.0.0.1:{}/{db}",
            self.admin_password, self.port
        )
    }

    /// The admin role's password, created on first start and kept in `admin.pw` (0600).
    fn ensure_admin(&self) -> Result<String, PgError> {
        let path = self.root.join("admin.pw");
        if let Ok(pw) = std::fs::read_to_string(&path)
            && !pw.trim().is_empty()
        {
            return Ok(pw.trim().to_string());
        }
        let pw: String = {
            use rand::Rng;
            rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(32)
                .map(char::from)
                .collect()
        };
        let sql = format!(
            "DO $$ BEGIN \
               IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ADMIN_ROLE}') THEN \
                 ALTER ROLE {ADMIN_ROLE} WITH SUPERUSER LOGIN PASSWORD '{pw}'; \
               ELSE \
                 CREATE ROLE {ADMIN_ROLE} WITH SUPERUSER LOGIN PASSWORD '{pw}'; \
               END IF; END $$"
        );
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-c",
                &sql,
            ])
            .env_remove("PGPASSWORD");
        run("creating the admin role", &mut cmd)?;
        write_private(&path, &pw)?;
        Ok(pw)
    }

    /// Stops the server (fast shutdown). The cluster stays on disk for the next start.
    pub fn stop(&self) -> Result<(), PgError> {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        run("pg_ctl stop", &mut cmd).map(|_| ())
    }

    /// Stops the server and deletes the cluster (templates included); the next
    /// [`ManagedServer::ensure`] starts from scratch.
    pub fn destroy(self) -> Result<(), PgError> {
        let stopped = self.stop();
        std::fs::remove_dir_all(&self.root).map_err(|source| PgError::File {
            path: self.root.clone(),
            source,
        })?;
        stopped
    }

    fn tool(&self, name: &str) -> Command {
        self.run_as.command(&self.bin.join(name))
    }

    fn initdb(&self) -> Result<(), PgError> {
        // A half-made cluster from an interrupted initdb would make initdb refuse: start over.
        let data = self.data_dir();
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(|source| PgError::File {
                path: data.clone(),
                source,
            })?;
        }
        let sock = self.socket_dir();
        for dir in [&self.root, &sock] {
            std::fs::create_dir_all(dir).map_err(|source| PgError::File {
                path: dir.to_path_buf(),
                source,
            })?;
            set_private(dir)?;
            self.run_as.own(dir)?;
        }
        let mut cmd = self.tool("initdb");
        cmd.arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"]);
        run("initdb", &mut cmd)?;
        append(&data.join("postgresql.conf"), SETTINGS)?;
        let hba = data.join("pg_hba.conf");
        std::fs::write(&hba, HBA).map_err(|source| PgError::File { path: hba, source })
    }

    /// The port of a server already running on this data directory, if any.
    fn running_port(&self) -> Option<u16> {
        let mut status = self.tool("pg_ctl");
        status.arg("-D").arg(self.data_dir()).arg("status");
        run("pg_ctl status", &mut status).ok()?;
        // postmaster.pid: pid, data dir, start time, port, socket dir, …
        let pid = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        pid.lines().nth(3)?.trim().parse().ok()
    }

    fn start(&mut self) -> Result<(), PgError> {
        let log = self.root.join("server.log");
        if !log.exists() {
            File::create(&log).map_err(|source| PgError::File {
                path: log.clone(),
                source,
            })?;
            self.run_as.own(&log)?;
        }
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            self.port = free_port(&self.root)?;
            let opts = format!("-p {} -k {}", self.port, self.socket_dir().display());
            let mut cmd = self.tool("pg_ctl");
            cmd.arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "30", "-o", &opts, "start"]);
            match run("pg_ctl start", &mut cmd) {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(PgError::Invalid("the server did not start".into())))
    }
}

/// Where the cluster really lives. Run as ourselves, that is `root`. Run as root, the server
/// runs as the `postgres` user, who usually cannot reach a root-owned data directory (such
/// as `/root/.local/share/shakedown`): the cluster then lives under `/var/tmp/shakedown-pg/`
/// in a directory named after `root`, so each data directory still has its own cluster.
fn cluster_home(root: &Path, run_as: RunAs) -> Result<PathBuf, PgError> {
    match run_as {
        RunAs::Me => Ok(root.to_path_buf()),
        RunAs::Postgres { .. } => {
            use sha2::{Digest, Sha256};
            use std::os::unix::fs::PermissionsExt;
            let base = Path::new(SHARED_BASE);
            std::fs::create_dir_all(base).map_err(|source| PgError::File {
                path: base.to_path_buf(),
                source,
            })?;
            // Traversable, not listable: cluster directories are private to postgres.
            std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711)).map_err(
                |source| PgError::File {
                    path: base.to_path_buf(),
                    source,
                },
            )?;
            let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
            let digest = Sha256::digest(abs.as_os_str().as_encoded_bytes());
            let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            Ok(base.join(name))
        }
    }
}

/// Where clusters of root-run Shakedowns live (see [`cluster_home`]).
const SHARED_BASE: &str = "/var/tmp/shakedown-pg";

/// Takes the root's lock file (blocking until another process releases it).
fn lock(root: &Path) -> Result<File, PgError> {
    let path = root.join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| PgError::File {
            path: path.clone(),
            source,
        })?;
    f.lock().map_err(|source| PgError::File { path, source })?;
    Ok(f)
}

/// Writes `text` to a new file readable only by its owner.
fn write_private(path: &Path, text: &str) -> Result<(), PgError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| PgError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)
}

fn set_private(dir: &Path) -> Result<(), PgError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| {
        PgError::File {
            path: dir.to_path_buf(),
            source,
        }
    })
}

/// A port of 127.0.0.1 that was free a moment ago (`dir` names the cluster in errors).
pub fn free_port(dir: &Path) -> Result<u16, PgError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| PgError::File {
            path: dir.to_path_buf(),
            source,
        })
}

/// Appends `text` to a file (server settings).
pub fn append(path: &Path, text: &str) -> Result<(), PgError> {
    use std::io::Write;
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| PgError::File {
            path: path.to_path_buf(),
            source,
        })
}
