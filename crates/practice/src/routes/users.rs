//! `/users` and `/users/{id}`. The guarded handlers bind every value as an SQL parameter and
//! validate bodies into a typed struct; the weak ones paste input into SQL text and return
//! SQLite's error message in a 500, as a careless API does.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::{self, DbError};
use crate::guard::body_limit::read_body;
use crate::guard::json::read_json;
use crate::reply;
use crate::state::AppState;

/// The weak API reads any body up to this size: no guardrail, only a fuse so the practice
/// target cannot exhaust the machine's memory.
pub const WEAK_BODY_FUSE: usize = 64 * 1024 * 1024;
/// The weak API's patience with a stalled body (bounded only so its tasks end).
const WEAK_BODY_IDLE: Duration = Duration::from_secs(60);

/// `?name=`
#[derive(Debug, Deserialize)]
pub struct ListParams {
    name: Option<String>,
}

/// The body of `POST /users` (guarded): exactly these fields, of exactly these types.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    email: String,
    age: i64,
}

impl NewUser {
    /// Rules a typed struct cannot express.
    fn validate(&self) -> Result<(), String> {
        let printable = |s: &str| !s.chars().any(char::is_control);
        let name_len = self.name.chars().count();
        if !(1..=100).contains(&name_len) || !printable(&self.name) || self.name.trim().is_empty() {
            return Err("name must be 1 to 100 printable characters".into());
        }
        let at = self.email.matches('@').count();
        if !(3..=254).contains(&self.email.len())
            || at != 1
            || self.email.starts_with('@')
            || self.email.ends_with('@')
            || self
                .email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("email must look like name@domain".into());
        }
        if !(0..=150).contains(&self.age) {
            return Err("age must be between 0 and 150".into());
        }
        Ok(())
    }
}

fn internal(e: &DbError) -> Response {
    tracing::warn!(error = %e, "database call failed");
    reply::error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
}

fn bad_query(e: &QueryRejection) -> Response {
    reply::error(
        StatusCode::BAD_REQUEST,
        format!("invalid query string: {}", e.body_text()),
    )
}

/// `GET /users?name=X` (guarded): users whose name equals X, bound as a parameter.
pub async fn guarded_list(
    State(state): State<Arc<AppState>>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return bad_query(&e),
    };
    let result = match params.name {
        Some(name) => state.db.call(move |c| db::users_named(c, &name)).await,
        None => state.db.call(db::all_users).await,
    };
    match result {
        Ok(users) => Json(users).into_response(),
        Err(e) => internal(&e),
    }
}

/// `GET /users/{id}` (guarded): the id must be an integer.
pub async fn guarded_one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return reply::error(StatusCode::BAD_REQUEST, "user id must be an integer");
    };
    match state.db.call(move |c| db::user_by_id(c, id)).await {
        Ok(Some(user)) => Json(user).into_response(),
        Ok(None) => reply::error(StatusCode::NOT_FOUND, "no such user"),
        Err(e) => internal(&e),
    }
}

/// `POST /users` (guarded): a validated [`NewUser`], inserted with bound parameters.
pub async fn guarded_create(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let new: NewUser = match read_json(req, state.max_body, state.body_idle).await {
        Ok(n) => n,
        Err(resp) => return resp,
    };
    if let Err(why) = new.validate() {
        return reply::error(StatusCode::UNPROCESSABLE_ENTITY, why);
    }
    match state
        .db
        .call(move |c| db::insert_user(c, &new.name, &new.email, new.age))
        .await
    {
        Ok(user) => created(user.id, json!(user)),
        Err(e) => internal(&e),
    }
}

fn created(id: i64, body: Value) -> Response {
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/users/{id}")) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

/// The weak API's error page: SQLite's message and the query it choked on.
fn leak(e: &DbError, sql: &str) -> Response {
    let body = json!({ "error": e.to_string(), "query": sql });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// `GET /users?name=X` (weak): `WHERE name = '<X>'`, pasted.
pub async fn weak_list(
    State(state): State<Arc<AppState>>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return bad_query(&e),
    };
    let sql = match params.name {
        Some(name) => format!("SELECT id, name, email, age FROM users WHERE name = '{name}'"),
        None => "SELECT id, name, email, age FROM users".to_string(),
    };
    let query = sql.clone();
    match state.db.call(move |c| db::raw_rows(c, &query)).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => leak(&e, &sql),
    }
}

/// `GET /users/{id}` (weak): `WHERE id = <id>`, pasted.
pub async fn weak_one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let sql = format!("SELECT id, name, email, age FROM users WHERE id = {id}");
    let query = sql.clone();
    match state.db.call(move |c| db::raw_rows(c, &query)).await {
        Ok(rows) => match rows.into_iter().next() {
            Some(row) => Json(row).into_response(),
            None => reply::error(StatusCode::NOT_FOUND, "no such user"),
        },
        Err(e) => leak(&e, &sql),
    }
}

/// A JSON value as the weak API pastes it into SQL: strings raw, anything else as JSON text.
fn pasted(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "null".into(),
    }
}

/// `POST /users` (weak): any content type, any shape; fields pasted into an INSERT.
pub async fn weak_create(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let bytes = match read_body(req.into_body(), WEAK_BODY_FUSE, WEAK_BODY_IDLE).await {
        Ok(b) => b,
        Err(e) => {
            let body = json!({ "error": e.to_string() });
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
        }
    };
    let v: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let body = json!({ "error": format!("internal error: {e}") });
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
        }
    };
    let (name, email, age) = (
        pasted(v.get("name")),
        pasted(v.get("email")),
        pasted(v.get("age")),
    );
    let sql = format!("INSERT INTO users (name, email, age) VALUES ('{name}', '{email}', {age})");
    let query = sql.clone();
    match state.db.call(move |c| db::raw_execute(c, &query)).await {
        Ok(id) => created(
            id,
            json!({ "id": id, "name": name, "email": email, "age": v.get("age") }),
        ),
        Err(e) => leak(&e, &sql),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, email: &str, age: i64) -> NewUser {
        NewUser {
            name: name.into(),
            email: email.into(),
            age,
        }
    }

    #[test]
    fn validation_rules() {
        assert!(user("alice", "a@example.com", 30).validate().is_ok());
        assert!(
            user("o'brien <b>", "o@x.io", 0).validate().is_ok(),
            "odd but harmless names pass"
        );
        assert!(user("", "a@example.com", 30).validate().is_err());
        assert!(user("  ", "a@example.com", 30).validate().is_err());
        assert!(user("nul\0byte", "a@example.com", 30).validate().is_err());
        assert!(
            user(&"x".repeat(101), "a@example.com", 30)
                .validate()
                .is_err()
        );
        assert!(user("alice", "no-at-sign", 30).validate().is_err());
        assert!(user("alice", "a@b@c", 30).validate().is_err());
        assert!(user("alice", "a@example.com", -1).validate().is_err());
        assert!(user("alice", "a@example.com", i64::MAX).validate().is_err());
    }
}
