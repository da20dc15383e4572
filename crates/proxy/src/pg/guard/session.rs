//! One session's guard: classify → events → policy → verdict, and results back into events.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use serde_json::json;
use shakedown_sql::chaos::SqlEvent;
use shakedown_sql::classify::{Classification, ClassifyOptions, classify};
use shakedown_sql::event::SqlEventType;
use shakedown_sql::policy::{Decision, HoneypotHit, PolicyAction, SessionState, evaluate};

use super::GuardConfig;
use super::events::{event, sql_text, statement_fields};
use crate::pg::chaos::ChaosRuntime;
use crate::pg::interceptor::{BackendEvent, Interceptor, Verdict};
use crate::pg::messages::TransactionStatus;
use crate::pg::session_info::SessionInfo;
use crate::pg::sqlstate;

/// Classified statements kept per session at most; the cache is cleared when full.
const CLASSIFY_CACHE_ENTRIES: usize = 1024;
/// Texts remembered (as hashes) to decide what is worth caching; cleared when full.
const CLASSIFY_SEEN_ENTRIES: usize = 4096;
/// Longer SQL texts are classified every time, so the cache stays small (at most
/// entries × this many bytes of keys) however large the statements a client sends.
const CLASSIFY_CACHE_MAX_SQL: usize = 8 * 1024;

/// Classifications by exact SQL text. A text is cached the second time it is seen: clients
/// that inline literals send a new text every time, and keeping those would only churn
/// memory, while repeated texts (prepared statements, fixed queries) hit from then on.
#[derive(Default)]
struct ClassifyCache {
    entries: HashMap<Box<str>, Arc<Vec<Classification>>>,
    seen: HashSet<u64>,
    hasher: RandomState,
}

/// The guard of one client session.
pub struct GuardSession {
    config: Arc<GuardConfig>,
    options: ClassifyOptions,
    /// Classifications by exact SQL text: clients repeat the same statements, and parsing
    /// is the costliest part of judging one. Policy still runs every time, since it
    /// depends on the session's state.
    classified: Mutex<ClassifyCache>,
}

impl GuardSession {
    pub(super) fn new(config: Arc<GuardConfig>, _session: &SessionInfo) -> GuardSession {
        let options = config
            .policy
            .as_ref()
            .map(|p| p.classify_options())
            .unwrap_or_default();
        GuardSession {
            config,
            options,
            classified: Mutex::default(),
        }
    }

    /// The statements of `sql`, parsed once per repeated text (bounded).
    fn classify(&self, sql: &str) -> Arc<Vec<Classification>> {
        if sql.len() > CLASSIFY_CACHE_MAX_SQL {
            return Arc::new(classify(sql, &self.options));
        }
        let hash = {
            let cache = self.cache();
            if let Some(hit) = cache.entries.get(sql) {
                return Arc::clone(hit);
            }
            cache.hasher.hash_one(sql)
        };
        let statements = Arc::new(classify(sql, &self.options));
        let mut cache = self.cache();
        if cache.seen.remove(&hash) {
            if cache.entries.len() >= CLASSIFY_CACHE_ENTRIES {
                cache.entries.clear();
            }
            cache
                .entries
                .insert(Box::from(sql), Arc::clone(&statements));
        } else {
            if cache.seen.len() >= CLASSIFY_SEEN_ENTRIES {
                cache.seen.clear();
            }
            cache.seen.insert(hash);
        }
        statements
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, ClassifyCache> {
        // A panic elsewhere cannot leave the cache inconsistent: every update is one call.
        self.classified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Feeds one SQL event to the chaos runtime, if any.
    fn chaos_event(&self, kind: SqlEventType, c: &Classification, session: &SessionInfo) {
        if let Some(chaos) = &self.config.chaos {
            chaos.on_event(&SqlEvent::from_classification(kind, c), session);
        }
    }

    /// The policy verdict, then the chaos script's effect on the statements that may run.
    async fn judge_with_chaos(&self, sql: &str, session: &SessionInfo) -> Verdict {
        let (verdict, statements) = self.judge(sql, session);
        let Some(chaos) = &self.config.chaos else {
            return verdict;
        };
        if verdict != Verdict::Forward && !matches!(verdict, Verdict::RowCheck { .. }) {
            return verdict;
        }
        let events: Vec<SqlEvent> = statements
            .iter()
            .map(|c| SqlEvent::from_classification(SqlEventType::SqlReceived, c))
            .collect();
        let effect = chaos.before_statement(&events);
        if !effect.delay.is_zero() {
            tokio::time::sleep(effect.delay).await;
        }
        match effect.verdict {
            Verdict::Forward => verdict,
            chaos_verdict => chaos_verdict,
        }
    }

    fn emit(&self, kind: SqlEventType, session: &SessionInfo, extra: serde_json::Value) {
        if let Some(tx) = &self.config.events {
            let _ = tx.send(event(kind, session, extra));
        }
    }

    /// Judges one message's SQL (one or more statements) and reports it; returns the verdict
    /// and the classified statements.
    fn judge(&self, sql: &str, session: &SessionInfo) -> (Verdict, Arc<Vec<Classification>>) {
        let statements = self.classify(sql);
        let verdict = self.police(&statements, session);
        (verdict, statements)
    }

    fn police(&self, statements: &[Classification], session: &SessionInfo) -> Verdict {
        let observing = self.config.events.is_some();
        for c in statements {
            if observing {
                self.emit(SqlEventType::SqlReceived, session, statement_fields(c));
            }
            self.chaos_event(SqlEventType::SqlReceived, c, session);
        }
        let Some(policy) = &self.config.policy else {
            for c in statements {
                if observing {
                    self.emit(SqlEventType::SqlAllowed, session, statement_fields(c));
                }
                self.chaos_event(SqlEventType::SqlAllowed, c, session);
            }
            return Verdict::Forward;
        };
        let mut state = SessionState {
            in_transaction: session.transaction_status() != TransactionStatus::Idle,
            catalog: self.config.catalog.clone(),
        };
        let mut decisions: Vec<(&Classification, Decision)> = Vec::with_capacity(statements.len());
        for c in statements {
            let d = evaluate(policy, c, &state);
            state.advance(c);
            decisions.push((c, d));
        }

        for (c, d) in &decisions {
            for hit in &d.honeypots {
                let what = match hit {
                    HoneypotHit::Table(t) => json!({"honeypot_table": t.to_string()}),
                    HoneypotHit::Column(col) => json!({"honeypot_column": col}),
                };
                let mut fields = statement_fields(c);
                merge(&mut fields, what);
                self.emit(SqlEventType::HoneypotAccessed, session, fields);
            }
            if !d.honeypots.is_empty() {
                self.chaos_event(SqlEventType::HoneypotAccessed, c, session);
            }
        }

        let blocked: Vec<&(&Classification, Decision)> =
            decisions.iter().filter(|(_, d)| d.is_blocked()).collect();
        if let Some((_, first)) = blocked.first() {
            let mut message = first.error_message();
            if statements.len() > 1 {
                message.push_str(" (the whole query string was refused; nothing in it ran)");
            }
            for (c, d) in &decisions {
                let mut fields = statement_fields(c);
                merge(
                    &mut fields,
                    json!({"violations": d.violations, "blocked": d.is_blocked()}),
                );
                self.emit(SqlEventType::SqlBlocked, session, fields);
                self.chaos_event(SqlEventType::SqlBlocked, c, session);
            }
            return Verdict::block(message);
        }

        // Only limits that block are enforced by running the statement under a check; a
        // warning-level limit cannot be measured without one and is left to the events.
        let blocking_checks = |d: &Decision| d.row_checks.iter().any(|r| r.severity.blocks());
        let with_row_checks = decisions.iter().filter(|(_, d)| blocking_checks(d)).count();
        if with_row_checks > 0 && statements.len() > 1 {
            let message = "statement blocked by policy: a statement with a row limit must be sent \
                           on its own, so its effect can be checked and undone (row_limits)";
            for (c, _) in &decisions {
                self.emit(SqlEventType::SqlBlocked, session, {
                    let mut f = statement_fields(c);
                    merge(
                        &mut f,
                        json!({"violations": [{"rule": "row_limits", "message": message}]}),
                    );
                    f
                });
            }
            return Verdict::block(message);
        }

        for (c, d) in &decisions {
            let kind = if d.action == PolicyAction::Flag {
                SqlEventType::SqlFlagged
            } else {
                SqlEventType::SqlAllowed
            };
            if observing {
                let mut fields = statement_fields(c);
                merge(&mut fields, json!({"violations": d.violations}));
                self.emit(kind, session, fields);
            }
            self.chaos_event(kind, c, session);
        }

        let Some((_, d)) = decisions.into_iter().next() else {
            return Verdict::Forward;
        };
        let checks: Vec<_> = d
            .row_checks
            .iter()
            .filter(|r| r.severity.blocks())
            .collect();
        let Some(max) = checks.iter().map(|r| r.max_rows).min() else {
            return Verdict::Forward;
        };
        let rules: Vec<String> = checks.iter().map(|r| r.rule.clone()).collect();
        let message = format!(
            "statement blocked by policy: it would affect {{rows}} rows, more than the {{max_rows}} allowed ({}); it was rolled back and nothing changed",
            rules.join(", ")
        );
        Verdict::row_check(max, message)
    }
}

impl GuardSession {
    /// Results feed `sql_result`/`sql_error` triggers; every response pays the script's
    /// throttle and stalls.
    async fn chaos_backend(
        &self,
        chaos: &ChaosRuntime,
        event: &BackendEvent<'_>,
        session: &SessionInfo,
    ) {
        match event {
            BackendEvent::Completed {
                statement: Some(sql),
                command,
                ..
            } => {
                for c in self.classify(sql).iter() {
                    let ev = SqlEvent::from_classification(SqlEventType::SqlResult, c);
                    let ev = match command.rows() {
                        Some(rows) => ev.with_rows(rows),
                        None => ev,
                    };
                    chaos.on_event(&ev, session);
                }
            }
            BackendEvent::Failed {
                statement: Some(sql),
                rejected: false,
                ..
            } => {
                for c in self.classify(sql).iter() {
                    chaos.on_event(
                        &SqlEvent::from_classification(SqlEventType::SqlError, c),
                        session,
                    );
                }
            }
            BackendEvent::Ready {
                elapsed: Some(elapsed),
                ..
            } => {
                let delay = chaos.response_delay(*elapsed);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            _ => {}
        }
    }
}

fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (into, extra) {
        a.extend(b);
    }
}

impl Interceptor for GuardSession {
    async fn on_query(&self, sql: &str, session: &SessionInfo) -> Verdict {
        self.judge_with_chaos(sql, session).await
    }

    async fn on_parse(&self, _name: &str, sql: &str, session: &SessionInfo) -> Verdict {
        self.judge_with_chaos(sql, session).await
    }

    async fn on_function_call(&self, oid: u32, session: &SessionInfo) -> Verdict {
        let sql = format!("function call {oid}");
        match &self.config.policy {
            // A FunctionCall runs a function by OID with no SQL text to inspect: under a
            // policy it is refused (fail closed), as an unparsable statement would be.
            Some(_) => {
                let message = "statement blocked by policy: FunctionCall messages cannot be \
                               inspected (use SELECT fn(...) instead)";
                self.emit(
                    SqlEventType::SqlBlocked,
                    session,
                    json!({"sql": sql, "statement_type": "FUNCTION_CALL", "violations": [{"rule": "function_call", "message": message}]}),
                );
                Verdict::reject(sqlstate::INSUFFICIENT_PRIVILEGE, message)
            }
            None => Verdict::Forward,
        }
    }

    async fn on_backend(&self, event: &BackendEvent<'_>, session: &SessionInfo) {
        if let Some(chaos) = &self.config.chaos {
            self.chaos_backend(chaos, event, session).await;
        }
        if self.config.events.is_none() {
            return;
        }
        match event {
            BackendEvent::Completed {
                statement,
                command,
                elapsed,
            } => self.emit(
                SqlEventType::SqlResult,
                session,
                json!({
                    "sql": sql_text(*statement),
                    "tag": command.tag_text(),
                    "rows": command.rows(),
                    "latency_ms": elapsed.map(|d| d.as_secs_f64() * 1000.0),
                }),
            ),
            BackendEvent::Failed {
                statement,
                error,
                rejected: false,
                elapsed,
            } => self.emit(
                SqlEventType::SqlError,
                session,
                json!({
                    "sql": sql_text(*statement),
                    "sqlstate": error.sqlstate(),
                    "message": error.message(),
                    "latency_ms": elapsed.map(|d| d.as_secs_f64() * 1000.0),
                }),
            ),
            BackendEvent::RowChecked {
                statement,
                rows,
                max_rows,
                outcome,
                elapsed,
            } => {
                let kind = if outcome.undone() {
                    SqlEventType::SqlBlocked
                } else {
                    SqlEventType::SqlResult
                };
                self.emit(
                    kind,
                    session,
                    json!({
                        "sql": sql_text(*statement),
                        "rows": rows,
                        "max_rows": max_rows,
                        "row_check": outcome,
                        "rolled_back": outcome.undone(),
                        "latency_ms": elapsed.map(|d| d.as_secs_f64() * 1000.0),
                    }),
                );
            }
            _ => {}
        }
    }
}
