//! Opening a store: migrations on reopen, newer schemas refused, unusable locations explained.

use shakedown_store::{DB_FILE_NAME, SCHEMA_VERSION, SqliteStore, Store, StoreError};

use crate::fixtures::{T0, running};

fn user_version(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    {
        let store = SqliteStore::open_dir(&data).unwrap();
        assert_eq!(store.path(), data.join(DB_FILE_NAME));
        store
            .insert_campaign(&running("chaos_00000001", T0))
            .unwrap();
    }
    let db = data.join(DB_FILE_NAME);
    assert_eq!(user_version(&db), SCHEMA_VERSION);
    for _ in 0..3 {
        let store = SqliteStore::open_dir(&data).unwrap();
        assert_eq!(
            store.campaigns(10).unwrap(),
            vec![running("chaos_00000001", T0)]
        );
    }
    assert_eq!(user_version(&db), SCHEMA_VERSION);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE_NAME);
    drop(SqliteStore::open(&db).unwrap());
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 4)
            .unwrap();
    }
    let err = SqliteStore::open_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported, .. }
            if found == SCHEMA_VERSION + 4 && supported == SCHEMA_VERSION),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert!(msg.contains("upgrade shakedown"), "{msg}");
    assert_eq!(user_version(&db), SCHEMA_VERSION + 4);
}

#[test]
fn a_data_dir_under_a_file_gives_the_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let wanted = file.join("shakedown");
    let err = SqliteStore::open_dir(&wanted).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&wanted.display().to_string()), "{msg}");
    assert!(
        msg.contains("pass --data-dir or set SHAKEDOWN_DATA_DIR to a writable directory"),
        "{msg}"
    );
}

#[test]
fn a_db_path_that_is_a_directory_gives_the_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE_NAME);
    std::fs::create_dir(&db).unwrap();
    let err = SqliteStore::open_dir(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot open the store at {}: it is a directory, not a file; pass --data-dir or set \
             SHAKEDOWN_DATA_DIR to a writable directory",
            db.display()
        )
    );
}

#[test]
fn a_read_only_directory_gives_permission_denied_unless_privileged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let result = SqliteStore::open_dir(&ro);
    // Root ignores directory permissions; then the store must simply work.
    let privileged = std::fs::write(ro.join("probe"), b"").is_ok();
    match result {
        Err(err) => {
            assert!(
                !privileged,
                "failed although the directory is writable: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "cannot open the store at {}: permission denied; pass --data-dir or set \
                     SHAKEDOWN_DATA_DIR to a writable directory",
                    ro.join(DB_FILE_NAME).display()
                )
            );
        }
        Ok(store) => {
            assert!(privileged, "opened a store in a read-only directory");
            store
                .insert_campaign(&running("chaos_00000001", T0))
                .unwrap();
        }
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE_NAME);
    std::fs::write(
        &db,
        "this is a text file, not SQLite, and long enough to have a header ....",
    )
    .unwrap();
    let err = SqliteStore::open(&db).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
}

#[test]
fn in_memory_stores_are_separate() {
    let a = SqliteStore::open_in_memory().unwrap();
    let b = SqliteStore::open_in_memory().unwrap();
    a.insert_campaign(&running("chaos_00000001", T0)).unwrap();
    assert_eq!(a.campaigns(5).unwrap().len(), 1);
    assert!(b.campaigns(5).unwrap().is_empty());
}
