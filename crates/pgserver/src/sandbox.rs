//! Sandbox databases: one template database per scenario (seeded once, then frozen) and one
//! clone per run with its own login role, so a run starts with a fresh copy in a fraction of
//! a second and two runs never share a database or a role.
//!
//! Objects of a template are owned by the NOLOGIN role `shakedown_seed` (the template
//! database itself stays owned by the admin, so no run can alter or drop a template); each
//! run's role is a member of `shakedown_seed` and owns its clone, so the agent has an owner's
//! rights in its own database (ALTER TABLE works) but no rights anywhere else: CONNECT to a
//! run database is revoked from PUBLIC, and templates do not accept connections at all.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use tokio_postgres::{Client, Config, NoTls};

use crate::PgError;
use crate::managed::ManagedServer;

/// The NOLOGIN role owning every template object.
pub const SEED_ROLE: &str = "shakedown_seed";
const TEMPLATE_PREFIX: &str = "shakedown_tpl_";
const RUN_PREFIX: &str = "shakedown_run_";
/// PostgreSQL truncates identifiers longer than this.
const MAX_IDENT: usize = 63;

/// A server that hosts sandbox databases: the managed cluster or any server reached by an
/// admin URL (`--pg-url`) whose user may create databases and roles.
#[derive(Debug, Clone)]
pub struct SandboxServer {
    admin: Config,
    admin_url: String,
    /// Where agents connect (through the proxy's upstream): host and port on loopback.
    host: String,
    port: u16,
}

/// One run's database and login role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDatabase {
    pub name: String,
    pub role: String,
    pub password: String,
    pub host: String,
    pub port: u16,
}

impl RunDatabase {
    /// `postgres://role:password@host:port/name`.
    pub fn url(&self) -> String {
        self.url_via(&self.host, self.port)
    }

    /// The same URL pointed at another address (the proxy in front of the server).
    pub fn url_via(&self, host: &str, port: u16) -> String {
        format!(
            "postgres://{}:{}@{host}:{port}/{}",
            self.role, self.password, self.name
        )
    }
}

fn sql_err(step: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    let step = step.into();
    move |source| {
        let detail = match source.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => source.to_string(),
        };
        PgError::Sql {
            step,
            detail,
            source,
        }
    }
}

/// A lower-case identifier made of `[a-z0-9_]` from `s`.
fn ident_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `url` with the password of its user part replaced by `***` (`postgres://u:***@host/db`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The user part ends at the first `@` (as libpq and tokio-postgres read it).
    match rest.split_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl SandboxServer {
    /// Sandbox databases on the managed cluster.
    pub fn managed(server: &ManagedServer) -> SandboxServer {
        SandboxServer {
            admin: server.admin_config(),
            admin_url: server.admin_url("postgres"),
            host: "127.0.0.1".into(),
            port: server.port(),
        }
    }

    /// Sandbox databases on the server of `url` (`postgres://admin:pw@127.0.0.1:5432/postgres`).
    pub fn from_url(url: &str) -> Result<SandboxServer, PgError> {
        // Messages name the URL without its password: they end up in logs and API answers.
        let shown = redact_url(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(PgError::Invalid(format!(
                "--pg-url `{shown}` is not a PostgreSQL URL; use postgres://USER:PASSWORD@HOST:PORT/DB"
            )));
        }
        let admin: Config = url.parse().map_err(|e| {
            PgError::Invalid(format!(
                "--pg-url `{shown}` is not a PostgreSQL URL ({e}); use postgres://USER:PASSWORD@HOST:PORT/DB"
            ))
        })?;
        let host = match admin.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => {
                return Err(PgError::Invalid(format!(
                    "--pg-url `{shown}` must name a TCP host (agents connect over TCP)"
                )));
            }
        };
        let port = admin.get_ports().first().copied().unwrap_or(5432);
        Ok(SandboxServer {
            admin,
            admin_url: url.to_string(),
            host,
            port,
        })
    }

    /// The admin URL pointed at database `db` (for the chaos runtime's database-side actions
    /// and the catalog).
    pub fn admin_url(&self, db: &str) -> String {
        match self.admin_url.rfind('/') {
            Some(i)
                if self.admin_url[..i].contains("://") && !self.admin_url[..i].ends_with('/') =>
            {
                let rest = &self.admin_url[i + 1..];
                let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                format!("{}/{db}{query}", &self.admin_url[..i])
            }
            _ => format!("{}/{db}", self.admin_url.trim_end_matches('/')),
        }
    }

    async fn connect(&self, db: &str) -> Result<Client, PgError> {
        let mut c = self.admin.clone();
        c.dbname(db);
        let (client, conn) = c.connect(NoTls).await.map_err(sql_err(format!(
            "connecting to the sandbox server (database {db})"
        )))?;
        tokio::spawn(conn);
        Ok(client)
    }

    /// The template for a scenario, seeded with `seed` (run in order as `shakedown_seed`) and
    /// created only when no template for this exact seed exists: the name carries a digest
    /// of the seed, so editing a scenario's seed builds a new template.
    pub async fn ensure_template(
        &self,
        scenario: &str,
        seed: &[String],
    ) -> Result<String, PgError> {
        let mut h = Sha256::new();
        for s in seed {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        let digest: String = h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut base = ident_part(scenario);
        base.truncate(MAX_IDENT - TEMPLATE_PREFIX.len() - digest.len() - 1);
        let name = format!("{TEMPLATE_PREFIX}{base}_{digest}");

        let admin = self.connect("postgres").await?;
        // Serialise builders of the same template across processes.
        admin
            .execute("SELECT pg_advisory_lock(hashtext($1))", &[&name])
            .await
            .map_err(sql_err("locking the template"))?;
        let result = self.build_template(&admin, &name, seed).await;
        let _ = admin
            .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&name])
            .await;
        result.map(|()| name)
    }

    async fn build_template(
        &self,
        admin: &Client,
        name: &str,
        seed: &[String],
    ) -> Result<(), PgError> {
        let ready = admin
            .query_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate",
                &[&name],
            )
            .await
            .map_err(sql_err("looking for the template"))?;
        if ready.is_some() {
            return Ok(());
        }
        let role = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&SEED_ROLE])
            .await
            .map_err(sql_err("looking for the seed role"))?;
        if role.is_none() {
            admin
                .batch_execute(&format!("CREATE ROLE {SEED_ROLE} NOLOGIN"))
                .await
                .map_err(sql_err("creating the seed role"))?;
        }
        // A database of this name that is not a template is a build that died half-way.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name} TEMPLATE template0"),
            format!("GRANT CREATE ON DATABASE {name} TO {SEED_ROLE}"),
        ] {
            admin
                .batch_execute(&sql)
                .await
                .map_err(sql_err("creating the template database"))?;
        }
        let seeded = async {
            let db = self.connect(name).await?;
            db.batch_execute(&format!(
                "GRANT ALL ON SCHEMA public TO {SEED_ROLE}; SET ROLE {SEED_ROLE}"
            ))
            .await
            .map_err(sql_err("switching to the seed role"))?;
            for (i, sql) in seed.iter().enumerate() {
                db.batch_execute(sql).await.map_err(sql_err(format!(
                    "seed script {} of {}",
                    i + 1,
                    seed.len()
                )))?;
            }
            Ok::<(), PgError>(())
        }
        .await;
        if let Err(e) = seeded {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            return Err(e);
        }
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
            ))
            .await
            .map_err(sql_err("freezing the template"))
    }

    /// A fresh database for `run_id`, cloned from `template`, owned by a new login role with
    /// a random password. Only that role (and the admin) may connect to it.
    pub async fn create_run_db(
        &self,
        template: &str,
        run_id: &str,
    ) -> Result<RunDatabase, PgError> {
        let mut id = ident_part(run_id);
        id.truncate(MAX_IDENT - RUN_PREFIX.len());
        if id.is_empty() {
            return Err(PgError::Invalid("a run id must not be empty".into()));
        }
        let name = format!("{RUN_PREFIX}{id}");
        let password: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let admin = self.connect("postgres").await?;
        admin
            .batch_execute(&format!(
                "CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {SEED_ROLE}"
            ))
            .await
            .map_err(sql_err(format!("creating the run role {name}")))?;
        let created = admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE {template} OWNER {name} STRATEGY FILE_COPY"
            ))
            .await
            .map_err(sql_err(format!("cloning {template} into {name}")));
        if let Err(e) = created {
            let _ = admin
                .batch_execute(&format!("DROP ROLE IF EXISTS {name}"))
                .await;
            return Err(e);
        }
        admin
            .batch_execute(&format!("REVOKE CONNECT ON DATABASE {name} FROM PUBLIC"))
            .await
            .map_err(sql_err("restricting connections to the run database"))?;
        Ok(RunDatabase {
            name: name.clone(),
            role: name,
            password,
            host: self.host.clone(),
            port: self.port,
        })
    }

    /// An admin connection to a run's database (state checks run here, bypassing the proxy).
    pub async fn admin_client(&self, db: &RunDatabase) -> Result<Client, PgError> {
        self.connect(&db.name).await
    }

    /// Drops a run's database (ending its sessions) and its role.
    pub async fn drop_run_db(&self, db: &RunDatabase) -> Result<(), PgError> {
        let admin = self.connect("postgres").await?;
        for sql in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name),
            format!("DROP ROLE IF EXISTS {}", db.role),
        ] {
            admin
                .batch_execute(&sql)
                .await
                .map_err(sql_err(format!("dropping {}", db.name)))?;
        }
        Ok(())
    }
}
