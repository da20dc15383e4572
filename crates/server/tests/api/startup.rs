//! Starting fails closed: without a usable signing key the server does not serve at all.

use std::os::unix::fs::PermissionsExt;

use shakedown_server::{ServerConfig, ServerError};

#[tokio::test]
async fn an_exposed_signing_key_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = shakedown_ledger::Ledger::open_in_data_dir(dir.path()).unwrap();
    ledger
        .append("test", "test", "test", "seeded", "x", serde_json::json!({}))
        .unwrap();
    let keys = dir.path().join("ledger/keys");
    for e in std::fs::read_dir(&keys).unwrap().flatten() {
        if e.file_name() != "current" && e.path().is_file() {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().into());
    let err = match shakedown_server::start(config).await {
        Ok(_) => panic!("the server started with an exposed key"),
        Err(e) => e,
    };
    assert!(matches!(err, ServerError::Ledger(_)), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[tokio::test]
async fn a_bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().into());
    config.max_in_flight = 0;
    let err = match shakedown_server::start(config).await {
        Ok(_) => panic!("started with max_in_flight 0"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("max_in_flight"), "{err}");
}
