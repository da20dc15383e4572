//! The practice database: an in-memory SQLite with a `users` table and a `secrets` table (the
//! prize a UNION injection against the weak API can leak). Queries run on the blocking pool,
//! one at a time, under a watchdog that interrupts anything slower than [`QUERY_DEADLINE`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, InterruptHandle, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest a query may run before it is interrupted (an injected recursive CTE would
/// otherwise hold the database for ever).
pub const QUERY_DEADLINE: Duration = Duration::from_secs(2);
/// Most rows any query returns.
pub const MAX_ROWS: usize = 1000;
/// Largest string, blob or statement SQLite will build, so `randomblob(1e9)` fails fast
/// instead of allocating a gigabyte.
const MAX_SQLITE_LENGTH: i32 = 1_000_000;

const SCHEMA: &str = "
CREATE TABLE users (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL,
    email TEXT NOT NULL,
    age   INTEGER NOT NULL
);
CREATE TABLE secrets (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO users (name, email, age) VALUES
    ('alice', 'alice@example.com', 34),
    ('bob',   'bob@example.com',   27),
    ('carol', 'carol@example.com', 45),
    ('dave',  'dave@example.com',  19);
INSERT INTO secrets (name, value) VALUES
    ('admin_password',  'practice-hunter2'),
    ('payment_api_key', 'sk_test_practice_4f9a1c2e'),
    ('jwt_signing_key', 'practice-jwt-signing-key');
";

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub age: i64,
}

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite refused or failed the statement (its message is what a careless API leaks).
    #[error("{0}")]
    Sql(#[from] rusqlite::Error),
    /// The blocking task running the query died.
    #[error("database task failed: {0}")]
    Task(String),
}

/// The shared connection. Cloning is cheap.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    interrupt: Arc<InterruptHandle>,
    /// Async turn-taking, so waiting requests queue on the runtime instead of each
    /// occupying a blocking thread.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Db {
    /// A fresh in-memory database with the schema and seed rows.
    pub fn open_seeded() -> Result<Db, DbError> {
        let conn = Connection::open_in_memory()?;
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_SQLITE_LENGTH)?;
        conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_SQLITE_LENGTH)?;
        conn.execute_batch(SCHEMA)?;
        let interrupt = Arc::new(conn.get_interrupt_handle());
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            interrupt,
            turn: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Runs `f` on the blocking pool, interrupting it after [`QUERY_DEADLINE`].
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _turn = self.turn.lock().await;
        let conn = Arc::clone(&self.conn);
        let mut job = tokio::task::spawn_blocking(move || {
            // A panic elsewhere cannot leave the connection half-used: SQLite statements are
            // finalised on drop, so a poisoned lock is still safe to take.
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&conn)
        });
        let joined = tokio::select! {
            r = &mut job => r,
            _ = tokio::time::sleep(QUERY_DEADLINE) => {
                self.interrupt.interrupt();
                job.await
            }
        };
        match joined {
            Ok(result) => result.map_err(DbError::Sql),
            Err(e) => Err(DbError::Task(e.to_string())),
        }
    }
}

fn user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        age: row.get(3)?,
    })
}

/// Users whose name equals `name` (parameterised).
pub fn users_named(conn: &Connection, name: &str) -> rusqlite::Result<Vec<User>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, email, age FROM users WHERE name = ?1 ORDER BY id LIMIT 1000",
    )?;
    stmt.query_map(params![name], user)?.collect()
}

/// Every user, first [`MAX_ROWS`].
pub fn all_users(conn: &Connection) -> rusqlite::Result<Vec<User>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name, email, age FROM users ORDER BY id LIMIT 1000")?;
    stmt.query_map([], user)?.collect()
}

/// One user by id (parameterised).
pub fn user_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        "SELECT id, name, email, age FROM users WHERE id = ?1",
        params![id],
        user,
    )
    .optional()
}

/// Inserts a user (parameterised) and returns it with its id.
pub fn insert_user(conn: &Connection, name: &str, email: &str, age: i64) -> rusqlite::Result<User> {
    conn.execute(
        "INSERT INTO users (name, email, age) VALUES (?1, ?2, ?3)",
        params![name, email, age],
    )?;
    Ok(User {
        id: conn.last_insert_rowid(),
        name: name.into(),
        email: email.into(),
        age,
    })
}

/// Names containing `needle`, case-insensitively (parameterised; `instr` has no wildcards
/// to escape, unlike `LIKE`).
pub fn names_containing(conn: &Connection, needle: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM users WHERE instr(lower(name), lower(?1)) > 0 ORDER BY id LIMIT 1000",
    )?;
    stmt.query_map(params![needle], |r| r.get(0))?.collect()
}

/// Row counts of `users` and `secrets`.
pub fn counts(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM secrets)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Runs arbitrary SQL text and returns its rows as JSON objects keyed by column name, as a
/// careless API does with whatever its string-built query returns (UNION rows included).
pub fn raw_rows(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<Map<String, Value>>> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if out.len() >= MAX_ROWS {
            break;
        }
        let mut obj = Map::new();
        for (i, name) in names.iter().enumerate() {
            obj.insert(name.clone(), json_of(row.get_ref(i)?));
        }
        out.push(obj);
    }
    Ok(out)
}

/// Runs arbitrary SQL text as a statement and returns the last inserted row id.
pub fn raw_execute(conn: &Connection, sql: &str) -> rusqlite::Result<i64> {
    conn.execute(sql, [])?;
    Ok(conn.last_insert_rowid())
}

fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(format!("<{} byte blob>", b.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seeded_queries_and_raw_sql() {
        let db = Db::open_seeded().unwrap();
        let alice = db.call(|c| users_named(c, "alice")).await.unwrap();
        assert_eq!(alice.len(), 1);
        assert_eq!(alice[0].email, "alice@example.com");
        let none = db.call(|c| users_named(c, "' OR '1'='1")).await.unwrap();
        assert!(none.is_empty());
        let (users, secrets) = db.call(counts).await.unwrap();
        assert_eq!((users, secrets), (4, 3));

        let leaked = db
            .call(|c| raw_rows(c, "SELECT id, name, email, age FROM users WHERE name = '' UNION SELECT id, name, value, 0 FROM secrets"))
            .await
            .unwrap();
        assert!(leaked.iter().any(|r| r["email"] == "practice-hunter2"));

        let err = db
            .call(|c| raw_rows(c, "SELECT * FROM users WHERE name = '''"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("unrecognized token"), "{err}");
        // Stacked statements are refused, so the weak API cannot be wiped by `; DROP TABLE`.
        let err = db
            .call(|c| raw_rows(c, "SELECT 1; DROP TABLE users"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DbError::Sql(rusqlite::Error::MultipleStatement)),
            "{err}"
        );
        assert_eq!(db.call(counts).await.unwrap().0, 4);
    }

    #[tokio::test]
    async fn runaway_queries_are_interrupted_and_huge_values_refused() {
        let db = Db::open_seeded().unwrap();
        let started = std::time::Instant::now();
        let err = db
            .call(|c| raw_rows(c, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("interrupt"), "{err}");
        assert!(started.elapsed() < QUERY_DEADLINE + Duration::from_secs(2));
        let err = db
            .call(|c| raw_rows(c, "SELECT randomblob(1000000000)"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("too big"), "{err}");
        // Still usable afterwards.
        assert_eq!(db.call(all_users).await.unwrap().len(), 4);
    }
}
