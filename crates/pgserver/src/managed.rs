//! The managed cluster: one PostgreSQL cluster in Shakedown's data directory, created on first
//! use and left running between agent runs so per-scenario templates stay warm (a run then
//! only clones a database). Nobody logs in over its unix socket (`local all all reject`: an
//! agent runs as the same OS user as Shakedown, or as root, so `peer` could not tell them
//! apart); everyone — Shakedown as the superuser `shakedown_admin`, agents through the SQL
//! proxy with per-run roles — logs in over TCP on 127.0.0.1 with SCRAM.
//!
//! Layout under the root: `data/` (the cluster), `sock/` (the unix socket, which refuses every
//! login), `server.log`, `admin.pw` (mode 0600: the password of `shakedown_admin`, set by
//! `initdb --pwfile`), `.lock` (held while a process checks or starts the cluster, so two
//! `shakedown run`s at once never race to initdb or start it twice).
//!
//! A cluster made by an older Shakedown (`local all all trust`) is upgraded on start: its
//! admin password is made over the socket while trust still lets us in, if it has none yet,
//! then `pg_hba.conf` is rewritten and the server reloaded, and the start waits until the
//! socket refuses logins.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::PgError;
use crate::binaries::{RunAs, pg_bin_dir, run};

/// The bootstrap superuser of clusters made before the socket was closed (reached over the
/// socket with trust only while such a cluster is upgraded).
const LEGACY_SUPERUSER: &str = "postgres";
/// The superuser Shakedown logs in as over TCP (SCRAM); initdb's bootstrap superuser.
pub const ADMIN_ROLE: &str = "shakedown_admin";
const START_ATTEMPTS: usize = 3;
/// How long a start waits for a reloaded `pg_hba.conf` to close the socket.
const RELOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

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

/// Who may log in, and how: no `trust` anywhere and no unix-socket logins at all (Shakedown
/// does not need them; an agent could be the very OS user the server runs as).
pub const HBA: &str = "# shakedown managed sandbox cluster: SCRAM over TCP on loopback only\n\
    local all all reject\n\
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
        let running = server.running_port();
        let mut open = !server.hba_is_current();
        if open && running.is_none() && server.read_admin_password().is_some() {
            // An old cluster that is down and already has its password: close it before it
            // ever starts again.
            server.write_hba()?;
            open = false;
        }
        match running {
            Some(port) => server.port = port,
            None => server.start()?,
        }
        if open {
            server.upgrade_hba()?;
        }
        server.admin_password = server.read_admin_password().ok_or_else(|| {
            PgError::Invalid(format!(
                "the managed cluster in {} has no admin password file (admin.pw); \
                 `shakedown pg-sandbox destroy` removes the cluster so the next run makes a new one",
                server.root.display()
            ))
        })?;
        drop(lock);
        Ok(server)
    }

    /// Where the cluster lives: its data directory, socket, log and admin password (not the
    /// `root` given to [`ManagedServer::ensure`] when we run as root). Agents may not read it.
    pub fn home(&self) -> &Path {
        &self.root
    }

    fn hba_path(&self) -> PathBuf {
        self.data_dir().join("pg_hba.conf")
    }

    fn hba_is_current(&self) -> bool {
        std::fs::read_to_string(self.hba_path()).is_ok_and(|t| t == HBA)
    }

    fn write_hba(&self) -> Result<(), PgError> {
        let hba = self.hba_path();
        std::fs::write(&hba, HBA).map_err(|source| PgError::File { path: hba, source })
    }

    fn read_admin_password(&self) -> Option<String> {
        let pw = std::fs::read_to_string(self.root.join("admin.pw")).ok()?;
        Some(pw.trim().to_string()).filter(|p| !p.is_empty())
    }

    /// Closes a running cluster made with the old `local all all trust`: makes the admin
    /// role over the socket if it has none yet (the last use of that trust), rewrites
    /// `pg_hba.conf`, reloads, and waits until the socket refuses logins.
    fn upgrade_hba(&self) -> Result<(), PgError> {
        if self.read_admin_password().is_none() {
            self.legacy_make_admin()?;
        }
        self.write_hba()?;
        let mut reload = self.tool("pg_ctl");
        reload.arg("-D").arg(self.data_dir()).arg("reload");
        run("pg_ctl reload", &mut reload)?;
        let deadline = std::time::Instant::now() + RELOAD_WAIT;
        loop {
            match self.socket_login(LEGACY_SUPERUSER) {
                Err(PgError::Command { output, .. }) if output.contains("pg_hba.conf rejects") => {
                    return Ok(());
                }
                _ if std::time::Instant::now() >= deadline => {
                    return Err(PgError::Invalid(format!(
                        "the managed cluster in {} still accepts logins on its unix socket {} s \
                         after pg_hba.conf was rewritten and reloaded; stop it with \
                         `shakedown pg-sandbox stop` so it starts with the new rules",
                        self.root.display(),
                        RELOAD_WAIT.as_secs()
                    )));
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }

    /// Tries one login over the unix socket as `user` (as the OS user we are), running
    /// `SELECT 1`; psql's output on failure.
    pub fn socket_login(&self, user: &str) -> Result<String, PgError> {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-w", "-h"])
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", user, "-d", "postgres"])
            .args(["-c", "SELECT 1"])
            .env_remove("PGPASSWORD");
        run("a unix-socket login", &mut cmd)
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

    /// Makes `shakedown_admin` in a cluster of an older Shakedown that has none, over the unix
    /// socket with the trust that cluster still has; the SQL (with the password) goes on
    /// stdin, never on a command line.
    fn legacy_make_admin(&self) -> Result<(), PgError> {
        let pw = new_password();
        let sql = format!(
            "DO $$ BEGIN \
               IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ADMIN_ROLE}') THEN \
                 ALTER ROLE {ADMIN_ROLE} WITH SUPERUSER LOGIN PASSWORD '{pw}'; \
               ELSE \
                 CREATE ROLE {ADMIN_ROLE} WITH SUPERUSER LOGIN PASSWORD '{pw}'; \
               END IF; END $$;\n"
        );
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                LEGACY_SUPERUSER,
                "-d",
                "postgres",
            ])
            .env_remove("PGPASSWORD");
        run_with_stdin("creating the admin role", &mut cmd, &sql)?;
        write_private(&self.root.join("admin.pw"), &pw)
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
        // The admin's password is set by initdb itself, so the cluster never has a moment
        // without a password. initdb (possibly as `postgres`) reads it from a file of its own
        // that is removed at once.
        let pw = new_password();
        let pwfile = self.root.join(".initdb.pw");
        write_private(&pwfile, &pw)?;
        self.run_as.own(&pwfile)?;
        let mut cmd = self.tool("initdb");
        cmd.arg("-D")
            .arg(&data)
            .args(["-U", ADMIN_ROLE, "--pwfile"])
            .arg(&pwfile)
            .args(["--auth-local=reject", "--auth-host=scram-sha-256"])
            .args(["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]);
        let made = run("initdb", &mut cmd);
        let _ = std::fs::remove_file(&pwfile);
        made?;
        append(&data.join("postgresql.conf"), SETTINGS)?;
        self.write_hba()?;
        write_private(&self.root.join("admin.pw"), &pw)
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

/// A fresh 32-character alphanumeric password.
fn new_password() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// [`run`] with `input` on the command's stdin.
fn run_with_stdin(step: &str, cmd: &mut Command, input: &str) -> Result<String, PgError> {
    use std::io::Write;
    use std::process::Stdio;
    let program = format!("{:?}", cmd.get_program());
    let spawn_err = |source| PgError::Spawn {
        program: program.clone(),
        source,
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    crate::binaries::finished(step, &out)
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
