//! Who may log in to the managed cluster, against the machine's real PostgreSQL: nobody over
//! the unix socket (an agent could be the server's own OS user, or root), Shakedown's admin
//! over TCP with SCRAM; and a cluster made with the old `local all all trust` is closed when
//! it is next opened, whether it is running (rewrite and reload) or stopped (rewrite first).

use std::path::Path;

use shakedown_pgserver::managed::HBA;
use shakedown_pgserver::{ManagedServer, PgError, RunAs};
use tokio_postgres::NoTls;

/// The rules every cluster had before the socket was closed.
const OLD_HBA: &str = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";

/// Stops and deletes the managed cluster when the test ends, pass or fail.
struct Destroy(ManagedServer);

impl Drop for Destroy {
    fn drop(&mut self) {
        let _ = self.0.clone().destroy();
    }
}

fn refused_by_hba(r: Result<String, PgError>) -> bool {
    matches!(r, Err(PgError::Command { ref output, .. }) if output.contains("pg_hba.conf rejects"))
}

async fn admin_select(server: &ManagedServer) -> Result<i32, tokio_postgres::Error> {
    let (client, conn) = server.admin_config().connect(NoTls).await?;
    tokio::spawn(conn);
    Ok(client.query_one("SELECT 41 + 1", &[]).await?.get(0))
}

/// Makes `server`'s cluster look like one of an older Shakedown: a `postgres` superuser and
/// the old trust rules, loaded.
async fn make_old(server: &ManagedServer) {
    let (client, conn) = server.admin_config().connect(NoTls).await.unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postgres') \
             THEN CREATE ROLE postgres SUPERUSER LOGIN; END IF; END $$",
        )
        .await
        .unwrap();
    std::fs::write(server.data_dir().join("pg_hba.conf"), OLD_HBA).unwrap();
    pg_ctl(server.data_dir().as_path(), "reload");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.socket_login("postgres").is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old trust rules never took effect"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn pg_ctl(data: &Path, action: &str) {
    let bin = shakedown_pgserver::pg_bin_dir().unwrap();
    let mut cmd = RunAs::detect().unwrap().command(&bin.join("pg_ctl"));
    cmd.arg("-D").arg(data).args(["-w", "-m", "fast", action]);
    shakedown_pgserver::run(action, &mut cmd).unwrap();
}

#[tokio::test]
async fn the_socket_refuses_everyone_and_an_old_trusting_cluster_is_closed_on_start() {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("pg");
    let server = ManagedServer::ensure(&root).unwrap();
    let _destroy = Destroy(server.clone());

    // A new cluster: the socket refuses every login (we are not the server's OS user when we
    // run as root, and are it otherwise: refused either way), the admin gets in over TCP.
    assert_eq!(
        std::fs::read_to_string(server.data_dir().join("pg_hba.conf")).unwrap(),
        HBA
    );
    for user in ["shakedown_admin", "postgres", "nobody_at_all"] {
        assert!(
            refused_by_hba(server.socket_login(user)),
            "{user} logged in over the socket"
        );
    }
    assert_eq!(admin_select(&server).await.unwrap(), 42);

    // An old cluster, running, without an admin password file yet: the admin role is made
    // over the still-trusting socket, then the socket is closed and the server reloaded.
    make_old(&server).await;
    std::fs::remove_file(server.home().join("admin.pw")).unwrap();
    let upgraded = ManagedServer::ensure(&root).unwrap();
    assert_eq!(
        upgraded.port(),
        server.port(),
        "the running server was kept"
    );
    assert_eq!(
        std::fs::read_to_string(upgraded.data_dir().join("pg_hba.conf")).unwrap(),
        HBA
    );
    assert!(refused_by_hba(upgraded.socket_login("postgres")));
    assert_eq!(admin_select(&upgraded).await.unwrap(), 42);
    // The old password no longer works: the role got the new one.
    assert!(admin_select(&server).await.is_err());

    // An old cluster that is stopped (it has its password): closed before it starts again.
    make_old(&upgraded).await;
    upgraded.stop().unwrap();
    let restarted = ManagedServer::ensure(&root).unwrap();
    assert_eq!(
        std::fs::read_to_string(restarted.data_dir().join("pg_hba.conf")).unwrap(),
        HBA
    );
    assert!(refused_by_hba(restarted.socket_login("postgres")));
    assert_eq!(admin_select(&restarted).await.unwrap(), 42);
}
